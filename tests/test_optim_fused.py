"""The fused Adam/AdamW update (`adam_update`): one IR op per parameter on the CPU,
bit-identical to the elementwise formulation it replaces, matching torch, never recompiling
when hyper-parameters or step counts change; the elementwise path stays where the fused op
does not apply (half precision, CUDA)."""

import numpy as np
import pytest
import torch

import lazyflow as lf
import lazyflow.optim.adam as lf_adam
from lazyflow.ir import capture
from lazyflow.ir.registry import OPS

STEPS = 6

ADAM_CASES = [
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.999))),          # lerp's weight >= 0.5 branch
    ("Adam", dict(lr=0.01, betas=(0.9, 0.0))),            # addcmul with value 1
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True, maximize=True)),
]
SHAPES = [(4, 3), (3,), (), (2, 3, 2)]


def _init(lib, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [lib.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
            for s in SHAPES]


def _grads(dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]


def _trajectory(lib, name, kwargs, dtype=np.float32):
    params = _init(lib, dtype)
    opt = getattr(lib.optim, name)(params, **kwargs)
    out = []
    for gs in _grads(dtype):
        for p, g in zip(params, gs):
            p.grad = lib.tensor(g)
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
    state = [{k: np.asarray(v.numpy() if hasattr(v, "numpy") else v).copy()
              for k, v in opt.state[p].items()} for p in params]
    return out, state


def _elementwise(monkeypatch):
    """Force the elementwise formulation (what the fused op replaces)."""
    monkeypatch.setattr(lf_adam, "fusable", lambda *a: False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kwargs", ADAM_CASES)
def test_fused_update_is_bit_identical_to_the_elementwise_one_and_matches_torch(
        name, kwargs, dtype, monkeypatch):
    fused, fused_state = _trajectory(lf, name, kwargs, dtype)
    want, _ = _trajectory(torch, name, kwargs, dtype)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for got_step, want_step in zip(fused, want):
        for got, exp in zip(got_step, want_step):
            assert got.dtype == exp.dtype and got.shape == exp.shape
            np.testing.assert_allclose(got, exp, **tol)
    _elementwise(monkeypatch)
    plain, plain_state = _trajectory(lf, name, kwargs, dtype)
    for got_step, want_step in zip(fused, plain):
        for got, exp in zip(got_step, want_step):
            np.testing.assert_array_equal(got, exp)
    for got, exp in zip(fused_state, plain_state):
        assert got.keys() == exp.keys()
        for k in got:
            np.testing.assert_array_equal(got[k], exp[k])


def _pending_update(name, kwargs, dtype=np.float32):
    params = _init(lf, dtype)
    opt = getattr(lf.optim, name)(params, **kwargs)
    for step, gs in enumerate(_grads(dtype)[:2]):
        for p, g in zip(params, gs):
            p.grad = lf.tensor(g)
        opt.step(barrier=step == 0)       # the second step is left pending
    state = [v for p in params for v in opt.state[p].values() if v._pending_node() is not None]
    return params, state


@pytest.mark.parametrize("name,kwargs,op,nstate", [
    ("Adam", dict(lr=0.01), "adam_update", 2),
    ("AdamW", dict(lr=0.01, amsgrad=True), "adam_update", 3),
])
def test_one_fused_op_per_parameter(name, kwargs, op, nstate):
    params, state = _pending_update(name, kwargs)
    assert len(state) == nstate * len(params)
    report = lf.debug.inspect(*params, *state)
    assert report.optimized_ir.count(f" {op}(") == len(params)
    # recorded: the op and one `gte` per new value
    recorded = capture([t._value() for t in params + state]).order
    assert len(recorded) == len(params) * (2 + nstate)
    assert sum(n.op == op for n in recorded) == len(params)
    # the generated step is the op calls and their outputs, nothing else
    assert report.code.count(f"k_{op}(") == len(params)
    assert report.num_kernels == len(params)


@pytest.mark.parametrize("name,kwargs", [("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
                                         ("AdamW", dict(lr=0.01, weight_decay=0.1))])
def test_changing_hyper_parameters_and_step_counts_never_recompiles(name, kwargs):
    params = _init(lf, np.float32)
    opt = getattr(lf.optim, name)(params, **kwargs)
    grads = _grads(np.float32)
    for p, g in zip(params, grads[0]):
        p.grad = lf.tensor(g)
    opt.step()
    compiles = lf.debug.counter_value("UncachedCompile")
    group = opt.param_groups[0]
    for i, lr in enumerate([0.5, 1e-4, 3.0, 0.02, 0.3]):
        group["lr"] = lr
        group["betas"] = (0.6 + 0.07 * i, 0.99 - 0.01 * i)   # one lerp branch
        group["eps"] = 10.0 ** -(i + 4)
        group["weight_decay"] = 0.01 * (i + 1)
        before = lf.debug.counter_value("Execute")
        opt.step()
        assert lf.debug.counter_value("Execute") == before + 1
    assert lf.debug.counter_value("UncachedCompile") == compiles
    assert {float(opt.state[p]["step"]) for p in params} == {6.0}


def test_parameters_with_different_step_counts_share_one_program():
    params = _init(lf, np.float32)
    opt = lf.optim.Adam(params, lr=0.01)
    grads = _grads(np.float32)
    params[0].grad = lf.tensor(grads[0][0])
    opt.step()                                     # only the first parameter steps
    for p, g in zip(params, grads[1]):
        p.grad = lf.tensor(g)
    opt.step()
    compiles = lf.debug.counter_value("UncachedCompile")
    opt.step()
    assert lf.debug.counter_value("UncachedCompile") == compiles
    assert [float(opt.state[p]["step"]) for p in params] == [3.0, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("name,kwargs", [("Adam", dict(lr=0.01)), ("AdamW", dict(lr=0.01))])
def test_half_precision_keeps_the_elementwise_update(name, kwargs):
    params, state = _pending_update(name, kwargs, np.float16)
    ir = lf.debug.inspect(*params, *state).optimized_ir
    assert "adam_update" not in ir
    assert all(p.dtype == lf.float16 for p in params)


def _infer(op, arrays, scalars, **attrs):
    from lazyflow.ir.dtypes import as_dtype
    from lazyflow.ir.node import Node
    nodes = [Node.from_data(a, as_dtype(a.dtype.name)) for a in arrays]
    return OPS[op].infer(tuple(nodes) + (0.5,) * scalars, attrs)


def test_fused_ops_check_their_operands():
    from lazyflow.ir.registry import inplace_inputs, num_outputs
    p = np.zeros((2, 3), np.float32)
    assert _infer("adam_update", [p] * 4, 7) == ((2, 3), lf.float32)       # typed as output 0
    assert _infer("adam_update", [p] * 5, 7, amsgrad=True) == ((2, 3), lf.float32)
    assert num_outputs("adam_update", {}) == 3 and num_outputs("adam_update", {"amsgrad": True}) == 4
    assert inplace_inputs("adam_update", {"amsgrad": True}) == (0, 2, 3, 4)   # never the grad
    with pytest.raises(ValueError, match="must match"):
        _infer("adam_update", [p, p, p, np.zeros((3, 2), np.float32)], 7)
    with pytest.raises(ValueError, match="must match"):
        _infer("adam_update", [p, p, p, p.astype(np.float64)], 7)
    with pytest.raises(ValueError, match="takes 4 tensors"):
        _infer("adam_update", [p] * 4, 3)
    with pytest.raises(ValueError, match="weight_decay"):
        _infer("adam_update", [p] * 4, 7, weight_decay="l1")


def _adam_arrays(shape, n, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(rng.standard_normal(shape), np.float32) for _ in range(n)]
    arrays[3] = np.asarray(np.abs(arrays[3]))
    return arrays


@pytest.mark.parametrize("attrs", [{}, {"amsgrad": True, "maximize": True},
                                   {"weight_decay": "l2", "lerp_high": True},
                                   {"weight_decay": "decoupled", "square": True}])
@pytest.mark.parametrize("shape", [(3, 2), ()])
def test_outputs_and_in_place_writes(attrs, shape):
    """The op returns (param, exp_avg, exp_avg_sq[, max]) in torch's order of operations, and
    writing each output over the input it replaces (what a donation does) gives the same bits:
    every read of an input comes before the write over it."""
    impl = OPS["adam_update"].impl
    scalars = (0.1, 0.999, 1 - 0.999, 0.5, 1e-8, -0.01, 0.3)
    ins = _adam_arrays(shape, 5 if attrs.get("amsgrad") else 4)
    fresh = impl(*[a.copy() for a in ins], *scalars, **attrs)
    assert len(fresh) == len(ins) - 1
    if not attrs:
        p, g, m, v = ins
        f32 = np.float32
        m1 = m + (g - m) * f32(0.1)
        v1 = v * f32(0.999) + (g * f32(1 - 0.999)) * g
        p1 = p + (m1 * f32(-0.01)) / (np.sqrt(v1) / f32(0.5) + f32(1e-8))
        for got, want in zip(fresh, (p1, m1, v1)):
            np.testing.assert_array_equal(got, want)
    targets = [0, 2, 3, 4][:len(fresh)]
    own = [a.copy() for a in ins]
    out = impl(*own, *scalars, out=tuple(own[j] for j in targets), **attrs)
    for k, j in enumerate(targets):
        assert out[k] is own[j]
        assert out[k].shape == shape and out[k].dtype == np.float32
        np.testing.assert_array_equal(out[k], fresh[k])
    np.testing.assert_array_equal(own[1], ins[1])          # the gradient is only read


def test_the_cuda_backend_runs_the_op_as_a_library_call(monkeypatch):
    """Optimizers keep the elementwise update on CUDA (one multi-tensor kernel), but a graph
    holding `adam_update` still runs there: a library call whose packed result is sliced."""
    from lazyflow.runtime.cuda_emulation import emulated_cuda, emulation_available
    if not emulation_available():
        pytest.skip("CUDA emulator not installed")
    want, _ = _trajectory(lf, "Adam", dict(lr=0.01, amsgrad=True))
    monkeypatch.setattr(lf_adam, "fusable", lambda *a: a[0].dtype == lf.float32)
    with emulated_cuda():
        params = [p.to("cuda").detach().requires_grad_() for p in _init(lf, np.float32)]
        opt = lf.optim.Adam(params, lr=0.01, amsgrad=True)
        grads = _grads(np.float32)
        for p, g in zip(params, grads[0]):
            p.grad = lf.tensor(g, device="cuda")
        opt.step(barrier=False)
        assert "library adam_update(" in lf.debug.inspect(*params).code
        lf.mark_step()
        for gs in grads[1:]:
            for p, g in zip(params, gs):
                p.grad = lf.tensor(g, device="cuda")
            opt.step()
        got = [p.detach().cpu().numpy() for p in params]
    for a, b in zip(got, want[-1]):
        np.testing.assert_array_equal(a, b)


def test_both_formulations_update_parameters_and_state_in_place():
    """The fused op's outputs are donated: each is written over the parameter or state array
    it replaces when the old value is dead, so a step keeps one copy of parameters and state.
    fused=False asks for the elementwise update, whose fused kernels write into the same arrays
    (the planner pairs each output with the array of the tensor it rebinds, never with the
    gradient, which `p.grad` still holds); both give the same values."""
    donations = {}
    for fused in (None, False):
        params = _init(lf, np.float32)[:2]
        opt = lf.optim.Adam(params, lr=0.01, fused=fused)
        def addresses(params=params, opt=opt):
            return [t._node.data.ctypes.data for p in params
                    for t in (p, opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"])]

        for step, gs in enumerate(_grads(np.float32)):
            for p, g in zip(params, gs):
                p.grad = lf.tensor(g)
            if step == 1:
                lf.debug.reset_metrics()
            before = addresses() if step >= 1 else None
            opt.step(barrier=False)
            if step == 0:
                ir = lf.debug.inspect(*params).optimized_ir
                assert ("adam_update" in ir) == (fused is None)
            lf.mark_step()
            if before is not None:       # every array is updated in place
                assert addresses() == before
        donations[fused] = lf.debug.counter_value("Donation")
        assert opt.state_dict()["param_groups"][0]["fused"] is fused
        if fused is None:
            want = [p.detach().numpy().copy() for p in params]
    steps = len(_grads(np.float32)) - 1
    assert donations == {None: 6 * steps, False: 6 * steps}
    for got, exp in zip((p.detach().numpy() for p in params), want):
        np.testing.assert_array_equal(got, exp)


def test_an_array_still_held_is_never_overwritten():
    """Donation is checked at run time: a numpy view of the old parameter or state that the
    user still holds keeps its values (the step writes a new array instead). A detached
    tensor shares the parameter's storage, as in torch, so it sees the update."""
    params = _init(lf, np.float32)[:1]
    opt = lf.optim.Adam(params, lr=0.01)
    grads = _grads(np.float32)
    params[0].grad = lf.tensor(grads[0][0])
    opt.step()
    detached = params[0].detach()
    old_view = params[0].detach().numpy()
    old_avg = opt.state[params[0]]["exp_avg"].numpy()
    keep = [old_view.copy(), old_avg.copy()]
    params[0].grad = lf.tensor(grads[1][0])
    opt.step()
    assert not np.array_equal(params[0].detach().numpy(), keep[0])
    np.testing.assert_array_equal(old_view, keep[0])
    np.testing.assert_array_equal(old_avg, keep[1])
    np.testing.assert_array_equal(detached.numpy(), params[0].detach().numpy())


def test_donation_only_writes_each_output_over_the_input_it_replaces():
    """The memory plan pairs output k with the op's declared input (param, exp_avg,
    exp_avg_sq), never with the gradient, even when the gradient is as dead and as shaped."""
    from lazyflow.ir.graph import build_graph
    from lazyflow.passes import default_pipeline
    params, state = _pending_update("Adam", dict(lr=0.01))
    g = build_graph(capture([t._value() for t in params + state]))
    default_pipeline().run(g)
    plan = g.memory_plan
    slot_of = {}
    for n in g.nodes:
        if n.op == "adam_update":
            for k, j in enumerate((0, 2, 3)):
                slot_of[(id(n), k)] = n.inputs[j].attr("slot")
    assert len(plan.donations) == len(slot_of)
    for slot, tok in plan.donations:
        assert slot_of[tok] == slot


def test_large_parameters_keep_the_in_place_elementwise_update(monkeypatch):
    """Above the fusion pass's blocking size a parameter's update stays elementwise (a blocked
    in-place kernel on two threads); smaller parameters of the same optimizer use the fused
    op."""
    from lazyflow.codegen import fused_runtime
    monkeypatch.setattr(fused_runtime, "SMALL", 100)
    rng = np.random.default_rng(5)
    small = lf.tensor(rng.standard_normal((10, 10)).astype(np.float32), requires_grad=True)
    big = lf.tensor(rng.standard_normal((11, 10)).astype(np.float32), requires_grad=True)
    opt = lf.optim.Adam([small, big], lr=0.01)
    for p in (small, big):
        p.grad = lf.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
    opt.step(barrier=False)
    assert "adam_update" in lf.debug.inspect(small).optimized_ir
    assert "adam_update" not in lf.debug.inspect(big).optimized_ir
    lf.mark_step()
