"""``python -m pyusdt [option] ... (script.py | -m module | -c code | -) [arg] ...``:
runs a Python program as ``python`` would, with pyusdt's probes armed."""

from pyusdt._cli import cli

if __name__ == "__main__":
    # N.B. nothing may follow: the program's globals replace this module's.
    cli()
