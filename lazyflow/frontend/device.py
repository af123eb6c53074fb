"""torch-style devices. The CPU always works; CUDA needs CuPy and a visible GPU."""

from __future__ import annotations

__all__ = ["device", "as_device", "cuda_available", "cuda_device_count", "check_device",
           "default_device", "set_default_device"]


class device:
    """``lazyflow.device('cpu' | 'cuda' | 'cuda:0')``: compares equal to its string form."""

    __slots__ = ("type", "index")

    def __init__(self, type: "str | device", index: int | None = None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device() expects a string, got {type!r}")
        if ":" in type:
            t, i = type.split(":", 1)
            if not i.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            type, index = t, int(i)
        if type not in ("cpu", "cuda", "meta"):
            raise RuntimeError(
                f"Expected one of cpu, cuda, meta device type at start of device string: {type}")
        self.type = type
        self.index = index

    def __repr__(self) -> str:
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index == other.index or
                                             self.index is None and other.index in (None, 0) or
                                             other.index is None and self.index in (None, 0))

    def __hash__(self) -> int:
        return hash(self.type)


_CPU = device("cpu")
_cuda_state: dict = {}
_default = [_CPU]


def default_device() -> device:
    """Where factories put tensors when no device is given (torch.get_default_device)."""
    return _default[0]


def set_default_device(d) -> None:
    """torch.set_default_device: factories without device= create tensors on `d`."""
    dev = _CPU if d is None else as_device(d)
    check_device(dev)
    _default[0] = dev


def cuda_available() -> bool:
    """True when CuPy imports and reports at least one usable GPU."""
    if "ok" not in _cuda_state:
        ok, count = False, 0
        try:
            import cupy  # noqa: F401
            if cupy.cuda.is_available():
                count = cupy.cuda.runtime.getDeviceCount()
                ok = count > 0
        except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: all mean "no CUDA"
            ok = False
        _cuda_state["ok"] = ok
        _cuda_state["count"] = count
    return _cuda_state["ok"]


def cuda_device_count() -> int:
    cuda_available()
    return _cuda_state.get("count", 0)


def as_device(d) -> device:
    if d is None:
        return _CPU
    if isinstance(d, device):
        return d
    if isinstance(d, int):
        return device("cuda", d)
    return device(d)


def check_device(d: device) -> str:
    """The internal device string for `d`, raising RuntimeError if it cannot be used here."""
    if d.type == "cpu":
        return "cpu"
    if d.type == "cuda":
        if not cuda_available():
            raise RuntimeError(
                "Torch not compiled with CUDA enabled: lazyflow found no usable CUDA device "
                "(install the 'gpu' extra with CuPy and run on a machine with an NVIDIA GPU)")
        from ..runtime.backend import BACKENDS
        if "cuda" not in BACKENDS:
            try:
                from ..codegen import cuda as _cuda  # noqa: F401 - registers the backend
            except ImportError as e:
                raise RuntimeError(f"the CUDA backend could not be loaded: {e}") from e
        return "cuda"
    raise RuntimeError(f"lazyflow cannot place tensors on device '{d}'")
