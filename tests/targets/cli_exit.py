"""cli_exit: ends as its argument says: 'int N' -> sys.exit(N), 'str S' ->
sys.exit(S), 'none' -> sys.exit(None), 'end' -> runs off the end."""

import sys

how = sys.argv[1]
print("exiting", how, flush=True)
if how == "int":
    sys.exit(int(sys.argv[2]))
elif how == "str":
    sys.exit(sys.argv[2])
elif how == "none":
    sys.exit(None)
