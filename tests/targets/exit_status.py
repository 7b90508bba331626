"""Target: reads stdin, writes output, raises past main and exits 1."""
import sys


def shout(text):
    return text.upper()


data = sys.stdin.read()
print(shout(data), end="")
print("args:", sys.argv[1:])
print("to stderr", file=sys.stderr)
raise ValueError("boom")
