"""Pooling, padding, upsampling and fold modules vs torch.nn: outputs, input gradients, repr."""

import pytest
from nn_parity import check_module, check_structure

MODULES = [
    (lambda nn: nn.MaxPool2d(2), (2, 3, 8, 7)),
    (lambda nn: nn.MaxPool2d(3, 2, 1, 2, True, True), (2, 3, 9, 8)),
    (lambda nn: nn.MaxPool2d((3, 2), stride=(1, 2), ceil_mode=True), (3, 8, 7)),
    (lambda nn: nn.MaxPool1d(3, 2, 1, return_indices=True), (2, 3, 9)),
    (lambda nn: nn.AvgPool2d(2), (2, 3, 8, 7)),
    (lambda nn: nn.AvgPool2d(3, 2, 1, True, False), (2, 3, 8, 7)),
    (lambda nn: nn.AvgPool2d(3, 2, 1, divisor_override=4), (2, 3, 8, 7)),
    (lambda nn: nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 9)),
    (lambda nn: nn.AdaptiveAvgPool2d((3, 4)), (2, 3, 8, 7)),
    (lambda nn: nn.AdaptiveAvgPool2d((3, None)), (3, 8, 7)),
    (lambda nn: nn.AdaptiveAvgPool1d(4), (2, 3, 9)),
    (lambda nn: nn.AdaptiveMaxPool2d(3, return_indices=True), (2, 3, 8, 7)),
    (lambda nn: nn.AdaptiveMaxPool1d(4), (2, 3, 9)),
    (lambda nn: nn.ZeroPad2d(2), (2, 3, 4, 5)),
    (lambda nn: nn.ZeroPad2d((1, 0, 2, -1)), (2, 3, 4, 5)),
    (lambda nn: nn.ConstantPad1d(2, 3.5), (2, 3, 4)),
    (lambda nn: nn.ConstantPad2d((1, 2, 3, 4), 1), (3, 4, 5)),
    (lambda nn: nn.ReflectionPad1d(2), (2, 3, 4)),
    (lambda nn: nn.ReflectionPad2d((1, 2, 3, 0)), (2, 3, 4, 5)),
    (lambda nn: nn.ReplicationPad1d((1, 2)), (2, 3, 4)),
    (lambda nn: nn.ReplicationPad2d(1), (3, 4, 5)),
    (lambda nn: nn.CircularPad2d(1), (2, 3, 4, 5)),
    (lambda nn: nn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    (lambda nn: nn.Upsample(size=(3, 7), mode="bilinear"), (2, 3, 4, 5)),
    (lambda nn: nn.Upsample(scale_factor=(1.5, 2), mode="bilinear", align_corners=True),
     (2, 3, 4, 5)),
    (lambda nn: nn.UpsamplingNearest2d(size=6), (2, 3, 4, 5)),
    (lambda nn: nn.UpsamplingBilinear2d(scale_factor=2), (2, 3, 4, 5)),
    (lambda nn: nn.Unfold(2, 1, 0, 1), (2, 3, 4, 5)),
    (lambda nn: nn.Unfold((2, 3), dilation=(2, 1), padding=1, stride=2), (2, 3, 6, 5)),
    (lambda nn: nn.Fold((4, 5), 2), (2, 12, 12)),
    (lambda nn: nn.Fold((6, 5), (2, 3), dilation=(2, 1), padding=1, stride=2), (2, 18, 9)),
]


@pytest.mark.parametrize("k", range(len(MODULES)))
def test_module(k):
    make, shape = MODULES[k]
    check_module(make, [shape], modes=("train",))


@pytest.mark.parametrize("k", range(len(MODULES)))
def test_structure(k):
    check_structure(MODULES[k][0])
