"""Target of the CALL_STATS fork test: counts pending in two threads when
the process forks.  Before the fork, the main thread calls before() 500
times and a worker thread calls in_worker() 300 times, then waits; the
child calls in_child() 700 times, the parent in_parent() 400 times, and
the worker finishes in the parent only.  Prints the child's pid; the
child exits through the interpreter's normal exit, like the parent."""
import os
import sys
import threading


def before():
    pass


def in_worker():
    pass


def in_child():
    pass


def in_parent():
    pass


def worker(counted, finish):
    for _ in range(300):
        in_worker()
    counted.set()
    finish.wait()


def main():
    counted, finish = threading.Event(), threading.Event()
    thread = threading.Thread(target=worker, args=(counted, finish))
    thread.start()
    for _ in range(500):
        before()
    counted.wait()
    pid = os.fork()
    if pid == 0:
        for _ in range(700):
            in_child()
        return 0
    for _ in range(400):
        in_parent()
    finish.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    print(pid, flush=True)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
