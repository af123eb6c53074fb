"""lazyflow.testing.assert_close against torch.testing.assert_close: the same verdicts and
the same messages on the same inputs."""

import numpy as np
import pytest
import torch

import lazyflow as lf

NAN, INF = float("nan"), float("inf")

CASES = {   # name -> (fn(lib) -> (actual, expected), kwargs)
    "equal": (lambda L: (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0])), {}),
    "within_tol": (lambda L: (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0000005])), {}),
    "not_close": (lambda L: (L.tensor([1.0, 2.0, 3.0]), L.tensor([1.0, 2.1, 3.0])), {}),
    "2d": (lambda L: (L.tensor([[1.0, 2.0], [3.0, 4.0]]), L.tensor([[1.0, 2.0], [3.0, 4.5]])),
           {}),
    "dtype": (lambda L: (L.tensor([1.0]), L.tensor([1.0], dtype=L.float64)), {}),
    "dtype_unchecked": (lambda L: (L.tensor([1, 2]), L.tensor([1.0, 2.0])),
                        {"check_dtype": False}),
    "shape": (lambda L: (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.0, 3.0])), {}),
    "ints": (lambda L: (L.tensor([1, 2]), L.tensor([1, 3])), {}),
    "bools": (lambda L: (L.tensor([True]), L.tensor([False])), {}),
    "nan": (lambda L: (L.tensor([NAN]), L.tensor([NAN])), {}),
    "nan_equal": (lambda L: (L.tensor([NAN, 1.0]), L.tensor([NAN, 1.0])), {"equal_nan": True}),
    "inf": (lambda L: (L.tensor([1.0, INF]), L.tensor([1.0, INF])), {}),
    "half": (lambda L: (L.tensor([1.0, 2.0]).half(), L.tensor([1.0, 2.001]).half()), {}),
    "scalar_tensor": (lambda L: (L.tensor(2.0), L.tensor(2.5)), {}),
    "scalar_int_tensor": (lambda L: (L.tensor(2), L.tensor(3)), {}),
    "explicit_tol": (lambda L: (L.tensor([1.0, 2.0]), L.tensor([1.0, 2.1])),
                     {"rtol": 0.1, "atol": 0.0}),
    "one_tol": (lambda L: (L.tensor([1.0]), L.tensor([1.0])), {"rtol": 1e-3}),
    "list": (lambda L: ([L.tensor(1.0), L.tensor(2.0)], [L.tensor(1.0), L.tensor(2.5)]), {}),
    "dict": (lambda L: ({"a": L.tensor([1.0])}, {"a": L.tensor([1.5])}), {}),
    "dict_keys": (lambda L: ({"a": 1}, {"b": 1}), {}),
    "seq_len": (lambda L: ([1.0, 2.0], [1.0, 2.0, 3.0]), {}),
    "numbers": (lambda L: (1, 2), {}),
    "number_types": (lambda L: (1, 1.0), {}),
    "floats": (lambda L: (1.0, 1.0 + 1e-9), {}),
    "numpy": (lambda L: (np.array([1.0, 2.0]), np.array([1.0, 2.5])), {}),
    "mixed": (lambda L: (L.tensor([1.0, 2.0]), [1.0, 2.0]), {}),
    "msg": (lambda L: (L.tensor([1.0]), L.tensor([2.0])), {"msg": "custom"}),
    "msg_callable": (lambda L: (L.tensor([1.0]), L.tensor([2.0])),
                     {"msg": lambda m: "X" + m[:12]}),
}


def _outcome(lib, name):
    make, kwargs = CASES[name]
    actual, expected = make(lib)
    try:
        lib.testing.assert_close(actual, expected, **kwargs)
    except Exception as e:  # noqa: BLE001
        return type(e), str(e).replace("torch.", "lazyflow.")
    return None, None


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdicts_and_messages_match_torch(name):
    want, got = _outcome(torch, name), _outcome(lf, name)
    assert got[0] is want[0]
    if want[0] is TypeError:          # names the argument types: lazyflow's, not torch's
        assert got[1].startswith("No comparison pair was able to handle inputs of type")
    else:
        assert got[1] == want[1]
