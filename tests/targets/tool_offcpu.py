"""Target for pyoffcpu: sleeper() blocks 7 times in time.sleep(); spinner()
only computes."""
import time


def sleeper():
    for _ in range(7):
        time.sleep(0.02)


def spinner():
    total = 0
    for i in range(200000):
        total += i * i
    return total


def main():
    sleeper()
    spinner()


main()
