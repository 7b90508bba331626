"""Corpus: an exception that escapes the program: it passes through several
frames and a finally block, and the program exits with a traceback and
status 1.
"""


def validate(record):
    if ":" not in record:
        raise ValueError("bad record: %r" % record)
    return record.split(":")


def parse(records):
    parsed = []
    try:
        for record in records:
            parsed.append(validate(record))
    finally:
        print("parsed", len(parsed))
    return parsed


def main():
    records = ["a:1", "b:2", "c:3", "d:4", "e:5", "broken", "f:6"]
    return parse(records)


main()
