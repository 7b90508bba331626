"""Target for pycalls' averages: nap() sleeps argv[1] seconds three times
in the main thread, then once more in a daemon thread that is still
asleep when the program exits: four calls, three of which ended."""
import sys
import threading
import time


def nap(seconds, started=None):
    if started is not None:
        started.set()
    time.sleep(seconds)


def main(seconds):
    for _ in range(3):
        nap(seconds)
    started = threading.Event()
    threading.Thread(target=nap, args=(3600, started), daemon=True).start()
    started.wait()


main(float(sys.argv[1]))
