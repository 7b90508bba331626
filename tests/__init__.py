"""pyusdt's test suite: unit, integration (subprocesses) and e2e (real bpftrace)."""
