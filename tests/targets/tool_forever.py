"""Target for stopping a trace with Ctrl-C: calls tick() and prints a line
every 20 ms until stdin closes or 120 s pass."""
import select
import sys
import time


def tick(n):
    return n + 1


def main():
    n = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        n = tick(n)
        print("tick", n, flush=True)
        ready, _, _ = select.select([sys.stdin], [], [], 0.02)
        if ready and not sys.stdin.readline():
            break


main()
