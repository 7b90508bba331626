"""Corpus: threads.  First three threads run one after another, then four
run at once; each does the same deterministic work on its own data, so
every thread's event stream is known whatever the interleaving.  One thread
ends with an uncaught exception, which threading reports on stderr.
"""
import threading


def collatz(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def work(seed, results, index):
    total = 0
    for value in range(seed, seed + 3):
        total += collatz(value)
    results[index] = total


class Worker(threading.Thread):
    def __init__(self, seed, results, index):
        super().__init__()
        self.seed = seed
        self.results = results
        self.index = index

    def run(self):
        try:
            work(self.seed, self.results, self.index)
            raise ArithmeticError("worker %d done" % self.index)
        except ArithmeticError:
            pass


def doomed():
    collatz(7)
    raise RuntimeError("thread failed")


def main():
    results = [0] * 7
    for index in range(3):
        thread = Worker(27, results, index)
        thread.start()
        thread.join()
    threads = [threading.Thread(target=work, args=(27, results, 3 + i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failing = threading.Thread(target=doomed, name="doomed")
    failing.start()
    failing.join()
    print(results)
    return 0


main()
