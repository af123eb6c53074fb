"""Optimizers and learning-rate schedulers (torch.optim).

Every optimizer records the update of all its parameters as one lazy program and, unless told
otherwise, ends `step()` with the barrier `lazyflow.mark_step()` (see `optimizer.py`).
"""

from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import (
    Optimizer,
    optimizer_step,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam",
           "Adadelta", "Rprop", "ASGD", "LBFGS", "swa_utils",
           "lr_scheduler", "optimizer_step", "register_optimizer_step_pre_hook",
           "register_optimizer_step_post_hook"]
