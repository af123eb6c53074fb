"""The backward engine: walk the backward graph in topological order and run VJP rules.

Nothing here computes: VJP rules record lazy ops, so `backward()` only extends the pending IR
graph, and the next barrier runs forward, backward and the optimizer update together.

Order and semantics follow torch's engine: a node runs once all gradients flowing into it are
summed, latest-created first; tensor hooks run on a node's incoming gradient before
``retain_grad`` stores it and before the node's own pre-hooks; leaf gradients accumulate in place
when not building a graph (``create_graph=False``).
"""

from __future__ import annotations

from ..frontend.tensor import Tensor, make, record
from ..ir.node import Node
from .anomaly_mode import _STATE as _ANOMALY
from .anomaly_mode import check_nan, warn_forward_trace
from .grad_mode import enable_grad, no_grad
from .graph import FREED_MESSAGE, SAVES, AccumulateGrad, GradNode, accumulator_of, node_class
from .naming import visible_positions

__all__ = ["backward", "grad", "VJP", "VjpContext", "sum_to", "register_vjp"]

VJP: dict = {}     # op name -> rule(ctx, g) -> tuple of input gradients (Tensor or None)


def register_vjp(*ops, save=None, save_out: bool = False):
    """Register a VJP rule for IR ops.

    `save` lists the inputs whose *values* the rule reads (None: all of them, () none: shapes
    and dtypes are always available as ``ctx.shape(i)``/``ctx.dtype(i)``); `save_out` says it
    reads the op's output. `save` may also be a function of the op's attrs returning
    ``(save, save_out)``. Values not saved are not kept alive by the graph, and a rule that saves
    nothing works again after the graph was freed, as in torch.
    """
    def deco(fn):
        for op in ops:
            VJP[op] = fn
            SAVES[op] = save if callable(save) else (
                None if save is None else frozenset(save), save_out)
        return fn
    return deco


_FREED = FREED_MESSAGE


def _wrap(node: Node, edge, differentiable: bool) -> Tensor:
    """A temporary handle on a saved value (not registered as live: what the rule records from
    it is); differentiable (linked to `edge`) under create_graph."""
    t = _wrap_data(node)
    if differentiable and edge is not None:
        fn, nr = edge
        t.grad_fn = fn
        t._rg = True
        if nr:
            t._output_nr = nr
    return t


def _wrap_data(node: Node) -> Tensor:
    t = object.__new__(Tensor)
    t._node = node
    return t


def _fresh(g: Tensor) -> Tensor:
    """A plain (non-view, graph-free) tensor with g's value: what lands in ``.grad``."""
    n = g._value()
    return make(n) if n.data is None else _wrap_data(n)


class VjpContext:
    """What a VJP rule sees: saved input values, the output value, attrs, input shapes/dtypes and
    which inputs need gradients. Reading a value after the graph was freed raises torch's error."""

    __slots__ = ("fn", "create_graph", "_inputs", "_out")

    def __init__(self, fn: GradNode, create_graph: bool):
        self.fn = fn
        self.create_graph = create_graph
        self._inputs = None
        self._out = None

    @property
    def attrs(self) -> dict:
        return self.fn.attrs

    @property
    def inputs(self) -> list:
        """Saved inputs as tensors (Python numbers stay numbers; unsaved values are None)."""
        if self._inputs is None:
            fn = self.fn
            if fn.saved is None:
                raise RuntimeError(_FREED)
            self._inputs = [
                _wrap(x, e, self.create_graph) if type(x) is Node else x
                for x, e in zip(fn.saved, fn.edges)]
        return self._inputs

    @property
    def out(self) -> Tensor:
        if self._out is None:
            node = self.fn.out_node
            if node is None:
                if self.fn.released:
                    raise RuntimeError(_FREED)
                raise RuntimeError(f"internal error: the VJP rule of '{self.fn.op}' reads its "
                                   "output but does not declare it saved")
            self._out = _wrap(node, (self.fn, 0), self.create_graph)
        return self._out

    def shape(self, i: int) -> tuple:
        return self.fn.meta[i][0]

    def dtype(self, i: int):
        return self.fn.meta[i][1]

    @property
    def out_shape(self) -> tuple:
        return self.fn.out_meta[0]

    @property
    def needs(self) -> tuple:
        return tuple(e is not None for e in self.fn.edges)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Reduce a broadcast gradient back to `shape` (one sum, no reshape when only leading dims
    were broadcast)."""
    gs = _shape_of(g)
    shape = tuple(shape)
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    inner = tuple(i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1)
    if not inner:
        return record("sum", (g,), {"dims": tuple(range(lead)), "keepdim": False})
    g = record("sum", (g,), {"dims": tuple(range(lead)) + inner, "keepdim": True})
    return record("reshape", (g,), {"shape": shape}) if lead else g


def _shape_of(t: Tensor) -> tuple:
    return (t._node if t._base is None else t._value()).shape


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


# ----------------------------------------------------------------------------- graph walk
def _seq(fn) -> int:
    return fn.seq


def _discover(root_fns: list) -> list:
    """All nodes reachable from the roots, latest-created first.

    A node is always created after the nodes its edges point to (an op is recorded after its
    inputs; in-place rebinding and create_graph only add newer nodes), so decreasing creation
    order is a topological order: every node runs after all nodes that send it gradients, in the
    same order as torch's engine (which prioritizes by sequence number). Leaf accumulators
    (seq -1) come last."""
    seen = {id(fn) for fn in root_fns}
    nodes = list(root_fns)
    stack = list(root_fns)
    while stack:
        for e in stack.pop().edges:
            if e is not None and id(e[0]) not in seen:
                seen.add(id(e[0]))
                nodes.append(e[0])
                stack.append(e[0])
    nodes.sort(key=_seq, reverse=True)
    return nodes


def _executable(order: list, target_fns: set) -> set:
    """ids of nodes that must run to reach a target: a node runs when a child of it leads to a
    target (targets themselves are only read, unless they also lead to another target)."""
    on_path: set = set()
    run = set()
    for fn in reversed(order):   # children before parents
        for e in fn.edges:
            if e is not None and id(e[0]) in on_path:
                run.add(id(fn))
                on_path.add(id(fn))
                break
        else:
            if id(fn) in target_fns:
                on_path.add(id(fn))
    return run


class _Task:
    """One backward pass: options and what to capture or accumulate."""

    __slots__ = ("retain_graph", "create_graph", "capture", "accumulate", "only_leaves",
                 "also_run")

    def __init__(self, retain_graph, create_graph, capture, accumulate, only_leaves,
                 also_run=None):
        self.retain_graph = retain_graph
        self.create_graph = create_graph
        self.capture = capture            # {(id(fn), nr): grad or None} for autograd.grad
        self.accumulate = accumulate      # accumulate into leaves' .grad at all
        self.only_leaves = only_leaves    # None, or ids of the accumulators allowed to accumulate
        self.also_run = also_run          # ids of nodes to run although no target is below


def _run_engine(roots: list, root_grads: list, task: _Task) -> None:
    buffers: dict = {}
    root_fns = []
    for (fn, nr), g in zip(roots, root_grads):
        slot = buffers.get(id(fn))
        if slot is None:
            slot = buffers[id(fn)] = {}
            root_fns.append(fn)
        slot[nr] = _add(slot.get(nr), g)
    order = _discover(root_fns)
    run = None
    if task.capture is not None or task.only_leaves is not None:
        targets = {k[0] for k in (task.capture or ())}
        targets |= task.only_leaves or set()
        targets |= task.also_run or set()
        run = _executable(order, targets) | (task.also_run or set())
    with (enable_grad() if task.create_graph else no_grad()):
        for fn in order:
            slot = buffers.pop(id(fn), None)
            if slot is not None:
                _process(fn, slot, buffers, task, run is None or id(fn) in run)


def _process(fn, slot: dict, buffers: dict, task: _Task, execute: bool) -> None:
    if fn.num_outputs == 1:
        grads = [slot.get(0)]
    else:
        grads = [slot.get(i) for i in range(fn.num_outputs)]
    if fn.tensor_hooks:
        for nr, hook in list(fn.tensor_hooks):
            if grads[nr] is not None:
                r = hook(grads[nr])
                if r is not None:
                    grads[nr] = r
    if fn.retains:
        for nr, ref in list(fn.retains.items()):
            t = ref()
            if t is not None and grads[nr] is not None:
                _store_retained(t, grads[nr], task.create_graph)
    if task.capture is not None:
        for nr, g in enumerate(grads):
            key = (id(fn), nr)
            if key in task.capture and g is not None:
                task.capture[key] = _add(task.capture[key], g)
    if type(fn) is AccumulateGrad:
        g = grads[0]
        if g is None or not task.accumulate:
            return
        if task.only_leaves is not None and id(fn) not in task.only_leaves:
            return
        leaf = fn.variable
        if leaf is None:
            return
        _accumulate(leaf, g, task.create_graph)
        if fn.post_hooks:
            for h in list(fn.post_hooks):
                h(leaf)
        return
    if not execute or all(g is None for g in grads):
        return
    if fn.pre_hooks:
        for h in list(fn.pre_hooks):
            r = h(tuple(grads))
            if r is not None:
                grads = list(r)
    if _ANOMALY["enabled"]:
        grads_in = _call_vjp_checked(fn, grads, task.create_graph)
    else:
        grads_in = _call_vjp(fn, grads, task.create_graph)
    if fn.hooks:
        grads_in = _call_node_hooks(fn, grads_in, tuple(grads))
    if not task.retain_graph:
        fn.release()
    for e, gi in zip(fn.edges, grads_in):
        if e is None or gi is None:
            continue
        nxt, nr = e
        s = buffers.get(id(nxt))
        if s is None:
            buffers[id(nxt)] = {nr: gi}
        else:
            old = s.get(nr)
            s[nr] = gi if old is None else old + gi


def _call_node_hooks(fn, grads_in: tuple, grads_out: tuple) -> tuple:
    """Node hooks see torch's grad_inputs (one per torch input of the op, in torch's order)."""
    pos = visible_positions(fn) if isinstance(fn, GradNode) else tuple(range(len(grads_in)))
    for h in list(fn.hooks):
        r = h(tuple(grads_in[i] for i in pos), grads_out)
        if r is not None:
            new = list(grads_in)
            for j, i in enumerate(pos):
                new[i] = r[j]
            grads_in = tuple(new)
    return grads_in


def _accumulate(t: Tensor, g: Tensor, create_graph: bool) -> None:
    """torch's AccumulateGrad: steal/copy into an empty .grad, add in place otherwise (a new
    differentiable sum under create_graph)."""
    old = t._grad
    if old is None:
        if create_graph:
            g = g.clone()
            if g.grad_fn is not None:   # torch copies into a fresh grad: "CopyBackwards"
                g.grad_fn.__class__ = node_class("CopyBackwards")
            t._grad = g
        else:
            t._grad = _fresh(g)
    elif not create_graph:
        old._assign(old + g)
    else:
        t._grad = old + g


def _store_retained(t: Tensor, g: Tensor, create_graph: bool) -> None:
    old = t._grad
    if old is None:
        t._grad = g.clone() if create_graph else _fresh(g)
    else:
        t._grad = old + g if create_graph else _fresh(old + g)


def _call_vjp_checked(fn, g_out: list, create_graph: bool) -> tuple:
    """`_call_vjp` in anomaly mode: an error names the forward call, and NaN gradients raise."""
    try:
        grads_in = _call_vjp(fn, g_out, create_graph)
    except Exception:
        warn_forward_trace(fn)
        raise
    if _ANOMALY["check_nan"]:
        pos = visible_positions(fn) if isinstance(fn, GradNode) else \
            tuple(range(len(grads_in)))
        check_nan(fn, grads_in, pos)
    return grads_in


def _call_vjp(fn, g_out: list, create_graph: bool) -> tuple:
    if not isinstance(fn, GradNode):
        return fn.apply_backward(g_out, create_graph)   # custom Function and device moves
    rule = VJP.get(fn.op)
    if rule is None:
        raise NotImplementedError(f"the derivative for '{fn.op}' is not implemented in lazyflow")
    g = g_out[0]
    ctx = VjpContext(fn, create_graph)
    res = rule(ctx, g)
    out = []
    for gi, m, e in zip(res, fn.meta, fn.edges):
        if gi is None or e is None or m is None:
            out.append(None)
            continue
        shape, dt = m
        n = gi._node if gi._base is None else gi._value()
        if n.dtype is not dt:
            gi = gi.to(dt)
        if n.shape != shape:
            gi = sum_to(gi, shape)
        out.append(gi)
    return tuple(out)


# ----------------------------------------------------------------------------- public API
def _make_grads(outputs: list, grad_outputs) -> list:
    from ..frontend.factories import ones_like
    res = []
    for i, out in enumerate(outputs):
        g = None if grad_outputs is None else grad_outputs[i]
        if g is None:
            if out._rg and out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._rg and not out.dtype.is_floating_point:
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got {out.dtype}")
            g = ones_like(out) if out._rg else None
        elif not isinstance(g, Tensor):
            from ..frontend.factories import tensor
            g = tensor(g, dtype=out.dtype)
        elif tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {_size(g.shape)} and "
                f"output[{i}] has a shape of {_size(out.shape)}.")
        res.append(g)
    return res


def _size(shape) -> str:
    return f"lazyflow.Size([{', '.join(str(s) for s in shape)}])"


def _root_edges(outputs: list) -> list:
    edges = []
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"backward(): element {i} of tensors is not a Tensor "
                            f"(got {type(t).__name__})")
        if not t._rg:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")
        fn = t.grad_fn
        edges.append((accumulator_of(t), 0) if fn is None else (fn, t._output_nr))
    return edges


def _as_list(x) -> list:
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None) -> None:
    """Accumulate gradients of `tensors` into the leaves' ``.grad`` (records lazy ops only)."""
    tensors = _as_list(tensors)
    if grad_tensors is None:
        grad_tensors = grad_variables
    grad_tensors = _as_list(grad_tensors)
    if grad_tensors is not None and len(grad_tensors) != len(tensors):
        raise RuntimeError(f"grad_tensors has {len(grad_tensors)} elements, but tensors has "
                           f"{len(tensors)} elements")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = _as_list(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    grads = _make_grads(tensors, grad_tensors)
    edges = _root_edges(tensors)
    only_leaves = also_run = None
    if inputs is not None:
        # as torch: non-leaf inputs get retain_grad() (for good) and their grad_fn runs
        only_leaves, also_run = set(), set()
        for t in inputs:
            if not t._rg:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            if t.grad_fn is None:
                only_leaves.add(id(accumulator_of(t)))
            else:
                t.retain_grad()
                also_run.add(id(t.grad_fn))
    task = _Task(retain_graph, create_graph, None, True, only_leaves, also_run)
    _run_engine(edges, grads, task)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False,
         materialize_grads=False) -> tuple:
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated)."""
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) (vmap over grad_outputs) "
                                  "is not implemented in lazyflow")
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs)
    if grad_outputs is not None and len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one gradient per output: got {len(grad_outputs)} "
                           f"grad_outputs for {len(outputs)} outputs")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads="
                         "True, but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad(): inputs must be Tensors, got {type(t).__name__}")
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _make_grads(outputs, grad_outputs)
    edges = _root_edges(outputs)
    keys = []
    for t in inputs:
        fn = t.grad_fn if t.grad_fn is not None else accumulator_of(t)
        keys.append((id(fn), t._output_nr if t.grad_fn is not None else 0))
    capture = dict.fromkeys(keys)
    _run_engine(edges, grads, _Task(retain_graph, create_graph, capture, False, None))
    result = []
    for i, (t, k) in enumerate(zip(inputs, keys)):
        g = capture.get(k)
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"The differentiated Tensor at index {i} appears to not have "
                                   "been used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
            if materialize_grads:
                from ..frontend.factories import zeros_like
                g = zeros_like(t)
        elif not create_graph:
            g = _fresh(g)
        result.append(g)
    return tuple(result)
