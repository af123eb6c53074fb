"""Creation ops, attributes and conversions vs torch (values, shapes, dtypes)."""

import numpy as np
import pytest
import torch
from parity import check, check_raises

import lazyflow as lf

CREATE = {
    "tensor_floats": lambda t: t.tensor([[1.0, 2.5], [3.0, -4.0]]),
    "tensor_ints": lambda t: t.tensor([1, 2, 3]),
    "tensor_bools": lambda t: t.tensor([True, False]),
    "tensor_mixed": lambda t: t.tensor([1, 2.5, True]),
    "tensor_int_bool": lambda t: t.tensor([1, True]),
    "tensor_scalar": lambda t: t.tensor(3.5),
    "tensor_int_scalar": lambda t: t.tensor(7),
    "tensor_empty": lambda t: t.tensor([]),
    "tensor_empty_nested": lambda t: t.tensor([[], []]),
    "tensor_dtype": lambda t: t.tensor([1, 2], dtype=t.float64),
    "tensor_float_to_int": lambda t: t.tensor([1.7, -2.7], dtype=t.int32),
    "tensor_of_tensors": lambda t: t.tensor([t.tensor(1.0), t.tensor(2.0)]),
    "tensor_numpy_f64": lambda t: t.tensor(np.array([1.0, 2.0])),
    "tensor_numpy_i32": lambda t: t.tensor(np.array([1, 2], np.int32)),
    "tensor_numpy_scalar": lambda t: t.tensor(np.float32(2.5)),
    "tensor_tuple": lambda t: t.tensor(((1, 2), (3, 4))),
    "as_tensor": lambda t: t.as_tensor([1.0, 2.0], dtype=t.float64),
    "as_tensor_np": lambda t: t.as_tensor(np.arange(3)),
    "asarray": lambda t: t.asarray([1, 2]),
    "from_numpy": lambda t: t.from_numpy(np.arange(6.0).reshape(2, 3)),
    "from_numpy_bool": lambda t: t.from_numpy(np.array([True, False])),
    "FloatTensor": lambda t: t.FloatTensor([1, 2]),
    "LongTensor": lambda t: t.LongTensor([1.0, 2.0]),
    "IntTensor": lambda t: t.IntTensor([1, 2]),
    "DoubleTensor": lambda t: t.DoubleTensor([1, 2]),
    "BoolTensor": lambda t: t.BoolTensor([1, 0]),
    "Tensor_data": lambda t: t.Tensor([1, 2]),
    "Tensor_size": lambda t: t.Tensor(2, 3).zero_(),
    "zeros": lambda t: t.zeros(2, 3),
    "zeros_tuple": lambda t: t.zeros((2, 3), dtype=t.int32),
    "zeros_size": lambda t: t.zeros(t.Size([2, 1])),
    "zeros_0d": lambda t: t.zeros(()),
    "zeros_empty": lambda t: t.zeros(0, 3),
    "ones": lambda t: t.ones(3, dtype=t.bool),
    "ones_list": lambda t: t.ones([2, 2], dtype=t.float64),
    "full": lambda t: t.full((2, 3), 1.5),
    "full_int": lambda t: t.full((2,), 7),
    "full_bool": lambda t: t.full((2,), True),
    "full_dtype": lambda t: t.full((2,), 7, dtype=t.float32),
    "full_inf": lambda t: t.full((2,), float("-inf")),
    "empty": lambda t: t.empty(2, 3).zero_(),
    "zeros_like": lambda t: t.zeros_like(t.ones(2, 3, dtype=t.int64)),
    "ones_like_dtype": lambda t: t.ones_like(t.ones(2), dtype=t.float64),
    "full_like": lambda t: t.full_like(t.ones(2, 2), 3),
    "full_like_int": lambda t: t.full_like(t.ones(2, dtype=t.int64), 3.7),
    "empty_like": lambda t: t.empty_like(t.ones(3)).fill_(1),
    "arange": lambda t: t.arange(5),
    "arange_start": lambda t: t.arange(2, 9, 3),
    "arange_float": lambda t: t.arange(0, 1, 0.1),
    "arange_neg": lambda t: t.arange(5, 0, -1.5),
    "arange_dtype": lambda t: t.arange(4, dtype=t.float64),
    "arange_float_end": lambda t: t.arange(3.5),
    "arange_empty": lambda t: t.arange(3, 3),
    "arange_tensor_args": lambda t: t.arange(t.tensor(4)),
    "linspace": lambda t: t.linspace(0, 1, 5),
    "linspace_rev": lambda t: t.linspace(3, -2, 7),
    "linspace_one": lambda t: t.linspace(2, 5, 1),
    "linspace_zero": lambda t: t.linspace(2, 5, 0),
    "linspace_int": lambda t: t.linspace(0, 10, 4, dtype=t.int64),
    "linspace_many": lambda t: t.linspace(-1.3, 2.9, 101),
    "logspace": lambda t: t.logspace(0, 2, 3),
    "logspace_base": lambda t: t.logspace(0, 3, 4, base=2),
    "eye": lambda t: t.eye(3),
    "eye_rect": lambda t: t.eye(2, 4, dtype=t.int64),
    "eye_0": lambda t: t.eye(0),
    "scalar_tensor": lambda t: t.scalar_tensor(2.5),
    "scalar_tensor_int": lambda t: t.scalar_tensor(2, dtype=t.int64),
    "new_zeros": lambda t: t.ones(2, dtype=t.float64).new_zeros(3),
    "new_ones": lambda t: t.ones(2, dtype=t.int32).new_ones((2, 2)),
    "new_full": lambda t: t.ones(2).new_full((2,), 4),
    "new_tensor": lambda t: t.ones(2, dtype=t.float64).new_tensor([1, 2]),
    "new_empty": lambda t: t.ones(2).new_empty(3).zero_(),
}


@pytest.mark.parametrize("name", sorted(CREATE))
def test_creation(name):
    check(CREATE[name], lib=True, forward_only=True)


def test_creation_requires_grad():
    for mk in (lambda t: t.zeros(2, requires_grad=True), lambda t: t.ones(2, requires_grad=True),
               lambda t: t.tensor([1.0], requires_grad=True),
               lambda t: t.full((2,), 1.0, requires_grad=True),
               lambda t: t.arange(3.0, requires_grad=True),
               lambda t: t.linspace(0, 1, 3, requires_grad=True),
               lambda t: t.eye(2, requires_grad=True), lambda t: t.randn(2, requires_grad=True),
               lambda t: t.rand(2, requires_grad=True)):
        a, b = mk(lf), mk(torch)
        assert a.requires_grad == b.requires_grad and a.is_leaf == b.is_leaf
        assert a.grad_fn is None
    check_raises(lambda t: t.tensor([1, 2], requires_grad=True), RuntimeError)
    check_raises(lambda t: t.zeros(2, dtype=t.int64, requires_grad=True), RuntimeError)


def test_creation_errors():
    for fn, exc in [
        (lambda t: t.zeros(-1), RuntimeError),
        (lambda t: t.zeros(2, 2.5), TypeError),
        (lambda t: t.arange(0, 5, 0), RuntimeError),
        (lambda t: t.arange(5, 0, 1), RuntimeError),
        (lambda t: t.linspace(0, 1, -1), RuntimeError),
        (lambda t: t.eye(-1), RuntimeError),
        (lambda t: t.tensor([[1, 2], [3]]), ValueError),
        (lambda t: t.tensor("abc"), TypeError),
        (lambda t: t.from_numpy([1, 2]), TypeError),
        (lambda t: t.full((2,), float("inf"), dtype=t.int64), RuntimeError),
        (lambda t: t.zeros(2, device="nope"), RuntimeError),
    ]:
        check_raises(fn, exc)
    assert lf.debug.counter_value("Execute") == 0
    with pytest.raises(TypeError):  # no complex dtypes in lazyflow (torch has them)
        lf.from_numpy(np.array([1 + 2j]))


def test_from_numpy_copies():
    a = np.arange(3.0)
    t = lf.from_numpy(a)
    a[0] = 100.0
    assert t.tolist() == [0.0, 1.0, 2.0]  # lazyflow copies (documented), torch shares
    n = t.numpy()
    n[1] = -5.0
    assert t.tolist() == [0.0, 1.0, 2.0]  # numpy() returns a copy too
    assert t.numpy().dtype == np.float64


def test_creation_is_lazy():
    x = lf.zeros(3) + lf.ones(3) * lf.arange(3.0) + lf.eye(3)[0] + lf.linspace(0, 1, 3)
    assert lf.debug.counter_value("Execute") == 0
    assert x.tolist() == [1.0, 1.5, 3.0]
    assert lf.debug.counter_value("Execute") == 1


ATTRS = ["shape", "dtype", "ndim", "is_floating_point", "is_leaf", "requires_grad",
         "element_size", "numel", "dim", "is_cuda", "is_complex", "is_signed"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64",
                                   "int32", "int16", "int8", "uint8", "bool"])
def test_attributes(dtype):
    a = lf.ones(2, 3, dtype=getattr(lf, dtype))
    b = torch.ones(2, 3, dtype=getattr(torch, dtype))
    for name in ATTRS:
        va, vb = getattr(a, name), getattr(b, name)
        if callable(va):
            va, vb = va(), vb()
        if name == "dtype":
            va, vb = str(va).split(".")[-1], str(vb).split(".")[-1]
        assert va == vb or (name == "shape" and tuple(va) == tuple(vb)), (name, va, vb)
    assert a.type() == b.type().replace("torch", "lazyflow")
    assert str(a.device) == "cpu" and a.device == lf.device("cpu") and a.device.type == "cpu"
    assert a.is_cpu and repr(a.device) == repr(b.device)
    assert (a.dtype.is_floating_point == b.dtype.is_floating_point)
    assert a.dtype.itemsize == b.dtype.itemsize


CONVERSIONS = {
    "float": lambda x: x.float(), "double": lambda x: x.double(), "half": lambda x: x.half(),
    "bfloat16": lambda x: x.bfloat16(), "long": lambda x: x.long(), "int": lambda x: x.int(),
    "short": lambda x: x.short(), "char": lambda x: x.char(), "byte": lambda x: x.byte(),
    "bool": lambda x: x.bool(), "to_dtype": lambda x: x.to(__import__("torch").float64)
    if isinstance(x, __import__("torch").Tensor) else x.to(lf.float64),
    "to_kw": lambda x: x.to(dtype=x.dtype, device="cpu"), "cpu": lambda x: x.cpu(),
    "to_other": lambda x: x.to(x.new_zeros(1, dtype=__import__("torch").int32 if isinstance(
        x, __import__("torch").Tensor) else lf.int32)),
    "type_str": lambda x: x.type("torch.IntTensor" if isinstance(x, __import__("torch").Tensor)
                                 else "lazyflow.IntTensor"),
    "type_dtype": lambda x: x.type(__import__("torch").float16 if isinstance(
        x, __import__("torch").Tensor) else lf.float16),
    "type_as": lambda x: x.type_as(x.new_zeros(1).long()),
    "to_copy": lambda x: x.to(x.dtype, copy=True),
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_conversions(name):
    v = np.array([[-2.7, -0.5, 0.0, 0.5], [1.49, 2.5, 300.7, -129.2]], np.float32)
    fwd = name in ("long", "int", "short", "char", "byte", "bool", "type_str", "to_other",
                   "type_as")
    check(CONVERSIONS[name], vals=[v], forward_only=fwd, atol=1e-3 if "half" in name else 1e-6,
          rtol=1e-2 if name == "bfloat16" else 1e-3)


def test_int_to_float_and_bool_conversions():
    check(lambda x: (x.float(), x.bool(), x.double(), x.byte(), x.half()), [(3, 4)],
          dtype=np.int64, low=-300, high=300, forward_only=True)
    check(lambda x: (x.float(), x.long(), x.int()), [(3, 4)], dtype=np.bool_, forward_only=True)


def test_barrier_conversions():
    x = lf.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert isinstance(x.sum().item(), float) and x.sum().item() == 10.5
    assert isinstance(lf.tensor(3).item(), int) and isinstance(lf.tensor(True).item(), bool)
    assert lf.tensor([7]).item() == 7
    assert float(lf.tensor(2.5)) == 2.5 and int(lf.tensor(2.7)) == 2
    assert bool(lf.tensor([1])) and not bool(lf.tensor(0.0))
    assert [1, 2, 3][lf.tensor(1)] == 2  # __index__
    assert f"{lf.tensor(2.5):.2f}" == "2.50"
    np.testing.assert_array_equal(np.asarray(x), x.numpy())
    assert x.numpy().dtype == np.float32
    check_raises(lambda t: t.ones(2).item(), RuntimeError)
    check_raises(lambda t: bool(t.ones(2)), RuntimeError)
    check_raises(lambda t: float(t.ones(2)), ValueError)
    check_raises(lambda t: int(t.ones(2)), ValueError)
    check_raises(lambda t: t.ones(2).__index__(), TypeError)
    check_raises(lambda t: t.ones(2, requires_grad=True).numpy(), RuntimeError)
    assert lf.ones(2, requires_grad=True).detach().numpy().tolist() == [1.0, 1.0]
    assert [v.item() for v in lf.tensor([1.0, 2.0])] == [1.0, 2.0]


def test_clone_contiguous_T():
    check(lambda x: (x.clone(), x.contiguous(), x.T, x.mT), [(3, 4)])
    check(lambda x: x.T, [(2, 3, 4)])


def test_cuda_unavailable_raises():
    if lf.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(RuntimeError, match="CUDA"):
        lf.ones(2).cuda()
    with pytest.raises(RuntimeError, match="CUDA"):
        lf.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        lf.ones(2).to("cuda:0")
    assert lf.cuda.device_count() == 0
    lf.cuda.manual_seed_all(3)
    lf.cuda.manual_seed(3)


def test_device_objects():
    d = lf.device("cuda:1")
    assert d.type == "cuda" and d.index == 1 and str(d) == "cuda:1"
    assert repr(lf.device("cpu")) == repr(torch.device("cpu"))
    assert repr(d) == repr(torch.device("cuda:1"))
    assert lf.device("cpu") == "cpu"
    check_raises(lambda t: t.device("gpu"), RuntimeError)


def test_dtype_objects():
    assert lf.float is lf.float32 and lf.double is lf.float64 and lf.long is lf.int64
    assert lf.int is lf.int32 and lf.half is lf.float16 and lf.short is lf.int16
    assert repr(lf.float32) == "lazyflow.float32" and lf.bool.is_floating_point is False
    assert lf.get_default_dtype() is lf.float32
    for d in ("float32", "float64", "int64", "bool", "bfloat16"):
        assert getattr(lf, d).is_floating_point == getattr(torch, d).is_floating_point
    assert lf.finfo(lf.float32).eps == torch.finfo(torch.float32).eps
    assert lf.finfo(lf.bfloat16).eps == torch.finfo(torch.bfloat16).eps
    assert lf.iinfo(lf.int32).max == torch.iinfo(torch.int32).max
    import pickle
    assert pickle.loads(pickle.dumps(lf.float16)) is lf.float16
    t = pickle.loads(pickle.dumps(lf.tensor([1.0, 2.0], requires_grad=True)))
    assert t.tolist() == [1.0, 2.0] and t.requires_grad
