"""Recursion to the limit: RecursionError from plain Python recursion,
recursion through C calls, a recursive __repr__, a recursive generator, a
raised exception unwinding a thousand frames, and a raised recursion limit.

Prints how deep each one got and what it raised: the numbers depend only on
the interpreter and the recursion limit, never on whether probes are
attached (pyusdt's callbacks are C functions: they add no Python frame).
"""
import operator
import sys
import threading


def depth_of(exc):
    depth = 0
    tb = exc.__traceback__
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    return depth


def plain(n):
    return plain(n + 1)


def through_c(n):
    return list(map(through_c, [n + 1]))


class Recursive:
    def __repr__(self):
        return repr(self)


def generator(n):
    yield from generator(n + 1)


def unwinding(n):
    if n == 0:
        raise KeyError("bottom")
    return unwinding(n - 1)


def deep(n):
    return 0 if n == 0 else deep(n - 1) + 1


class Continue:
    """Calls .then from __repr__: three C levels (repr(), PyObject_Repr,
    the slot), where operator.call() is two.  N.B. no Python __init__:
    CPython 3.13 runs that through a hidden frame that counts towards the
    recursion limit only while the call is not instrumented, a difference
    any sys.monitoring tool watching CALL makes."""

    def __repr__(self):
        self.then()
        return ""


def nested(levels, func):
    """Calls FUNC through more C levels: the limit is then reached at a
    different step of a recursion that alternates Python and C."""
    if levels == 0:
        return func()
    if levels % 2:
        step = Continue()
        step.then = lambda: nested(levels - 1, func)
        return repr(step)
    return operator.call(nested, levels - 1, func)


def attempt(name, func):
    try:
        func()
    except RecursionError as exc:
        print(name, "RecursionError", depth_of(exc), exc, flush=True)
    except KeyError as exc:
        print(name, "KeyError", depth_of(exc), exc, flush=True)


def comparable(output, call_attached, version=sys.version_info):
    """OUTPUT with what CPython itself changes when CALL events are on left
    out: on 3.12 an instrumented CALL instruction is never specialised, and
    the generic call path counts C recursion levels differently, so a
    recursion alternating Python and C (through-c and repr, from two extra
    C levels on) meets RecursionError a level earlier or later, or with
    another message.  Any tool enabling CALL does the same (seen with
    BaseException as the callback: no pyusdt code at all).  Such a line
    keeps its name and the exception raised."""
    if not (call_attached and version[:2] == (3, 12)):
        return output
    lines = []
    for line in output.splitlines(keepends=True):
        words = line.split()
        if (len(words) > 2 and words[0] in ("through-c", "repr")
                and words[1] not in ("+0", "+1")):
            line = " ".join(words[:3]) + " (depth left out)\n"
        lines.append(line)
    return "".join(lines)


def main():
    attempt("plain", lambda: plain(0))
    for levels in range(6):
        attempt("through-c +%d" % levels, lambda: nested(levels, lambda: through_c(0)))
        attempt("repr +%d" % levels, lambda: nested(levels, lambda: repr(Recursive())))
    attempt("generator", lambda: next(generator(0)))
    attempt("unwinding", lambda: unwinding(900))
    # Once recovered, the program carries on as normal.
    print("after", deep(500), flush=True)
    sys.setrecursionlimit(20_000)
    print("raised limit", deep(15_000), flush=True)
    attempt("plain at 20000", lambda: plain(0))
    results = []
    thread = threading.Thread(target=lambda: results.append(deep(900)))
    thread.start()
    thread.join()
    print("thread", results, flush=True)


if __name__ == "__main__":
    main()
