"""Autograd as a graph transformation: backward() emits gradient ops into the lazy IR."""

from . import rules, rules_conv  # noqa: F401 - registers the VJP rules
from .anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_anomaly_enabled,
    set_detect_anomaly,
)
from .engine import VJP, backward, grad, register_vjp
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import AccumulateGrad, BackwardNode, GradNode

__all__ = ["backward", "grad", "Function", "FunctionCtx", "once_differentiable", "gradcheck",
           "gradgradcheck", "GradcheckError", "no_grad", "enable_grad", "set_grad_enabled",
           "inference_mode", "is_grad_enabled", "is_inference_mode_enabled", "GradNode",
           "BackwardNode", "AccumulateGrad", "VJP", "Variable", "register_vjp", "function",
           "detect_anomaly", "set_detect_anomaly", "anomaly_mode", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "set_anomaly_enabled"]

from . import anomaly_mode, function  # noqa: E402 - torch.autograd.function, .anomaly_mode


def Variable(data, requires_grad: bool = False):  # noqa: N802 - torch's legacy name
    """Legacy torch.autograd.Variable: returns the tensor (optionally requiring grad)."""
    if requires_grad:
        data.requires_grad_(True)
    return data
