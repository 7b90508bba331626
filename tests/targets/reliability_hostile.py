"""Hostile values and names, everywhere a probe looks.

Objects whose every hook (__repr__, __str__, __format__, __hash__, __eq__,
__len__, __iter__, __getattribute__, __getattr__, a __class__, __name__ or
__qualname__ property, a metaclass's) raises, blocks, recurses or records a
side effect are returned, yielded, sent, thrown, raised, caught and called;
str subclasses name functions, classes and files; values are huge; names
are very long, non-UTF-8 or surrogate-escaped; code comes from exec() and
compile() with odd file names, and from a directory whose name is not
UTF-8.

The program prints what it computed, how many times each hook ran, and what
reached its own error hooks.  Run with every probe attached it must print
exactly what it prints untraced: hooks that only a tracer could call show 0
(a blocking hook would hang the run), no pending exception is lost or
replaced, and no exception reaches the program from a probe.
"""
import functools
import gc
import os
import sys
import tempfile
import threading
import time
import tracemalloc

# Hook name -> how many times it ran.  Only the program's own actions may
# run them; the untraced run shows which do.
HOOKS = {}
# Exceptions that reached sys.unraisablehook or threading.excepthook.
REACHED = []


def hook_ran(name):
    HOOKS[name] = HOOKS.get(name, 0) + 1


def blocked(name):
    """A hook that never returns: only a tracer could call it."""
    hook_ran(name)
    time.sleep(3600)


def on_unraisable(info):
    REACHED.append("unraisable: %s" % info.exc_type.__name__)


def on_thread_exception(args):
    REACHED.append("thread: %s" % args.exc_type.__name__)


sys.unraisablehook = on_unraisable
threading.excepthook = on_thread_exception


class Raising:
    """Every hook raises."""

    def __repr__(self):
        hook_ran("Raising.__repr__")
        raise RuntimeError("__repr__")

    def __str__(self):
        hook_ran("Raising.__str__")
        raise RuntimeError("__str__")

    def __format__(self, spec):
        hook_ran("Raising.__format__")
        raise RuntimeError("__format__")

    def __hash__(self):
        hook_ran("Raising.__hash__")
        raise RuntimeError("__hash__")

    def __eq__(self, other):
        hook_ran("Raising.__eq__")
        raise RuntimeError("__eq__")

    def __len__(self):
        hook_ran("Raising.__len__")
        raise RuntimeError("__len__")

    def __iter__(self):
        hook_ran("Raising.__iter__")
        raise RuntimeError("__iter__")

    def __getattr__(self, name):
        # N.B. also what answers instance.__qualname__ (a class body cannot
        # define that name as a property).
        hook_ran("Raising.__getattr__")
        raise RuntimeError("__getattr__ %s" % name)

    @property
    def __class__(self):
        hook_ran("Raising.__class__")
        raise RuntimeError("__class__")

    @property
    def __name__(self):
        hook_ran("Raising.__name__")
        raise RuntimeError("__name__")

    def __call__(self, *args):
        return args


class Blocking:
    """Every hook blocks forever."""

    def __repr__(self):
        blocked("Blocking.__repr__")

    def __str__(self):
        blocked("Blocking.__str__")

    def __hash__(self):
        blocked("Blocking.__hash__")

    def __getattribute__(self, name):
        blocked("Blocking.__getattribute__")

    def __call__(self, *args):
        return len(args)


class Recursing:
    """Every hook recurses until RecursionError."""

    def __repr__(self):
        hook_ran("Recursing.__repr__")
        return repr(self)

    def __str__(self):
        hook_ran("Recursing.__str__")
        return str(self)

    def __getattr__(self, name):
        hook_ran("Recursing.__getattr__")
        return getattr(self, name)


class SideEffect:
    """Every hook changes the program's state."""

    state = []

    def __repr__(self):
        hook_ran("SideEffect.__repr__")
        SideEffect.state.append("repr")
        return "SideEffect()"

    def __str__(self):
        hook_ran("SideEffect.__str__")
        SideEffect.state.append("str")
        return "SideEffect"

    def __getattribute__(self, name):
        hook_ran("SideEffect.__getattribute__")
        SideEffect.state.append(name)
        return object.__getattribute__(self, name)


class Meta(type):
    """A metaclass whose hooks all raise: its classes' names, reprs and
    attributes are off limits."""

    def __repr__(cls):
        hook_ran("Meta.__repr__")
        raise RuntimeError("Meta.__repr__")

    def __getattribute__(cls, name):
        if name in ("__qualname__", "__name__", "__module__", "__repr__", "__str__"):
            hook_ran("Meta.__getattribute__")
            raise RuntimeError("Meta.__getattribute__ %s" % name)
        return type.__getattribute__(cls, name)

    @property
    def __doc__(cls):
        hook_ran("Meta.__doc__")
        raise RuntimeError("Meta.__doc__")


class Shady(metaclass=Meta):
    def method(self, x):
        return x + 1


class HostileStr(str):
    """A str subclass: a value pyusdt must not repr, a name it may only read."""

    def __repr__(self):
        hook_ran("HostileStr.__repr__")
        raise RuntimeError("HostileStr.__repr__")

    def __str__(self):
        hook_ran("HostileStr.__str__")
        raise RuntimeError("HostileStr.__str__")

    def __hash__(self):
        hook_ran("HostileStr.__hash__")
        return str.__hash__(self)

    def __eq__(self, other):
        hook_ran("HostileStr.__eq__")
        return str.__eq__(self, other)

    def encode(self, *args, **kwargs):
        hook_ran("HostileStr.encode")
        raise RuntimeError("HostileStr.encode")


class HostileInt(int):
    def __repr__(self):
        hook_ran("HostileInt.__repr__")
        raise RuntimeError("HostileInt.__repr__")

    __str__ = __repr__


class HostileFloat(float):
    def __repr__(self):
        hook_ran("HostileFloat.__repr__")
        raise RuntimeError("HostileFloat.__repr__")


class HostileError(Exception):
    """An exception whose message hooks raise and whose args are hostile."""

    def __str__(self):
        hook_ran("HostileError.__str__")
        raise RuntimeError("HostileError.__str__")

    def __repr__(self):
        hook_ran("HostileError.__repr__")
        raise RuntimeError("HostileError.__repr__")

    @property
    def args(self):
        hook_ran("HostileError.args")
        raise RuntimeError("HostileError.args")

    @args.setter
    def args(self, value):
        pass


class NamedByMeta(Exception, metaclass=type("ErrMeta", (type,), {
        "__getattribute__": lambda cls, name: (
            hook_ran("ErrMeta.__getattribute__") if name in ("__name__", "__qualname__")
            else None) or type.__getattribute__(cls, name)})):
    pass


def identity(value):
    return value


def produce(values):
    for value in values:
        received = yield value
        if received is not None:
            yield received


def everything_with(value):
    """Returns, yields, sends, calls and raises VALUE."""
    results = [identity(value) is value]
    gen = produce([value])
    results.append(next(gen) is value)
    results.append(gen.send(value) is value)
    gen.close()
    try:
        raise ValueError(value)
    except ValueError as exc:
        results.append(exc.args[0] is value)
    if callable(value):
        try:
            value()
            results.append("called")
        except Exception as exc:
            results.append(type(exc).__name__)
    return results


def hostile_values():
    values = [Raising(), Blocking(), Recursing(), SideEffect(), Shady, Shady(),
              HostileStr("text"), HostileStr("\udcff"), HostileInt(7), HostileFloat(1.5),
              Meta, HostileError("boom"), NamedByMeta("named")]
    return [everything_with(value) for value in values]


def hostile_exceptions():
    """Raised, caught, unwound and thrown; the pending exception must be the
    program's own before and after every traced event."""
    seen = []
    for exc in (HostileError("x"), NamedByMeta("y"), ValueError(HostileStr("msg")),
                ValueError(Raising()), KeyError(Blocking()), OSError(2, "no such"),
                ValueError("\udcff lone surrogate"), ValueError("é" * 100000)):
        try:
            try:
                raise exc
            except Exception as caught:
                inner = sys.exception()
                identity(Raising())   # events while an exception is pending
                seen.append(sys.exception() is inner is caught is exc)
                raise
        except Exception as outer:
            seen.append(outer is exc)
        gen = produce([1, 2])
        next(gen)
        try:
            gen.throw(exc)
        except Exception as thrown:
            seen.append(thrown is exc)
    try:
        raise HostileError("cause") from NamedByMeta("context")
    except HostileError as exc:
        seen.append(type(exc.__cause__).__name__)
    return seen


def hostile_callables():
    def plain(x):
        return x * 2

    plain.__qualname__ = HostileStr("renamed.plain")
    plain.__name__ = HostileStr("plain")
    bound = Shady().method
    partial = functools.partial(plain, 3)
    instance = Raising()
    Shady.__qualname__ = "\ud800broken"   # heap type name that is not UTF-8
    results = [plain(1), bound(1), partial(), instance(1, 2), Blocking()(1),
               Shady().method(2)]
    Shady.__qualname__ = "Shady"
    return results


def huge_values():
    """Huge and awkward values, returned repeatedly: what a probe renders
    from them must cost no memory in proportion to their size."""
    huge = ["x" * 10_000_000, "\u00e9" * 5_000_000, "q'\"\\" * 2_000_000,
            b"\xff" * 10_000_000, list(range(1_000_000)), dict.fromkeys(range(200_000)),
            10 ** 100_000, -(2 ** 4096), HostileStr("y" * 10_000_000),
            "\udcff" * 1_000_000, tuple(range(100_000)), {"nested": [[[[]]]] * 1000}]
    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    for _ in range(5):
        for value in huge:
            identity(value)
            list(produce([value]))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Untraced, the loop itself allocates a few KB at most.
    return "bounded" if peak - before < 2_000_000 else "peak grew by %d" % (peak - before)


def long_names():
    """A qualified name of a million characters and a deep nest of classes."""
    code = identity.__code__.replace(co_qualname="q" * 1_000_000, co_name="n" * 1_000_000)
    very_long = type(identity)(code, globals())
    nested = "class C0:\n"
    for depth in range(1, 80):
        nested += "    " * depth + "class C%d:\n" % depth
    nested += "    " * 80 + "def method(self):\n" + "    " * 81 + "return 80\n"
    namespace = {}
    exec(compile(nested, "<nested>", "exec"), namespace)
    inner = namespace["C0"]
    for depth in range(1, 80):
        inner = getattr(inner, "C%d" % depth)
    return [very_long(5), inner().method(), len(inner.method.__qualname__)]


def odd_filenames():
    """Code compiled with file names no filesystem path looks like."""
    source = "def f(x):\n    return x + 1\nresult = f(41)\n"
    names = ["", "<odd>", "a" * 100_000, "\udcff\udcfe.py", "名前.py", "with\nnewline.py",
             "pipe|file.py", "quote\"'.py", HostileStr("subclass.py"), b"\xff\xfebytes.py",
             "\ud800.py"]
    results = []
    for name in names:
        namespace = {}
        exec(compile(source, name, "exec"), namespace)
        results.append(namespace["result"])
    code = compile(source, "<orig>", "exec").replace(co_filename="\udc80renamed.py")
    namespace = {}
    exec(code, namespace)
    results.append(namespace["result"])
    return results


def non_utf8_directory():
    """A module imported from a directory whose name is not UTF-8 (its file
    names carry surrogate escapes)."""
    with tempfile.TemporaryDirectory() as root:
        directory = os.path.join(os.fsencode(root), b"dir\xff\xfe")
        os.mkdir(directory)
        with open(os.path.join(directory, b"hostile_mod_\xc3\xa9.py"), "wb") as out:
            out.write(b"def g(n):\n    return [n * i for i in range(3)]\n")
        with open(os.path.join(directory, b"hostile_plain_mod.py"), "wb") as out:
            out.write(b"def h(n):\n    raise KeyError(n)\n")
        sys.path.insert(0, os.fsdecode(directory))
        try:
            import hostile_plain_mod
            module = __import__("hostile_mod_\u00e9")
            results = [module.g(2)]
            try:
                hostile_plain_mod.h(4)
            except KeyError as exc:
                results.append(exc.args)
        finally:
            sys.path.pop(0)
            sys.modules.pop("hostile_plain_mod", None)
            sys.modules.pop("hostile_mod_\u00e9", None)
    return results


def in_a_thread():
    """The same hostility on another thread."""
    out = []
    thread = threading.Thread(target=lambda: out.append(hostile_values()))
    thread.start()
    thread.join()
    return out[0] == hostile_values()


def main():
    print("values", hostile_values())
    print("exceptions", hostile_exceptions())
    print("callables", hostile_callables())
    print("huge", repr(huge_values()))
    print("names", long_names())
    print("files", odd_filenames())
    print("directory", non_utf8_directory())
    print("thread", in_a_thread())
    gc.collect()
    print("side effects", SideEffect.state)
    print("hooks", sorted(HOOKS.items()))
    print("reached", REACHED)


if __name__ == "__main__":
    main()
