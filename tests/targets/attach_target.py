"""A plain Python program (it never imports pyusdt) for the attach tests.

Usage: attach_target.py STOPFILE MODE

It prints "ready ..." once, then, depending on MODE, has its main thread:
  loop    call beat(i) for i = 1, 2, ... printing each i (an unbroken
          sequence, checked by the tests)
  sleep   sleep 2 s, then print "slept" and whether it slept that long
  accept  accept one connection on the printed port, print what it sent
  read    read from stdin (a pipe), print what it read
  idle    join a thread that runs Python until STOPFILE.release exists
then, except in loop, calls beat() until STOPFILE exists.  It exits with
status 7 once STOPFILE exists, printing "pyusdt loaded" or "no pyusdt" (or
what is wrong: pyusdt's modules without its library).
"""

import os
import socket
import sys
import threading
import time

STOPFILE, MODE = sys.argv[1], sys.argv[2]


def beat(i):
    return i + 1


def until_stopped():
    i = 0
    while not os.path.exists(STOPFILE):
        i = beat(i)
        if MODE == "loop":
            print(i, flush=True)
        time.sleep(0.002)


def spin():
    n = 0
    while not os.path.exists(STOPFILE + ".release"):
        n = beat(n)


if MODE == "accept":
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    print("ready", server.getsockname()[1], flush=True)
    connection, _ = server.accept()
    print("accepted", connection.recv(100).decode(), flush=True)
    connection.close()
    server.close()
elif MODE == "sleep":
    print("ready", flush=True)
    started = time.monotonic()
    returned = time.sleep(2.0)
    print("slept", returned, time.monotonic() - started >= 2.0, flush=True)
elif MODE == "read":
    print("ready", flush=True)
    print("read", os.read(0, 100), flush=True)
elif MODE == "idle":
    worker = threading.Thread(target=spin)
    worker.start()
    print("ready", flush=True)
    worker.join()
    print("joined", flush=True)
else:
    print("ready", flush=True)
until_stopped()
if "libpyusdt" in sys.modules:
    print("pyusdt loaded", flush=True)
elif any(name.partition(".")[0] == "pyusdt" for name in sys.modules):
    print("pyusdt modules without the library", flush=True)
else:
    print("no pyusdt", flush=True)
sys.exit(7)
