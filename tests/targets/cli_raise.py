"""cli_raise: dies of an uncaught exception with a chained cause, three frames
deep, for comparing tracebacks."""

import sys


def parse(text: str) -> int:
    return int(text)


def load(text: str) -> int:
    try:
        return parse(text)
    except ValueError as exc:
        raise RuntimeError("could not load %r" % text) from exc


print("before", flush=True)
print("out", file=sys.stdout)
load(sys.argv[1] if len(sys.argv) > 1 else "twenty-three")
