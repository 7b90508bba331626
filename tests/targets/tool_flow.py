"""Target for pyflow: a known nesting of calls, a generator suspended and
resumed, and a function left by an exception."""


def inner():
    return 1


def outer():
    return inner() + inner()


def numbers():
    yield 1
    yield 2


def fail():
    raise ValueError("no")


def main():
    outer()
    for _ in numbers():
        pass
    try:
        fail()
    except ValueError:
        pass


main()
