"""The step barrier and laziness: one graph execution per optimizer.step(), bounded compiles
under a changing lr schedule and dropout, no pending graph left on parameters, opting out."""

import numpy as np
import pytest

import lazyflow as lf


def _model(seed=0):
    rng = np.random.default_rng(seed)
    w1 = lf.tensor(rng.standard_normal((6, 16)).astype(np.float32) * 0.3, requires_grad=True)
    b1 = lf.zeros(16, requires_grad=True)
    w2 = lf.tensor(rng.standard_normal((16, 3)).astype(np.float32) * 0.3, requires_grad=True)
    b2 = lf.zeros(3, requires_grad=True)
    return [w1, b1, w2, b2]


def _forward(params, x, p_drop=0.25):
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).relu()
    keep = (lf.rand_like(h) > p_drop).float()          # dropout: a fresh mask every step
    h = h * keep / (1 - p_drop)
    return h @ w2 + b2


def _batch(rng):
    x = lf.tensor(rng.standard_normal((32, 6)).astype(np.float32))
    y = lf.tensor(rng.standard_normal((32, 3)).astype(np.float32))
    return x, y


@pytest.mark.parametrize("opt_name,sched", [
    ("Adam", lambda o: lf.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=50)),
    ("SGD", lambda o: lf.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=1e-3)),
    ("RAdam", lambda o: lf.optim.lr_scheduler.ExponentialLR(o, gamma=0.97)),
    ("Adadelta", lambda o: lf.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.9)),
    ("Rprop", lambda o: lf.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.9)),
    ("ASGD", lambda o: lf.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.9)),
])
def test_fifty_steps_compile_a_bounded_number_of_times(opt_name, sched):
    params = _model()
    kw = dict(lr=0.02, momentum=0.9) if opt_name == "SGD" else dict(lr=0.02)
    opt = getattr(lf.optim, opt_name)(params, **kw)
    scheduler = sched(opt)
    rng = np.random.default_rng(1)
    lf.mark_step()
    lf.debug.reset_metrics()
    compiles, lrs = [], []
    for _ in range(50):
        x, y = _batch(rng)
        opt.zero_grad()
        loss = ((_forward(params, x) - y) ** 2).mean()
        loss.backward()
        before = lf.debug.counter_value("Execute")
        opt.step()
        assert lf.debug.counter_value("Execute") == before + 1      # one graph per step
        assert loss._pending_node() is None                          # the loss came along
        scheduler.step()
        lrs.append(opt.param_groups[0]["lr"])
        compiles.append(lf.debug.counter_value("UncachedCompile"))
    assert len(set(lrs)) > 10                                        # the lr really changed
    # the first step's program is the steady-state one (state starts realized): one compile,
    # except RAdam, whose rectified update (from step 6 with the default betas) is a 2nd program
    assert compiles[-1] == compiles[9] == (2 if opt_name == "RAdam" else 1), compiles
    assert lf.debug.counter_value("Execute") == 50
    for p in params:
        assert p._pending_node() is None and p.is_leaf and p.requires_grad
        assert p.grad._pending_node() is None
    for st in opt.state.values():
        for v in st.values():
            assert not isinstance(v, lf.Tensor) or v._pending_node() is None


def test_changing_lr_and_betas_never_recompiles():
    params = _model()
    opt = lf.optim.Adam(params, lr=0.01)
    rng = np.random.default_rng(2)

    def step():
        x, y = _batch(rng)
        opt.zero_grad()
        ((_forward(params, x) - y) ** 2).mean().backward()
        opt.step()

    for _ in range(3):
        step()
    n = lf.debug.counter_value("UncachedCompile")
    for lr, beta1 in [(0.5, 0.8), (1e-4, 0.95), (3.0, 0.6), (0.02, 0.9)]:
        opt.param_groups[0]["lr"] = lr
        opt.param_groups[0]["betas"] = (beta1, 0.999)
        step()
    assert lf.debug.counter_value("UncachedCompile") == n


def test_update_graph_size_does_not_grow():
    params = _model()
    lf.mark_step()                      # materialize the initial (zeros) biases
    opt = lf.optim.Adam(params, lr=0.01)
    rng = np.random.default_rng(3)
    sizes = []
    for _ in range(6):
        x, y = _batch(rng)
        opt.zero_grad()
        ((_forward(params, x) - y) ** 2).mean().backward()
        opt.step(barrier=False)
        sizes.append(lf.debug.inspect(*params).num_nodes)
        lf.mark_step()
    assert sizes[0] == sizes[-1]        # the same program from the first step on


def test_opting_out_of_the_barrier():
    params = _model()
    opt = lf.optim.SGD(params, lr=0.1, momentum=0.9)
    x, y = _batch(np.random.default_rng(4))
    ((_forward(params, x) - y) ** 2).mean().backward()
    lf.debug.reset_metrics()
    opt.step(barrier=False)
    assert lf.debug.counter_value("Execute") == 0
    assert all(p._pending_node() is not None for p in params)
    lf.mark_step()
    assert lf.debug.counter_value("Execute") == 1
    assert all(p._pending_node() is None for p in params)

    opt.barrier = False
    ((_forward(params, x) - y) ** 2).mean().backward()
    opt.step()
    assert lf.debug.counter_value("Execute") == 1
    lf.optimizer_step(opt, barrier=True)                # torch_xla style: step + mark_step
    assert lf.debug.counter_value("Execute") == 2
    ((_forward(params, x) - y) ** 2).mean().backward()
    lf.optimizer_step(opt, barrier=False)
    assert lf.debug.counter_value("Execute") == 2
    lf.mark_step()
    assert lf.debug.counter_value("Execute") == 3


def test_two_optimizers_share_one_graph_without_barrier():
    a, b = _model(0), _model(1)
    opt_a = lf.optim.Adam(a, lr=0.01)
    opt_b = lf.optim.SGD(b, lr=0.01)
    x, y = _batch(np.random.default_rng(5))
    (((_forward(a, x) - y) ** 2).mean() + ((_forward(b, x) - y) ** 2).mean()).backward()
    lf.debug.reset_metrics()
    opt_a.step(barrier=False)
    opt_b.step()                   # its barrier materializes both updates together
    assert lf.debug.counter_value("Execute") == 1
    assert all(p._pending_node() is None for p in a + b)


def test_closure_loss_is_materialized_by_the_step():
    params = _model()
    opt = lf.optim.Adam(params, lr=0.01)
    x, y = _batch(np.random.default_rng(6))

    def closure():
        opt.zero_grad()
        loss = ((_forward(params, x) - y) ** 2).mean()
        loss.backward()
        return loss

    lf.debug.reset_metrics()
    loss = opt.step(closure)
    assert lf.debug.counter_value("Execute") == 1
    assert loss._pending_node() is None and np.isfinite(loss.item())
    assert lf.debug.counter_value("Execute") == 1       # item() after the step is free


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                         ("RMSprop", dict(lr=0.01, momentum=0.5)),
                                         ("Adamax", dict(lr=0.01)),
                                         ("Adam", dict(lr=0.01, fused=False))])
def test_parameters_and_state_keep_their_arrays(name, kwargs):
    """Each update is written into the array of the tensor it rebinds (the parameter's own,
    its state's own), not into another dead input's: the gradient, which p.grad still holds,
    sorts first in the graph and would block the write at run time."""
    rng = np.random.default_rng(3)
    params = [lf.tensor(rng.standard_normal((5, 4)).astype(np.float32), requires_grad=True),
              lf.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)]
    opt = getattr(lf.optim, name)(params, **kwargs)

    def arrays():
        return [t._node.data.ctypes.data for p in params
                for t in [p] + [v for v in opt.state[p].values()
                                if isinstance(v, lf.Tensor) and v.dim() > 0]]

    for step in range(4):
        for p in params:                 # gradients first: they take the low input slots
            p.grad = lf.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
        before = arrays() if step else None
        opt.step()
        if before is not None:
            assert arrays() == before


def test_a_tensors_in_place_op_reuses_its_own_array():
    other = lf.tensor(np.ones((64, 64), np.float32))
    x = lf.tensor(np.zeros((64, 64), np.float32))
    lf.mark_step()
    address = x._node.data.ctypes.data
    x.add_(other * 2)                    # `other` is read first and is alive: not a candidate
    lf.mark_step()
    assert x._node.data.ctypes.data == address and float(x.sum()) == 64 * 64 * 2


def test_a_chain_of_in_place_ops_lands_in_the_first_array():
    other = lf.tensor(np.ones((32, 32), np.float32))
    x = lf.tensor(np.zeros((32, 32), np.float32))
    lf.mark_step()
    address = x._node.data.ctypes.data
    x.copy_(other * 2 + x)               # `other` first in the graph, and alive
    x.mul_(3)                            # the value x started the step with is the target
    lf.mark_step()
    assert x._node.data.ctypes.data == address and float(x.sum()) == 32 * 32 * 6
