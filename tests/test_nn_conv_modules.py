"""Conv1d/2d, ConvTranspose1d/2d, LazyConv2d vs torch.nn with identical weights (loaded through
state_dict): outputs, parameter and input gradients, repr, state_dict keys, default init,
construction and shape errors."""

import re

import numpy as np
import pytest
import torch
from nn_parity import check_module, check_structure, copy_weights
from parity import assert_close, check_raises

import lazyflow as lf

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

CONV = [
    (lambda nn: nn.Conv2d(4, 6, 3), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2,
                          bias=False), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, 3, padding="same", dilation=2), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, 4, padding="same"), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, 3, padding="valid"), (4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, 3, padding=(2, 1), padding_mode="reflect"), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, 3, padding=1, padding_mode="replicate", stride=2), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 4, 3, padding=2, padding_mode="circular", groups=4), (2, 4, 7, 6)),
    (lambda nn: nn.Conv2d(4, 6, 4, padding="same", padding_mode="reflect"), (2, 4, 7, 6)),
    (lambda nn: nn.Conv1d(4, 6, 3), (2, 4, 9)),
    (lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (2, 4, 9)),
    (lambda nn: nn.Conv1d(4, 6, 3, padding=1, padding_mode="circular"), (4, 9)),
    (lambda nn: nn.ConvTranspose2d(4, 6, 3), (2, 4, 5, 6)),
    (lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5, 6)),
    (lambda nn: nn.ConvTranspose2d(4, 6, (2, 3), stride=(2, 1), dilation=2, bias=False),
     (4, 5, 6)),
    (lambda nn: nn.ConvTranspose1d(4, 6, 3, stride=3, padding=1, output_padding=2),
     (2, 4, 5)),
]


@pytest.mark.parametrize("k", range(len(CONV)))
def test_conv_module(k):
    make, shape = CONV[k]
    check_module(make, [shape], modes=("train",))


@pytest.mark.parametrize("k", range(len(CONV)))
def test_conv_structure(k):
    check_structure(CONV[k][0])


def test_conv_transpose_output_size():
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 6)).astype(np.float32)
    t_mod, l_mod = check_module(lambda nn: nn.ConvTranspose2d(4, 3, 3, stride=2), [x.shape])
    for size in ([12, 14], [2, 3, 11, 13], (11, 14)):
        want = t_mod(torch.tensor(x), output_size=size)
        got = l_mod(lf.tensor(x), output_size=size)
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-5)
    check_raises(lambda t: t.nn.ConvTranspose2d(4, 3, 3, stride=2)(t.ones(2, 4, 5, 6),
                                                                    output_size=[15, 14]),
                 ValueError)


def test_lazy_conv2d():
    mod = lf.nn.LazyConv2d(6, 3, padding=1)
    assert repr(mod) == repr(torch.nn.LazyConv2d(6, 3, padding=1))
    assert lf.nn.parameter.is_lazy(mod.weight)
    out = mod(lf.randn(2, 5, 8, 8))
    assert type(mod) is lf.nn.Conv2d
    assert tuple(mod.weight.shape) == (6, 5, 3, 3) and tuple(mod.bias.shape) == (6,)
    assert tuple(out.shape) == (2, 6, 8, 8)
    assert repr(mod) == "Conv2d(5, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    unbatched = lf.nn.LazyConv2d(4, 2, groups=2, bias=False)
    assert tuple(unbatched(lf.randn(6, 5, 5)).shape) == (4, 4, 4)
    assert tuple(unbatched.weight.shape) == (4, 3, 2, 2) and unbatched.bias is None


def test_lazy_conv2d_matches_torch_after_loading():
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    t_mod, l_mod = torch.nn.LazyConv2d(6, 3, stride=2), lf.nn.LazyConv2d(6, 3, stride=2)
    t_mod(torch.tensor(x))
    l_mod(lf.tensor(x))
    copy_weights(t_mod, l_mod)
    assert repr(l_mod) == repr(t_mod)
    assert_close(l_mod(lf.tensor(x)), t_mod(torch.tensor(x)), 1e-5, 1e-5)


@pytest.mark.parametrize("cls,args", [("Conv2d", (8, 16, 3)), ("Conv1d", (6, 4, 5)),
                                      ("ConvTranspose2d", (8, 6, 3)),
                                      ("Conv2d", (8, 16, 3, 1, 0, 1, 4))], ids=str)
def test_default_init_bounds(cls, args):
    """kaiming_uniform(a=sqrt(5)) weights and bias, both within 1/sqrt(fan_in), spread out."""
    lf.manual_seed(0)
    mod = getattr(lf.nn, cls)(*args)
    w, b = mod.weight.detach().numpy(), mod.bias.detach().numpy()
    fan_in = w.shape[1] * int(np.prod(w.shape[2:]))
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.15 * bound


CONSTRUCTION_ERRORS = {
    "groups_in": lambda t: t.nn.Conv2d(4, 6, 3, groups=3),
    "groups_out": lambda t: t.nn.Conv2d(4, 6, 3, groups=4),
    "groups_zero": lambda t: t.nn.Conv2d(4, 8, 3, groups=0),
    "same_strided": lambda t: t.nn.Conv2d(4, 6, 3, padding="same", stride=2),
    "bad_padding": lambda t: t.nn.Conv2d(4, 6, 3, padding="foo"),
    "bad_mode": lambda t: t.nn.Conv2d(4, 6, 3, padding_mode="foo"),
    "transposed_mode": lambda t: t.nn.ConvTranspose2d(4, 8, 3, padding_mode="reflect"),
}


def _sorted_sets(msg: str) -> str:
    """Set reprs in messages iterate in hash order (which differs between the set built in
    torch's compiled module and ours): compare their sorted contents."""
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}",
                  msg)


@pytest.mark.parametrize("name", list(CONSTRUCTION_ERRORS))
def test_construction_errors(name):
    exc = check_raises(CONSTRUCTION_ERRORS[name], ValueError)
    with pytest.raises(ValueError) as want:
        CONSTRUCTION_ERRORS[name](torch)
    assert _sorted_sets(str(exc)) == _sorted_sets(str(want.value))


def test_wrong_in_channels_names_expected_and_actual():
    exc = check_raises(lambda t: t.nn.Conv2d(3, 6, 3)(t.ones(2, 4, 8, 8)), RuntimeError)
    assert str(exc) == ("Given groups=1, weight of size [6, 3, 3, 3], expected input[2, 4, 8, 8] "
                        "to have 3 channels, but got 4 channels instead")
    check_raises(lambda t: t.nn.Conv2d(3, 6, 3)(t.ones(2, 3, 8)), RuntimeError)
    check_raises(lambda t: t.nn.Conv2d(3, 6, 5)(t.ones(2, 3, 4, 4)), RuntimeError)
    check_raises(lambda t: t.nn.Conv2d(3, 6, 3, padding=2, padding_mode="reflect")(
        t.ones(2, 3, 2, 2)), RuntimeError)
