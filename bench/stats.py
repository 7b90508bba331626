"""Statistics of the benchmark's figures: medians, percentiles, the
summaries results.json keeps, and the rotation of configurations."""

from __future__ import annotations

import statistics


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """The P-th percentile (0-100) by linear interpolation between ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float], digits: int = 4,
            raw: bool = True) -> dict[str, object]:
    """Median, quartiles and (RAW) the values themselves, for results.json."""
    result: dict[str, object] = {"median": round(median(values), digits),
                                 "q1": round(percentile(values, 25), digits),
                                 "q3": round(percentile(values, 75), digits),
                                 "n": len(values)}
    if raw:
        result["values"] = [round(v, digits) for v in values]
    return result


def rotated(items: list, round_index: int) -> list:
    """ITEMS in a different order each round, so that no configuration is
    always the one that runs first (or right after a given other)."""
    k = round_index % len(items)
    order = items[k:] + items[:k]
    return order if round_index % 2 == 0 else order[::-1]
