"""IR as text, in the style of jaxprs and torch_xla IR dumps.

    graph g_3f9a1c (cause=item at train.py:41) {
      %0 = f32[128,784] input(slot=0)
      %2 = f32[128,10] matmul(%0, %1)
      ROOT %3 = f32[128] sum(%2, dims=(1,), keepdim=False)
    }

Fused groups print as ``fusion[kind=loop] { ... }`` with their body indented below.
"""

from __future__ import annotations

from .node import Node

__all__ = ["format_graph", "short_dtype", "format_type"]

_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16",
          "int64": "i64", "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8",
          "bool": "pred"}


def short_dtype(dt) -> str:
    return _SHORT.get(dt.name, dt.name)


def format_type(n: Node) -> str:
    return f"{short_dtype(n.dtype)}[{','.join(str(s) for s in n.shape)}]"


def _fmt_attr(v) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return v
    return repr(v)


def format_graph(g, indent: str = "  ", header: bool = True) -> str:
    ids = {id(n): i for i, n in enumerate(g.nodes)}
    outs = {id(o) for o in g.outputs}
    lines = []
    if header:
        cause = f" (cause={g.cause})" if getattr(g, "cause", "") else ""
        lines.append(f"graph {g.name}{cause} {{")
    for n in g.nodes:
        lines.extend(_format_node(n, ids, outs, indent))
    if header:
        lines.append("}")
    return "\n".join(lines)


def _format_node(n: Node, ids: dict, outs: set, indent: str) -> list:
    args = []
    for x in n.inputs:
        args.append(f"%{ids[id(x)]}" if type(x) is Node else repr(x))
    body = None
    for k, v in n.attrs:
        if k == "body" and hasattr(v, "nodes"):
            body = v
            continue
        if n.op == "fusion":
            continue
        args.append(f"{k}={_fmt_attr(v)}")
    root = "ROOT " if id(n) in outs else ""
    op = n.op
    if n.op == "fusion":
        kind = n.attr("kind", "loop")
        op = f"fusion[kind={kind}]"
    line = f"{indent}{root}%{ids[id(n)]} = {format_type(n)} {op}({', '.join(args)})"
    if body is None:
        return [line]
    inner = format_graph(body, indent + "    ", header=False).split("\n")
    return [line + " {"] + inner + [indent + "}"]
