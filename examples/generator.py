"""A generator pipeline to trace: PY_YIELD and PY_RESUME pair up."""


def numbers(limit):
    for n in range(limit):
        yield n


def squares(source):
    for n in source:
        yield n * n


def main():
    total = sum(squares(numbers(5)))
    print("sum of squares:", total)


if __name__ == "__main__":
    main()
