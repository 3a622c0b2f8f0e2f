"""What every micro-benchmark here needs: the median wall time of a call."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int, warm_up: bool = False) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` (after one untimed call with ``warm_up``)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
