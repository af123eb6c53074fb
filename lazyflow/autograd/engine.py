"""The backward engine: walk the GradNode graph in topological order, run VJP rules.

Nothing here computes: VJP rules record lazy ops, so `backward()` only extends the pending IR
graph, and the next barrier runs forward, backward and the optimizer update together.
"""

from __future__ import annotations

from ..frontend.tensor import Tensor, make
from ..ir.node import Node
from .grad_mode import enable_grad, no_grad
from .graph import AccumulateGrad, GradNode

__all__ = ["backward", "grad", "VJP", "VjpContext", "sum_to"]

VJP: dict = {}     # op name -> rule(ctx, g) -> tuple of input gradients (Tensor or None)

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")


def _wrap(node: Node, edge, differentiable: bool) -> Tensor:
    """A tensor holding a saved value; differentiable (linked to `edge`) under create_graph."""
    t = make(node) if node.data is None else _wrap_data(node)
    if differentiable and edge is not None:
        fn, nr = edge
        t.grad_fn = fn
        t._rg = True
        if nr:
            t._output_nr = nr
    return t


def _fresh(g: Tensor) -> Tensor:
    """A plain (non-view, graph-free) tensor with g's value: what lands in ``.grad``."""
    t = make(g._value()) if g._value().data is None else _wrap_data(g._value())
    return t


def _wrap_data(node: Node) -> Tensor:
    t = object.__new__(Tensor)
    t._node = node
    return t


class VjpContext:
    """What a VJP rule sees: input values, the output value, attrs, which inputs need grads."""

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
        if self._inputs is None:
            fn = self.fn
            self._inputs = [
                _wrap(x, e, self.create_graph) if type(x) is Node else x
                for x, e in zip(fn.saved, fn.edges)]
        return self._inputs

    @property
    def out(self) -> Tensor:
        if self._out is None:
            self._out = _wrap(self.fn.out_node, (self.fn, 0), self.create_graph)
        return self._out

    @property
    def needs(self) -> tuple:
        return tuple(e is not None for e in self.fn.edges)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Reduce a broadcast gradient back to `shape`."""
    gs = tuple(g.shape)
    shape = tuple(shape)
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and gs[i + lead] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    if lead or tuple(g.shape) != shape:
        g = g.reshape(*shape)
    return g


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _collect(roots: list) -> dict:
    """Dependency counts of every GradNode reachable from `roots`."""
    deps: dict = {}
    seen = set()
    stack = [r for r in roots]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for e in getattr(fn, "edges", ()):
            if e is None:
                continue
            nxt = e[0]
            deps[id(nxt)] = deps.get(id(nxt), 0) + 1
            stack.append(nxt)
    return deps


def _needed(roots: list, targets: set) -> set:
    """ids of nodes on some path from a root to a target (others need not run)."""
    memo: dict = {}
    order = []
    seen = set()
    stack = [(r, False) for r in roots]
    while stack:
        fn, done = stack.pop()
        if done:
            order.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        stack.append((fn, True))
        for e in getattr(fn, "edges", ()):
            if e is not None and id(e[0]) not in seen:
                stack.append((e[0], False))
    for fn in order:  # post-order: children first
        ok = id(fn) in targets
        for e in getattr(fn, "edges", ()):
            if e is not None and memo.get(id(e[0])):
                ok = True
        memo[id(fn)] = ok
    return {k for k, v in memo.items() if v}


def _run_engine(roots: list, root_grads: list, retain_graph: bool, create_graph: bool,
                capture: dict | None, accumulate: bool, only: set | None) -> dict:
    """Propagate gradients; accumulate into leaves and/or capture grads for given edges.

    capture: {id(fn): None} filled with the total gradient flowing into each listed node.
    only: restrict leaf accumulation to these AccumulateGrad ids (backward(inputs=...)).
    """
    grads: dict = {}
    fns: dict = {}
    for (fn, nr), g in zip(roots, root_grads):
        fns[id(fn)] = fn
        slot = grads.setdefault(id(fn), {})
        slot[nr] = _add(slot.get(nr), g)
    root_fns = [fns[k] for k in fns]
    deps = _collect(root_fns)
    targets = set(capture) if capture is not None else set()
    if only is not None:
        targets |= only
    needed = _needed(root_fns, targets) if (capture is not None and not accumulate) or \
        only is not None else None
    ready = [fn for fn in root_fns if deps.get(id(fn), 0) == 0]
    mode = enable_grad() if create_graph else no_grad()
    with mode:
        while ready:
            fn = ready.pop()
            gslot = grads.pop(id(fn), {})
            if needed is None or id(fn) in needed:
                _process(fn, gslot, grads, retain_graph, create_graph, capture, accumulate,
                         only, fns)
            for e in getattr(fn, "edges", ()):
                if e is None:
                    continue
                nxt = e[0]
                k = id(nxt)
                fns[k] = nxt
                deps[k] -= 1
                if deps[k] == 0:
                    ready.append(nxt)
    return capture


def _apply_pre_hooks(hooks, g):
    for h in list(hooks):
        r = h(g)
        if r is not None:
            g = r
    return g


def _process(fn, gslot, grads, retain_graph, create_graph, capture, accumulate, only, fns):
    if isinstance(fn, AccumulateGrad):
        g = gslot.get(0)
        if g is None:
            return
        if fn.pre_hooks:
            g = _apply_pre_hooks(fn.pre_hooks, g)
        if capture is not None and id(fn) in capture:
            capture[id(fn)] = _add(capture[id(fn)], g)
        if not accumulate or (only is not None and id(fn) not in only):
            return
        leaf = fn.variable
        if leaf is None:
            return
        if not create_graph:
            g = _fresh(g)
        leaf._grad = g if leaf._grad is None else _fresh(leaf._grad + g) if not create_graph \
            else leaf._grad + g
        if fn.post_hooks:
            for h in list(fn.post_hooks):
                h(leaf)
        return
    if getattr(fn, "released", False):
        raise RuntimeError(_FREED)
    g_out = [gslot.get(i) for i in range(getattr(fn, "num_outputs", 1))]
    if all(g is None for g in g_out):
        return
    if fn.pre_hooks:
        g_out = [_apply_pre_hooks(fn.pre_hooks, g) if g is not None else g for g in g_out]
    if fn.retain is not None:
        t = fn.retain()
        if t is not None and g_out[0] is not None:
            gg = g_out[0] if create_graph else _fresh(g_out[0])
            t._grad = gg if t._grad is None else t._grad + gg
    if capture is not None and id(fn) in capture:
        capture[id(fn)] = _add(capture[id(fn)], g_out[0])
    grads_in = _call_vjp(fn, g_out, create_graph)
    if fn.hooks:
        for h in list(fn.hooks):
            r = h(grads_in, tuple(g_out))
            if r is not None:
                grads_in = tuple(r)
    if not retain_graph:
        fn.release()
    for e, gi in zip(fn.edges, grads_in):
        if e is None or gi is None:
            continue
        nxt, nr = e
        slot = grads.setdefault(id(nxt), {})
        slot[nr] = _add(slot.get(nr), gi)


def _call_vjp(fn, g_out, create_graph):
    if isinstance(fn, GradNode):
        rule = VJP.get(fn.op)
        if rule is None:
            raise NotImplementedError(
                f"the derivative for '{fn.op}' is not implemented in lazyflow")
        g = g_out[0]
        if g is None:
            from ..frontend.factories import zeros
            g = zeros(*fn.out_node.shape, dtype=fn.out_node.dtype)
        ctx = VjpContext(fn, create_graph)
        res = rule(ctx, g)
        out = []
        for gi, x, e in zip(res, fn.saved, fn.edges):
            if gi is None or e is None:
                out.append(None)
                continue
            if type(x) is Node and gi.dtype is not x.dtype:
                gi = gi.to(x.dtype)
            if type(x) is Node and tuple(gi.shape) != x.shape:
                gi = sum_to(gi, x.shape)
            out.append(gi)
        return tuple(out)
    return fn.apply_backward(g_out, create_graph)   # custom Function nodes


def _make_grads(outputs: list, grad_outputs) -> list:
    from ..frontend.factories import ones_like
    res = []
    for i, out in enumerate(outputs):
        g = None if grad_outputs is None else grad_outputs[i]
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if not out.dtype.is_floating_point:
                raise RuntimeError("grad can be implicitly created only for real scalar outputs "
                                   f"but got {out.dtype}")
            g = ones_like(out)
        elif not isinstance(g, Tensor):
            from ..frontend.factories import tensor
            g = tensor(g, dtype=out.dtype)
        elif tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {list(g.shape)} and "
                f"output[{i}] has a shape of {list(out.shape)}.")
        res.append(g)
    return res


def _root_edges(outputs: list) -> list:
    edges = []
    for i, t in enumerate(outputs):
        if not t._rg:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")
        fn = t.grad_fn
        if fn is None:
            from .graph import accumulator_of
            edges.append((accumulator_of(t), 0))
        else:
            edges.append((fn, getattr(t, "_output_nr", 0)))
    return edges


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None) -> None:
    """Accumulate gradients of `tensors` into the leaves' ``.grad`` (records lazy ops only)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    if grad_tensors is not None and isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_grads(tensors, grad_tensors)
    edges = _root_edges(tensors)
    only = None
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
        only = set()
        for t in inputs:
            if not t._rg:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
            if t.grad_fn is None:
                from .graph import accumulator_of
                only.add(id(accumulator_of(t)))
            else:
                t.retain_grad()
                only.add(id(t.grad_fn))
    _run_engine(edges, grads, retain_graph, create_graph, None, True, only)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False,
         materialize_grads=False) -> tuple:
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated)."""
    single = isinstance(inputs, Tensor)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in inputs:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _make_grads(outputs, grad_outputs)
    edges = _root_edges(outputs)
    keys = []
    capture: dict = {}
    from .graph import accumulator_of
    for t in inputs:
        fn = t.grad_fn if t.grad_fn is not None else accumulator_of(t)
        keys.append(id(fn))
        capture[id(fn)] = None
    _run_engine(edges, grads, retain_graph, create_graph, capture, False, None)
    result = []
    for t, k in zip(inputs, keys):
        g = capture.get(k)
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been "
                                   "used in the graph. Set allow_unused=True if this is the "
                                   "desired behavior.")
            if materialize_grads:
                from ..frontend.factories import zeros_like
                g = zeros_like(t)
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)

