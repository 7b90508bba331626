"""Corpus: exceptions raised and caught across several frames, re-raised,
chained, suppressed by context managers, with every shape of message the
exception argument renders differently.

The program never calls str() on its exceptions: Loud counts calls of its
__str__, which must stay 0 while traced (pyusdt runs no user code).
"""
import contextlib


class AppError(Exception):
    pass


class Outer:
    class NestedError(Exception):
        pass


class Text(str):
    pass


class Loud(Exception):
    calls = 0

    def __str__(self):
        Loud.calls += 1
        return "loud"


class Resource:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append("enter")
        return self

    def __exit__(self, kind, value, tb):
        self.log.append("exit")
        return kind is KeyError      # suppresses KeyError only


@contextlib.contextmanager
def managed(log):
    log.append("setup")
    try:
        yield log
    finally:
        log.append("teardown")


def level3(kind):
    if kind == "value":
        raise ValueError("bad value: 7")
    if kind == "key":
        raise KeyError("missing")
    if kind == "os":
        raise FileNotFoundError(2, "No such file")
    if kind == "nested":
        raise Outer.NestedError("nested")
    if kind == "text":
        raise AppError(Text("subclass message"))
    if kind == "long":
        raise AppError("x" * 200)
    if kind == "lines":
        raise AppError("first line\nsecond line")
    if kind == "surrogate":
        raise AppError("no UTF-8 form: \udcff")
    if kind == "loud":
        raise Loud("not shown")
    if kind == "local":
        class LocalError(Exception):
            pass
        raise LocalError()
    return kind


def level2(kind):
    return level3(kind)


def level1(kind):
    try:
        return level2(kind)
    finally:
        pass


def catch(kind):
    try:
        level1(kind)
    except Exception as exc:
        return type(exc).__name__
    return "none"


def reraise():
    try:
        level2("value")
    except ValueError:
        raise


def chained():
    try:
        reraise()
    except ValueError as exc:
        raise AppError("wrapped") from exc


def main():
    kinds = ["value", "key", "os", "nested", "text", "long", "lines", "surrogate", "loud",
             "local", "fine", "value"]                        # 11 of them raise
    caught = [catch(kind) for kind in kinds]
    try:
        chained()
    except AppError as exc:
        caught.append(type(exc.__cause__).__name__)
    log = []
    with Resource(log):
        level2("key")
    with Resource(log):
        log.append("quiet")
    with managed(log):
        log.append("body")
    try:
        with managed(log):
            level2("value")
    except ValueError:
        log.append("escaped manager")
    with contextlib.suppress(ZeroDivisionError):
        1 / 0
    try:
        {}["absent"]
    except KeyError:
        log.append("lookup")
    print(caught, log, Loud.calls)
    return 0


main()
