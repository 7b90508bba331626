"""Timeline target: sleeper() sleeps and writer() writes, three times each
on a worker thread and then on the main thread, after one pyusdt.mark();
the tests find each system call and off-CPU interval inside the function
that caused it."""
import os
import threading
import time

from pyusdt import mark


def sleeper():
    time.sleep(0.05)


def writer(fd):
    os.write(fd, b"timeline\n")


def worker(fd):
    for _ in range(3):
        sleeper()
        writer(fd)


def main():
    fd = os.open(os.devnull, os.O_WRONLY)
    mark("phase", "begin")
    thread = threading.Thread(target=worker, args=(fd,), name="worker")
    thread.start()
    thread.join()
    worker(fd)
    os.close(fd)
    print("done")


main()
