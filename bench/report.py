"""Turns bench/results.json's contents into the Markdown table make bench
prints (and README shows): one column per Python, one row per figure, ✓ or
✗ where the issue sets a target."""

from __future__ import annotations

import startup
from inprocess import CASES

# The untraced workloads, in the order their figures are listed.
UNTRACED = ("fib", "oo", "gen", "stdlib")


def _mark(entry: dict, text: str) -> str:
    if "met" not in entry:
        return text
    return text + (" ✓" if entry["met"] else " ✗")


def _cell(section: object, *keys: str, fmt: str = "%s", mark: bool = True) -> str:
    """The figure at KEYS in SECTION, formatted; what happened instead if
    the section was skipped or failed."""
    if not isinstance(section, dict):
        return "—"
    if "skipped" in section:
        return "skipped"
    if "failed" in section:
        return "failed"
    entry = section
    for key in keys[:-1]:
        entry = entry.get(key, {})
        if "skipped" in entry:
            return "skipped"
    value = entry.get(keys[-1])
    if isinstance(value, dict):
        value = value.get("median")
    if value is None:
        return "—"
    text = fmt % value
    return _mark(entry, text) if mark else text


def _with_control(section: object, case: str) -> str:
    """An untraced ratio, marked, with its plain/plain control after it."""
    text = _cell(section, case, "ratio", fmt="%.3f")
    control = _cell(section, case, "control", fmt="%.3f", mark=False)
    return text if control == "—" else "%s (%s)" % (text, control)


def _startup_instructions(python: dict) -> str:
    section = python.get("instructions")
    counts = section.get("start-up instructions") if isinstance(section, dict) else None
    if not counts:
        return _cell(section, "start-up instructions")
    return "%.1f / %.1f" % (counts["python -c pass"] / 1e6,
                            counts["python -m pyusdt -c pass"] / 1e6)


def table(results: dict) -> str:
    pythons = results["pythons"]
    versions = list(pythons)
    rows: list[tuple[str, list[str], str]] = []

    def row(label: str, target: str, get) -> None:
        rows.append((label, [get(pythons[v]) for v in versions], target))

    for case in (*UNTRACED, "fib, poll every 1 ms"):
        row("untraced: %s, time ratio pyusdt/plain (control: plain/plain)" % case,
            "" if "poll" in case else "≤ 1.01",
            lambda p, c=case: _with_control(p.get("untraced"), c))
    row("untraced: plain python with one idle thread, time ratio to plain, "
        "fib / oo / gen / stdlib", "",
        lambda p: " / ".join(_cell(p.get("untraced"), w + ", idle thread", "ratio",
                                   fmt="%.3f") for w in UNTRACED))
    row("untraced: instructions ratio pyusdt/plain, fib / oo / gen / stdlib (valgrind)", "1",
        lambda p: " / ".join(_cell(p.get("instructions"), "untraced ratio", w, fmt="%.4f")
                             for w in UNTRACED))
    row("untraced: start-up ms, plain / pyusdt", "",
        lambda p: "%s / %s" % (_cell(p.get("untraced"), "startup_ms", "plain", fmt="%.1f"),
                               _cell(p.get("untraced"), "startup_ms", "pyusdt", fmt="%.1f")))
    row("untraced: start-up, million instructions, plain / pyusdt (valgrind)", "",
        _startup_instructions)
    for label, _, _, _, _, target in CASES:
        row("forced: %s, ns/event" % label, "≤ %d, GIL builds" % target if target else "",
            lambda p, l=label: _cell(p.get("inprocess"), l, "ns", fmt="%.1f"))
    row("forced: pyusdt's own share of PY_START, ns/event", "",
        lambda p: _cell(p.get("inprocess"), "pyusdt's own share of PY_START", "ns",
                        fmt="%.1f"))
    for label, *_ in CASES:
        row("forced: %s, instructions/event (valgrind)" % label, "",
            lambda p, l=label: _cell(p.get("instructions"), l, fmt="%.0f"))
    for probes in ("PY_START", "PY_START+PY_RETURN"):
        row("traced %s: pyusdt ns/event" % probes, "",
            lambda p, k=probes: _cell(p.get("traced"), k, "pyusdt_ns", fmt="%.0f",
                                      mark=False))
        row("traced %s: floor (C) ns/event" % probes, "",
            lambda p, k=probes: _cell(p.get("traced"), k, "floor_ns", fmt="%.0f",
                                      mark=False))
        row("traced %s: ratio pyusdt/floor" % probes, "≤ 1.15",
            lambda p, k=probes: _cell(p.get("traced"), k, "ratio", fmt="%.3f"))
        row("traced %s: counts exact" % probes, "yes",
            lambda p, k=probes: _cell(p.get("traced"), k, "verified", "exact",
                                      fmt="%s", mark=False).replace("True", "yes")
            .replace("False", "NO"))
    for msec in ("100", "10"):
        for q in ("p50", "p95"):
            row("attach latency, PYUSDT_CHECK_MSEC=%s: %s ms" % (msec, q),
                "≤ %d" % (int(msec) + 5) if q == "p95" else "",
                lambda p, m=msec, q=q: _latency(p.get("attach"), m, q))
    for key, label in (("command_ms", "command"), ("pause_ms", "target's pause"),
                       ("gap_ms", "heartbeat gap, no attach"),
                       ("first_event_ms", "to bpftrace's first event")):
        row("process attach (remote_exec on 3.14+, gdb before): %s, ms p50 / p95" % label,
            "≤ 50 p95 (remote_exec)" if key == "pause_ms" else "",
            lambda p, k=key: "%s / %s" % (
                _cell(p.get("process_attach"), k, "p50", fmt="%.0f", mark=False),
                _cell(p.get("process_attach"), k, "p95", fmt="%.0f", mark=False)))
    for label, _, _, goal in startup.CASES:
        row("start-up: %s, instructions ratio to python -c pass (valgrind)" % label,
            "≤ %.2f" % goal if goal else "",
            lambda p, l=label: _cell(p.get("startup"), l, "ratio", fmt="%.3f"))
    for workload in ("fib", "oo", "gen"):
        for figure, unit in (("cpu_ns", "CPU ns"), ("instructions", "instructions")):
            row("CALL_STATS vs cProfile, %s: added %s per entry, pyusdt / cProfile (ratio)"
                % (workload, unit), "≤ 1.0",
                lambda p, w=workload, f=figure: _versus(p.get("callstats"), w, f))
    for case in ("forced steady", "forced churn", "traced steady"):
        row("memory: %s, RSS growth 1M → 10M events, KiB" % case, "< 1024",
            lambda p, c=case: _cell(p.get("memory"), c, "growth_kib", fmt="%d"))
    row("audit hook after a detach: open+close, time ratio to plain (control: plain/plain)",
        "≤ 1.01", lambda p: _with_control(p.get("audit"), "pyusdt, audit hook detached"))
    row("audit hook after a detach: open+close, time ratio to pyusdt without the hook", "",
        lambda p: _cell(p.get("audit"), "pyusdt, audit hook detached", "vs_armed",
                        fmt="%.3f", mark=False))
    row("audit hook after a detach: instructions per open+close, plain / hooked (ratio), "
        "valgrind", "",
        lambda p: "%s / %s (%s)" % tuple(
            _cell(p.get("audit"), "instructions per open+close", k, fmt=f, mark=False)
            for k, f in (("plain", "%.0f"), ("pyusdt, audit hook detached", "%.0f"),
                         ("ratio to plain", "%.4f"))))

    header = "| | %s | target |" % " | ".join("Python " + v for v in versions)
    lines = [header, "|---|%s---|" % ("---|" * len(versions))]
    for label, cells, target in rows:
        if any(cell.replace("—", "").strip(" /") for cell in cells):
            lines.append("| %s | %s | %s |" % (label, " | ".join(cells), target))
    lines += _peer(results)
    floor = results.get("attach_floor")
    if isinstance(floor, dict) and "by path" in floor:
        lines += ["", "Attach latency of bpftrace itself, to a C program firing "
                  "continuously (bench/floor): by path p50 %.2f ms, p95 %.2f ms; "
                  "by -p PID p50 %.1f ms, p95 %.1f ms." % (
                      floor["by path"]["from_semaphore_ms"]["p50"],
                      floor["by path"]["from_semaphore_ms"]["p95"],
                      floor["by -p PID"]["from_semaphore_ms"]["p50"],
                      floor["by -p PID"]["from_semaphore_ms"]["p95"])]
    return "\n".join(lines)


def _versus(section: object, workload: str, figure: str) -> str:
    """pyusdt's and cProfile's added cost per entry, and their ratio."""
    costs = _cell(section, workload, figure, "pyusdt CALL_STATS", mark=False)
    if costs in ("—", "skipped", "failed"):
        return costs
    return "%s / %s (%s)" % (costs, _cell(section, workload, figure, "cProfile", mark=False),
                             _cell(section, workload, figure + " ratio", "ratio",
                                   fmt="%.3f"))


def _latency(section: object, msec: str, quantile: str) -> str:
    """An attach latency quantile, marked against the target for p95."""
    text = _cell(section, msec, "from_semaphore_ms", quantile, fmt="%.1f", mark=False)
    if quantile == "p95" and isinstance(section, dict) and msec in section:
        text = _mark(section[msec], text)
    return text


def _fraction(delivered: int, calls: int) -> str:
    return "%d / %d" % (delivered, calls)


def _peer(results: dict) -> list[str]:
    peer = results.get("peer")
    if not isinstance(peer, dict):
        return []
    if "skipped" in peer or "failed" in peer:
        return ["", "Peer (CPython 3.11's own markers): %s"
                % (peer.get("skipped") or peer.get("failed"))]
    both = peer["PY_START+PY_RETURN"]
    start = peer["PY_START"]
    lines = ["", "Peer comparison: fib(%d), the same bpftrace program (`@[pid] = count()`), "
             "events delivered / calls made, and ns per delivered event above untraced:"
             % int(both["workload"].split("(")[1].split(")")[0]), "",
             "| | entry events | return events | ns/event, entry only "
             "| ns/event, entry+return |", "|---|---|---|---|---|"]

    def ns(entry: dict) -> str:
        value = entry.get("ns_per_delivered_event")
        return "%.0f" % value if value is not None else "— (nothing delivered)"

    lines.append("| CPython's markers, %s | %s | %s | %s | %s |" % (
        peer["python"], _fraction(both["delivered"]["function__entry"], both["calls"]),
        _fraction(both["delivered"]["function__return"], both["calls"]),
        ns(start), ns(both)))
    for version, entry in results["pythons"].items():
        traced = entry.get("traced")
        if not isinstance(traced, dict) or "PY_START+PY_RETURN" not in traced:
            continue
        t1, t2 = traced["PY_START"], traced["PY_START+PY_RETURN"]
        counted = t2["verified"]["counted"]
        calls = t2["verified"]["calls"]
        lines.append("| pyusdt, Python %s | %s | %s | %.0f | %.0f |" % (
            version, _fraction(counted["PY_START"], calls),
            _fraction(counted["PY_RETURN"], calls),
            t1["pyusdt_ns"], t2["pyusdt_ns"]))
    return lines
