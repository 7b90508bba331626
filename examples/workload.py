"""A few seconds of mixed work to trace: requests that parse, compute,
read a file, wait and sometimes fail, each announced with pyusdt.mark()
(run it under `python -m pyusdt`, or with pyusdt importable)."""
import json
import os
import tempfile
import time

try:
    from pyusdt import mark
except ImportError:   # run without pyusdt: the marks go nowhere
    def mark(name, detail=""):
        pass


class BadRequest(Exception):
    """A request the service refuses."""


def parse(body):
    request = json.loads(body)
    if "n" not in request:
        raise BadRequest("no n in request")
    return request


def compute(n):
    return sum(i * i for i in range(n))


def read_config(path):
    with open(path) as file:
        return file.read()


def handle(body, path):
    mark("request", body)
    request = parse(body)
    time.sleep(0.02)   # waiting on a backend
    read_config(path)
    return compute(request["n"])


def main(seconds=3.0):
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as config:
        config.write("threads = 4\n")
    handled = failed = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for body in ('{"n": 2000}', '{"m": 1}', '{"n": 500}'):
                try:
                    handle(body, config.name)
                    handled += 1
                except BadRequest:
                    failed += 1
    finally:
        os.unlink(config.name)
    print("handled", handled, "failed", failed)


if __name__ == "__main__":
    main()
