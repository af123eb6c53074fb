"""lazyflow.nn: torch.nn's Module system, layers, losses, functional and init.

Everything here is ordinary user code on the public tensor API (never ir, passes or codegen).
"""

from . import functional, init, modules, parameter, utils
from ._aggregate import reexport

__all__ = ["functional", "init", "utils", "modules", "parameter"]
__all__ += reexport(globals(), __name__, ("parameter", "modules"))
