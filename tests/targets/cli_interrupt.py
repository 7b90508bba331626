"""cli_interrupt: dies of an uncaught KeyboardInterrupt, as on Ctrl-C."""

print("interrupting", flush=True)
raise KeyboardInterrupt
