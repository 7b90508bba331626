"""cli_stdin: copies stdin to stdout upper-cased, then reports its size."""

import sys

data = sys.stdin.read()
sys.stdout.write(data.upper())
print("read", len(data), "chars")
