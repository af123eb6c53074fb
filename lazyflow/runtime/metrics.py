"""Counters and timing metrics, in the spirit of torch_xla's metrics report.

Counters are plain integers (``UncachedCompile``, ``CachedCompile``, ``Execute``, ``MarkStep``,
``TransferFromDevice``...); timing metrics keep every sample's duration in seconds
(``CompileTime``, ``ExecuteTime``, ``TracingTime``).
"""

from __future__ import annotations

from collections import defaultdict

__all__ = ["counter_inc", "counter_value", "timer_add", "reset_metrics", "metrics_report",
           "counter_names", "metric_names", "metric_data"]

_counters: dict = defaultdict(int)
_timers: dict = defaultdict(list)
_MAX_SAMPLES = 1024


def counter_inc(name: str, n: int = 1) -> None:
    _counters[name] += n


def counter_value(name: str) -> int:
    """Current value of a counter (0 if it never fired)."""
    return _counters.get(name, 0)


class _Timer:
    __slots__ = ("count", "total", "samples")

    def __init__(self):
        self.count = 0
        self.total = 0.0
        self.samples: list = []


_timer_objs: dict = {}


def timer_add(name: str, seconds: float) -> None:
    t = _timer_objs.get(name)
    if t is None:
        t = _timer_objs[name] = _Timer()
    t.count += 1
    t.total += seconds
    if len(t.samples) >= _MAX_SAMPLES:
        del t.samples[: _MAX_SAMPLES // 2]
    t.samples.append(seconds)


def metric_data(name: str) -> tuple:
    """(number of samples, total seconds, recent samples) of a timing metric."""
    t = _timer_objs.get(name)
    if t is None:
        return 0, 0.0, []
    return t.count, t.total, list(t.samples)


def counter_names() -> list:
    return sorted(k for k, v in _counters.items() if v)


def metric_names() -> list:
    return sorted(_timer_objs)


def reset_metrics() -> None:
    """Zero every counter and drop every timing sample (the compile cache is kept)."""
    _counters.clear()
    _timer_objs.clear()


def _fmt_time(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3f}s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f}ms"
    return f"{s * 1e6:.3f}us"


def _percentile(sorted_vals: list, q: float) -> float:
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, int(round(q * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def metrics_report() -> str:
    """All timing metrics and non-zero counters as text."""
    lines = []
    for name in metric_names():
        t = _timer_objs[name]
        s = sorted(t.samples)
        pct = "; ".join(f"{int(q * 100)}%={_fmt_time(_percentile(s, q))}"
                        for q in (0.01, 0.05, 0.1, 0.5, 0.9, 0.99))
        lines += [f"Metric: {name}", f"  TotalSamples: {t.count}",
                  f"  Accumulator: {_fmt_time(t.total)}", f"  Percentiles: {pct}"]
    for name in counter_names():
        lines += [f"Counter: {name}", f"  Value: {_counters[name]}"]
    return "\n".join(lines) + ("\n" if lines else "")
