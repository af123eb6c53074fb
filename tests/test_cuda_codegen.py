"""CUDA code generation on any machine: the source `inspect(..., backend="cuda")` shows, kernel
naming and counts, strided/broadcast indexing, 32/64-bit index choice, vectorized loads, and
fusion nodes (docs/fusion-ir.md) of every kind run through the emulated launch plan."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lazyflow as lf
from lazyflow.debug import inspect
from lazyflow.ir import dtypes as D
from lazyflow.ir.graph import Graph
from lazyflow.ir.node import Node
from lazyflow.ir.registry import ELEMENTWISE, OPS
from lazyflow.runtime.cuda_emulation import emulation_available


def _kernels(code: str) -> list:
    return re.findall(r'extern "C" __global__ void (\w+)\(', code)


def test_inspect_cuda_source_without_gpu():
    x = lf.tensor(np.ones((128, 512), np.float32))
    b = lf.tensor(np.ones(512, np.float32))
    r = inspect((x + b).relu(), backend="cuda")
    assert r.backend == "cuda"
    assert r.code.splitlines()[0].startswith("// lazyflow CUDA translation unit")
    assert '#include "lazyflow_cuda.h"' in r.code and '#include "lazyflow_device.h"' in r.code
    assert _kernels(r.code) == ["fused_loop_add_relu_2"] and r.num_kernels == 1
    # the IR ops the kernel covers, numbered as in the fusion body of optimized_ir
    assert "//   %2.2 = f32[128,512] add(%2.0, %2.1)\n//   %2.3 = f32[128,512] relu(%2.2)" in r.code
    assert "INFINITY" not in r.code


def test_unfused_graphs_get_one_kernel_per_op(monkeypatch):
    monkeypatch.setenv("LAZYFLOW_OPT", "0")
    x = lf.tensor(np.ones((128, 512), np.float32))
    b = lf.tensor(np.ones(512, np.float32))
    r = inspect((x + b).relu(), backend="cuda")
    assert _kernels(r.code) == ["loop_add_2", "loop_relu_3"] and r.num_kernels == 2
    assert "//   %2 = f32[128,512] add(%0, %1)" in r.code


def test_every_elementwise_op_has_a_cuda_template():
    import lazyflow.codegen.cuda  # noqa: F401 - attaches the templates
    missing = [name for name, op in OPS.items() if op.kind == ELEMENTWISE and op.cuda is None]
    assert missing == []


def test_views_launch_nothing_and_read_through_strides():
    x = lf.ones(6, 10)
    r = inspect(x.t()[1:, ::3] * 2.0, backend="cuda")
    assert _kernels(r.code) == ["loop_full_1", "loop_mul_5"]
    # the mul kernel reads the transposed, sliced view through its strides: no copy kernel
    # x.t() has strides (1, 10); [1:, ::3] starts 1 element in and steps 30 along dim 1
    assert "in0[1 + (i / (int)2) + (i % (int)2) * (int)30]" in r.code


def test_index_width_follows_the_size():
    small = inspect(lf.ones(1000) + 1.0, backend="cuda").code
    assert "for (int i" in small
    big = lf.ones(1).expand(2 ** 31 + 4) + 1.0
    assert "for (long long i" in inspect(big, backend="cuda").code


def test_contiguous_float_loops_use_float4_and_others_do_not():
    x = lf.ones(64, 64)
    vec = inspect(x * 3.0, backend="cuda").code
    assert "float4 vectorized" in vec and "reinterpret_cast<const float4*>" in vec
    odd = inspect(lf.ones(63) * 3.0, backend="cuda").code
    assert "float4" not in odd.split("loop_mul")[1]
    half = inspect(lf.tensor(np.ones(64, np.float16)) * 3.0, backend="cuda").code
    half_kernels = [k for k in half.split("\n// ")[1:] if "__half" in k]
    assert half_kernels and all("float4" not in k for k in half_kernels)


def test_reductions_use_warp_shuffles_and_block_reduce():
    x = lf.tensor(np.ones((8, 100), np.float32))
    code = inspect(x.sum(1), x.softmax(-1), backend="cuda").code
    # sibling fusion: the sum and the softmax share one pass structure over x's rows
    assert _kernels(code) == ["fused_row_sum_softmax_1"]
    assert "lf_block_reduce" in code and "lf_op_max" in code and "lf_op_sum" in code
    hdr = open(lf.codegen.cuda.INCLUDE_DIR + "/lazyflow_device.h").read()
    assert "__shfl_xor_sync" in hdr and "__shared__" in hdr and "INFINITY" not in hdr


def test_library_ops_are_listed_in_the_launch_plan():
    a, b = lf.ones(4, 5), lf.ones(5, 3)
    code = inspect((a @ b).cumsum(0), backend="cuda").code
    assert "library matmul(%1, %2) via cupy.matmul (cuBLAS)" in code
    assert "library cumsum" in code


def test_inspect_is_lazy_and_the_graph_stays_pending():
    x = lf.ones(3) * 2.0
    lf.debug.reset_metrics()
    inspect(x, backend="cuda")
    assert lf.debug.counter_value("Execute") == 0
    assert x._node.data is None


# ----------------------------------------------------------------------------- fusion nodes
def _param(i, shape, dt=D.float32):
    return Node("param", (), (("index", i),), shape, dt)


def _fusion(kind, inputs, body_nodes, outputs):
    body = Graph(body_nodes, outputs, 0, name="body")
    o = outputs[0]
    return Node("fusion", tuple(inputs), (("kind", kind), ("body", body)), o.shape, o.dtype)


def _fused_graph():
    f32 = D.float32
    x = Node("input", (), (("slot", 0),), (5, 7), f32)
    b = Node("input", (), (("slot", 1),), (7,), f32)
    w = Node("input", (), (("slot", 2),), (7, 3), f32)
    bias = Node("input", (), (("slot", 3),), (3,), f32)
    # loop, two outputs: relu(x + b) and its square
    p0, p1 = _param(0, (5, 7)), _param(1, (7,))
    a = Node("add", (p0, p1), (), (5, 7), f32)
    r = Node("relu", (a,), (), (5, 7), f32)
    sq = Node("mul", (r, r), (), (5, 7), f32)
    loop = _fusion("loop", [x, b], [p0, p1, a, r, sq], [r, sq])
    sq_out = Node("gte", (loop,), (("index", 1),), (5, 7), f32)
    # input: sqrt(sum(x * x, dim 1))
    q0 = _param(0, (5, 7))
    m = Node("mul", (q0, q0), (), (5, 7), f32)
    s = Node("sum", (m,), (("dims", (1,)), ("keepdim", False)), (5,), f32)
    rt = Node("sqrt", (s,), (), (5,), f32)
    norm = _fusion("input", [x], [q0, m, s, rt], [rt])
    # row: layer_norm(x) * b
    l0, l1 = _param(0, (5, 7)), _param(1, (7,))
    mean = Node("mean", (l0,), (("dims", (1,)), ("keepdim", True)), (5, 1), f32)
    d = Node("sub", (l0, mean), (), (5, 7), f32)
    dd = Node("mul", (d, d), (), (5, 7), f32)
    var = Node("mean", (dd,), (("dims", (1,)), ("keepdim", True)), (5, 1), f32)
    eps = Node("constant", (), (("value", 1e-5),), (), f32)
    ve = Node("add", (var, eps), (), (5, 1), f32)
    rs = Node("rsqrt", (ve,), (), (5, 1), f32)
    y = Node("mul", (Node("mul", (d, rs), (), (5, 7), f32), l1), (), (5, 7), f32)
    body = [l0, l1, mean, d, dd, var, eps, ve, rs, y.inputs[0], y]
    ln = _fusion("row", [x, b], body, [y])
    # library: relu(x @ w + bias)
    m0, m1, m2 = _param(0, (5, 7)), _param(1, (7, 3)), _param(2, (3,))
    mm = Node("matmul", (m0, m1), (), (5, 3), f32)
    ep = Node("relu", (Node("add", (mm, m2), (), (5, 3), f32),), (), (5, 3), f32)
    lib = _fusion("library", [x, w, bias], [m0, m1, m2, mm, ep.inputs[0], ep], [ep])
    nodes = [x, b, w, bias, loop, sq_out, norm, ln, lib]
    return Graph(nodes, [loop, sq_out, norm, ln, lib], 4, name="g_fused")


def _fused_reference(xv, bv, wv, biasv):
    r = np.maximum(xv + bv, 0)
    mu = xv.mean(1, keepdims=True)
    var = ((xv - mu) ** 2).mean(1, keepdims=True)
    return [r, r * r, np.sqrt((xv * xv).sum(1)), (xv - mu) / np.sqrt(var + 1e-5) * bv,
            np.maximum(xv @ wv + biasv, 0)]


def test_fusion_nodes_of_every_kind_generate_one_kernel_each():
    from lazyflow.codegen.cuda import generate
    plan = generate(_fused_graph())
    assert plan.kernels[:3] == ["fused_loop_add_relu_mul_4", "fused_input_mul_sum_sqrt_6",
                                "fused_row_mean_sub_mul_add_etc_7"]
    assert plan.kernels[3].startswith("fused_library_add_relu_8")
    assert plan.num_kernels == 5   # 4 kernels + the cuBLAS call
    assert "library matmul" in plan.source


@pytest.mark.skipif(not emulation_available(), reason="CUDA emulator not installed")
def test_fusion_nodes_run_through_the_emulated_launch_plan():
    from lazyflow.codegen.cuda import execute, generate
    from lazyflow.runtime.cuda_emulation import EmulatedRuntime
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal(s).astype(np.float32) for s in ((5, 7), (7,), (7, 3), (3,))]
    outs = execute(generate(_fused_graph()), vals, EmulatedRuntime())
    for got, want in zip(outs, _fused_reference(*vals)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_independent_loop_groups_share_one_multi_tensor_launch(monkeypatch):
    a = lf.tensor(np.ones((4, 3), np.float32))
    b = lf.tensor(np.ones(5, np.float32))
    code = inspect(a * 2.0, (b + 1.0).exp(), backend="cuda").code
    assert _kernels(code) == ["multi2_loop_mul_2"]
    assert "if (t < 12) {" in code and "const int i1 = t - 12;" in code
    # unfused, a dependent group waits for its producer: two launches
    monkeypatch.setenv("LAZYFLOW_OPT", "0")
    assert _kernels(inspect((a * 2.0) + 1.0, backend="cuda").code) == ["loop_mul_2", "loop_add_4"]


@pytest.mark.skipif(not emulation_available(), reason="CUDA emulator not installed")
def test_adam_step_updates_every_parameter_in_one_launch():
    from lazyflow.runtime.cuda_emulation import emulated_cuda
    with emulated_cuda():
        ps = [lf.tensor(np.ones(s, np.float32), device="cuda").requires_grad_()
              for s in [(5, 3), (7,), (2, 2, 9)]]
        opt = lf.optim.Adam(ps, lr=0.01)
        sum((p * p).sum() for p in ps).backward()
        lf.mark_step()
        lf.debug.reset_metrics()
        opt.step()
        assert lf.debug.counter_value("Execute") == 1
        assert lf.debug.counter_value("KernelLaunch") == 1


@pytest.mark.parametrize("op, args, attrs", [
    ("matmul", [(3, 4), (4, 5)], {}),
    ("matmul_t", [(4, 3), (5, 4)], {"transpose_a": True, "transpose_b": True}),
    ("einsum", [(3, 4), (4, 5)], {"equation": "ij,jk->ik"}),
    ("cumsum", [(3, 4)], {"dim": 1}),
    ("cumprod", [(3, 4)], {"dim": 0}),
    ("flip", [(3, 4)], {"dims": (0, 1)}),
    ("tril", [(4, 4)], {"diagonal": -1}),
    ("triu", [(4, 4)], {"diagonal": 1}),
    ("cat", [(2, 3), (4, 3)], {"dim": 0}),
    ("roll", [(3, 4)], {"shifts": (1, -2), "dims": (0, 1)}),
])
def test_cupy_library_mappings_match_the_reference_implementations(op, args, attrs):
    """The CuPy calls take numpy's signatures: run each mapping with numpy as the array module
    and compare with the registry implementation the numpy backend uses."""
    from lazyflow.codegen.cuda.library import CUPY_LIBRARY
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in args]
    got = CUPY_LIBRARY[op][1](np, *arrays, **attrs)
    np.testing.assert_allclose(got, OPS[op].impl(*arrays, **attrs), rtol=1e-6, atol=1e-6)


def test_inspect_for_cuda_runs_the_passes_for_cuda():
    a, b = lf.tensor(np.ones((4, 5), np.float32)), lf.tensor(np.ones((3, 5), np.float32))
    assert "matmul_t" in inspect(a @ b.t()).optimized_ir          # CPU: transpose folded
    r = inspect(a @ b.t(), backend="cuda")
    assert "matmul_t" not in r.optimized_ir and "library matmul" in r.code


def test_long_full_reductions_run_in_two_stages():
    x = lf.tensor(np.ones((300, 1001), np.float32))
    code = inspect(x.mean() * 2.0, backend="cuda").code
    assert _kernels(code) == ["fused_input_mean_mul_2_partial", "fused_input_mean_mul_2_combine"]
    assert "<<<147, 256>>>" in code   # 300300 elements in chunks of 2048, one block each
    small = inspect(lf.tensor(np.ones(1000, np.float32)).sum(), backend="cuda").code
    assert "_partial" not in small
