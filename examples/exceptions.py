"""A program whose exceptions to trace: parsing records, some bad, with a
retry around a flaky lookup."""


class Unavailable(Exception):
    """The lookup service did not answer."""


def parse(record):
    name, _, amount = record.partition("=")
    if not name:
        raise ValueError("record without a name")
    return name, int(amount)


def lookup(name, attempt):
    if attempt < 2:
        raise Unavailable("try again")
    return name.title()


def fetch(name):
    for attempt in range(3):
        try:
            return lookup(name, attempt)
        except Unavailable:
            continue
    raise Unavailable("gave up on " + name)


def load(records):
    totals = {}
    for record in records:
        try:
            name, amount = parse(record)
        except ValueError:
            continue
        totals[fetch(name)] = totals.get(name, 0) + amount
    return totals


if __name__ == "__main__":
    print(load(["tea=3", "=4", "milk=x", "jam=2", "bread=5"]))
