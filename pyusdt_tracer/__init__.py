"""pyusdt's tracer side: what runs bpftrace against pyusdt processes and
makes reports of what it prints, apart from the traced side (the package
``pyusdt``, whose import loads libpyusdt and starts its poller).

Nothing here imports ``pyusdt``: the tracer never maps what it traces, as
py-spy and bcc load nothing of the target's into their own process.  The
commands keep their names, ``python -m pyusdt.trace`` and ``python -m
pyusdt.flame`` (thin modules of ``pyusdt`` that run ``launcher.main`` and
``flame.main``; the package does not load libpyusdt for them).

- ``session``: the one bpftrace session layer (launcher, tests, benchmark).
- ``launcher``: ``python -m pyusdt.trace``, from its command line to the
  exit status; ``tools``, ``command``, ``signals`` and ``output`` are its
  parts, ``errors`` how it fails.
- ``report``: the tools' reports; ``flame``: SVG flame graphs.
"""
