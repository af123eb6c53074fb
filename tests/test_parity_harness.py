"""The harness itself: it must fail when lazyflow and torch disagree."""

import numpy as np
import pytest
from parity import check, check_raises


def test_check_passes_on_equal_programs():
    check(lambda x, y: (x * y + 1).tanh(), shapes=[(3, 4), (4,)])


def test_check_fails_on_wrong_values():
    with pytest.raises(AssertionError):
        check(lambda x: x * 2, torch_fn=lambda x: x * 3, shapes=[(3,)], forward_only=True)


def test_check_fails_on_wrong_gradient():
    # same forward values, different gradient
    with pytest.raises(AssertionError):
        check(lambda x: x.detach() + 0 * x, torch_fn=lambda x: x * 1, vals=[np.ones(3, np.float32)])


def test_check_raises_detects_type():
    check_raises(lambda t: t.ones(2, 3) @ t.ones(4, 5), RuntimeError)
    with pytest.raises(AssertionError):
        check_raises(lambda t: t.ones(2) if t.__name__ == "lazyflow" else t.ones(2) @ t.ones(3))
