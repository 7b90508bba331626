"""Target for pysyscalls: known system calls from known functions.

ask_parent() calls getppid 23 times, nap() sleeps (clock_nanosleep) 7 times,
touch() opens and closes a file 5 times."""
import os
import sys
import time


def ask_parent():
    for _ in range(23):
        os.getppid()


def nap():
    for _ in range(7):
        time.sleep(0.001)


def touch(path):
    for _ in range(5):
        os.close(os.open(path, os.O_RDONLY))


def main():
    ask_parent()
    nap()
    touch(sys.executable)


main()
