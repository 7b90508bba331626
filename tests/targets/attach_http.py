"""A plain ThreadingHTTPServer (it never imports pyusdt) for the attach
tests: on 127.0.0.1, port printed as "ready PORT"; GET /N answers "N
squared is N*N".  Serves until STOPFILE exists, then exits with status 7.

Usage: attach_http.py STOPFILE
"""

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STOPFILE = sys.argv[1]


def square(number):
    return number * number


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        number = int(self.path.lstrip("/"))
        body = ("%d squared is %d" % (number, square(number))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass   # stderr must stay empty: the tests check it


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
serving.start()
print("ready", server.server_address[1], flush=True)
while not os.path.exists(STOPFILE):
    threading.Event().wait(0.05)
server.shutdown()
serving.join()
server.server_close()
sys.exit(7)
