"""Target for pyexc: exceptions of known types, raised in known functions
a prime number of times, caught or not."""


class QuotaError(Exception):
    """An application's own exception type."""


def parse(text):
    return int(text)


def load(texts):
    loaded = 0
    for text in texts:
        try:
            loaded += parse(text)
        except ValueError:
            pass
    return loaded


def spend(amount):
    raise QuotaError("over quota by %d" % amount)


def charge(times):
    refused = 0
    for amount in range(times):
        try:
            spend(amount)
        except QuotaError:
            refused += 1
    return refused


def lookup(table, keys):
    found = 0
    for key in keys:
        try:
            found += table[key]
        except KeyError:
            pass
    return found


def main():
    # 11 ValueErrors from parse(), caught in load(); 7 QuotaErrors from
    # spend(), caught in charge(); 13 KeyErrors raised and caught in lookup().
    print("loaded", load(["1", "x"] * 11))
    print("refused", charge(7))
    print("found", lookup({"a": 1}, ["a", "b"] * 13))


main()
