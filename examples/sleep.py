"""A small program to trace: a few functions that call each other and sleep."""
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def nap(seconds):
    time.sleep(seconds)
    return seconds


def work(round_number):
    total = fib(5)
    nap(0.1)
    return total + round_number


def main():
    for round_number in range(3):
        print("round", round_number, "->", work(round_number))


if __name__ == "__main__":
    main()
