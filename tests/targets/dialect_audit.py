"""Target of tests/e2e/test_dialect.py's audit tests: installs an audit hook
of its own (recording every event's name), then imports pyusdt (a tracer
attached to the library by path beforehand makes pyusdt add its hook right
there, after this one), then opens the file argv[1] for writing, connects to
a listening socket on 127.0.0.1, runs /bin/true, imports colorsys, and
raises an event whose arguments are hostile objects that record any method
of theirs that runs.  Prints the port, the hostile methods that ran and the
events its own hook saw."""
import socket
import subprocess
import sys

seen = []
ran = []


def hook(event, args):
    seen.append(event)


sys.addaudithook(hook)

import pyusdt  # noqa: E402,F401


class Hostile:
    def __repr__(self):
        ran.append("__repr__")
        return "HOSTILE"

    def __str__(self):
        ran.append("__str__")
        return "HOSTILE"

    def __eq__(self, other):
        ran.append("__eq__")
        return False

    def __hash__(self):
        ran.append("__hash__")
        return 0

    def __len__(self):
        ran.append("__len__")
        return 0


class Sneaky(str):
    def __repr__(self):
        ran.append("Sneaky.__repr__")
        return "SNEAKY"


with open(sys.argv[1], "w") as file:
    file.write("x")
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
port = server.getsockname()[1]
client = socket.socket()
client.connect(("127.0.0.1", port))
client.close()
server.close()
subprocess.run(["/bin/true"], check=True)
import colorsys  # noqa: E402,F401
hostile = Hostile()
sys.audit("pyusdt.test.hostile", hostile, Sneaky("s"), [hostile])
print("port", port)
print("ran", ran)
print("seen", len(seen), " ".join(seen))
