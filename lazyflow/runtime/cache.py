"""The in-memory compile cache: structural graph key -> compiled Executable."""

from __future__ import annotations

import os
from collections import OrderedDict

__all__ = ["Executable", "CompileCache", "explain_miss"]


class Executable:
    """A compiled graph: the callable plus everything needed to explain it."""

    __slots__ = ("name", "fn", "source", "num_kernels", "optimized_text", "ir_text",
                 "num_nodes", "num_optimized_nodes", "runs", "donations")

    def __init__(self, name, fn, source, num_kernels, optimized_text, ir_text, num_nodes,
                 num_optimized_nodes):
        self.name = name
        self.fn = fn
        self.source = source
        self.num_kernels = num_kernels
        self.optimized_text = optimized_text
        self.ir_text = ir_text
        self.num_nodes = num_nodes
        self.num_optimized_nodes = num_optimized_nodes
        self.runs = 0
        self.donations = None   # runtime.donation checks, when the plan donates inputs


# environment switches that change what a graph compiles to (read per lookup: a program
# compiled under one setting must not be reused under another)
_PIPELINE_SWITCHES = ("LAZYFLOW_OPT", "LAZYFLOW_FUSION")


class CompileCache:
    """LRU map from structural keys to executables, emptied when a pipeline switch changes."""

    def __init__(self, capacity: int = 2048):
        self.capacity = capacity
        self._map: OrderedDict = OrderedDict()
        self._switches = self._current_switches()

    @staticmethod
    def _current_switches() -> tuple:
        env = os.environ
        return tuple(env.get(k) for k in _PIPELINE_SWITCHES)

    def check_switches(self) -> None:
        """Drop every executable when LAZYFLOW_OPT or LAZYFLOW_FUSION changed since they were
        compiled (about 0.2 us per barrier)."""
        now = self._current_switches()
        if now != self._switches:
            self._map.clear()
            self._switches = now

    def get(self, key):
        exe = self._map.get(key)
        if exe is not None and len(self._map) > 64:
            self._map.move_to_end(key)
        return exe

    def put(self, key, exe: Executable) -> None:
        self._map[key] = exe
        while len(self._map) > self.capacity:
            self._map.popitem(last=False)

    def clear(self) -> None:
        self._map.clear()

    def __len__(self) -> int:
        return len(self._map)

    def keys(self):
        return list(self._map.keys())


def _nodes_of(key) -> list:
    """Split a flat trace key into per-node items (op, attrs, shape, dtype, refs)."""
    out = []
    pos = 0
    n = len(key) - 2
    while pos < n:
        op, attrs, shape, dt = key[pos:pos + 4]
        pos += 4
        refs = []
        while key[pos] is not None:
            k = key[pos]
            if not (type(k) is tuple and len(k) == 2) and type(k) is not type:
                refs.append(k)
            pos += 1
        pos += 1
        out.append((op, attrs, shape, dt, tuple(refs)))
    return out


def _slot_descs(key) -> list:
    descs = []
    for k in key[:-2]:
        if (type(k) is tuple and len(k) == 2) or type(k) is type:
            descs.append(k)
    return descs


def _describe_item(item) -> str:
    op, attrs, shape, dt, refs = item
    args = []
    for r in refs:
        if isinstance(r, tuple):
            args.append(repr(r[1]))
        elif r >= 0:
            args.append(f"%{r}")
        else:
            args.append(f"input{-1 - r}")
    at = "".join(f", {k}={v!r}" for k, v in attrs)
    return f"{dt.name}{list(shape)} {op}({', '.join(args)}{at})"


def explain_miss(key, cache: CompileCache) -> str:
    """Why `key` missed: the first node that differs from the closest cached graph."""
    keys = cache.keys()
    if not keys:
        return "first graph compiled"
    items = _nodes_of(key)

    def common_prefix(other):
        n = 0
        for a, b in zip(items, other):
            if a != b:
                break
            n += 1
        return n

    decoded = [(k, _nodes_of(k)) for k in keys]
    best, other_items = max(decoded, key=lambda kv: common_prefix(kv[1]))
    n = common_prefix(other_items)
    if n < min(len(items), len(other_items)):
        return (f"node %{n} differs from the closest cached graph: now "
                f"{_describe_item(items[n])}, cached {_describe_item(other_items[n])}")
    if len(items) != len(other_items):
        return (f"graph has {len(items)} nodes, the closest cached graph has {len(other_items)} "
                f"(equal up to node %{n})")
    for i, (a, b) in enumerate(zip(_slot_descs(key), _slot_descs(best))):
        if a != b:
            def d(x):
                return (f"scalar {x.__name__}" if not isinstance(x, tuple) else
                        f"{x[1].name}{list(x[0])}")
            return f"input {i} differs from the closest cached graph: now {d(a)}, cached {d(b)}"
    if key[-2] != best[-2]:
        return "the set of requested outputs differs from the closest cached graph"
    return f"device differs ({key[-1]} vs {best[-1]})"
