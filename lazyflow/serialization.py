"""`lazyflow.save` / `lazyflow.load`: checkpoints that loading cannot turn into code execution.

File format (a zip archive, entries stored uncompressed, each protected by zip's CRC-32):
``lazyflow/manifest.json``  the object tree as tagged JSON (dicts keep key types and order,
                            tuples, OrderedDicts with their ``_metadata``, sets, numbers
                            including inf/nan, strings, bytes, dtypes, devices, Sizes) with
                            tensors and numpy arrays referenced by index;
``lazyflow/arrays/<i>.npy`` one numpy ``.npy`` file per distinct tensor/array, read back with
                            ``allow_pickle=False`` (shape and dtype are checked against the
                            manifest);
``lazyflow/pickles/<i>.pkl`` only for objects outside that list: loading them needs
                            ``weights_only=False``, and with ``weights_only=True`` (the default)
                            the file is refused before anything is unpickled.

Guarantees: ``load(..., weights_only=True)`` never unpickles (it reads JSON and ``.npy`` data),
a truncated or corrupted file raises `CheckpointError` naming the file, and ``save`` to a path
is atomic: the archive is written to a temporary file in the same directory, flushed, fsynced
and moved over the target with ``os.replace``, so a crash mid-save leaves the previous file.
The same tensor object saved twice (tied weights) loads as one tensor object.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import pickle
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from .frontend.device import as_device
from .frontend.device import device as Device
from .frontend.tensor import Size, Tensor, wrap_data
from .ir import dtypes as D
from .runtime.sync import sync_nodes

__all__ = ["save", "load", "CheckpointError", "UnsafeCheckpointError"]

FORMAT = "lazyflow-checkpoint"
VERSION = 1
_PREFIX = "lazyflow/"
_MANIFEST = _PREFIX + "manifest.json"

_UMASK = os.umask(0)
os.umask(_UMASK)


class CheckpointError(RuntimeError):
    """The file is not a readable lazyflow checkpoint (truncated, corrupted, wrong format)."""


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Loading would run pickle (arbitrary code); refused because ``weights_only=True``."""


# ----------------------------------------------------------------------------- encoding
class _Encoder:
    """Turns an object tree into tagged JSON plus a list of arrays and pickled blobs."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.array_meta: list[dict] = []
        self.pickles: list[bytes] = []
        self._tensor_ids: dict[int, int] = {}
        self._keep: list = []          # keeps ids stable while encoding

    def _add_array(self, obj, arr: np.ndarray, meta: dict) -> int:
        key = id(obj)
        if key in self._tensor_ids:
            return self._tensor_ids[key]
        idx = len(self.arrays)
        self.arrays.append(arr if arr.flags.c_contiguous else np.ascontiguousarray(arr))
        meta.update({"shape": list(arr.shape), "storage": arr.dtype.str})
        self.array_meta.append(meta)
        self._tensor_ids[key] = idx
        self._keep.append(obj)
        return idx

    def encode(self, obj) -> Any:
        t = type(obj)
        if obj is None or t is bool or t is str:
            return obj
        if t is int:
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        if t is list:
            return {"list": [self.encode(v) for v in obj]}
        if t is tuple:
            return {"tuple": [self.encode(v) for v in obj]}
        if t is dict:
            return {"dict": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
        if t is OrderedDict:
            out = {"odict": [[self.encode(k), self.encode(v)] for k, v in obj.items()]}
            meta = getattr(obj, "_metadata", None)
            if meta is not None:
                out["metadata"] = self.encode(meta)
            return out
        if t is set or t is frozenset:
            return {t.__name__: [self.encode(v) for v in obj]}
        if t is Size:
            return {"size": list(obj)}
        if t is bytes:
            return {"bytes": base64.b64encode(obj).decode("ascii")}
        if t is complex:
            return {"complex": [self.encode(obj.real), self.encode(obj.imag)]}
        if isinstance(obj, D.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, Device):
            return {"device": str(obj)}
        if t is np.ndarray and obj.dtype.kind in "biufc":
            return {"ndarray": self._add_array(obj, obj, {"kind": "ndarray"})}
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            arr = np.asarray(obj)
            return {"npscalar": self._add_array(obj, arr, {"kind": "npscalar"})}
        if isinstance(obj, np.dtype) and obj.kind in "biufc":
            return {"npdtype": obj.str}
        return {"pickle": self._pickle(obj)}

    def _tensor(self, t: Tensor) -> dict:
        arr = _host_value(t)
        is_param = bool(getattr(type(t), "_is_param", False))
        idx = self._add_array(t, arr, {"kind": "tensor", "dtype": t.dtype.name,
                                       "device": str(t.device),
                                       "requires_grad": bool(t.requires_grad),
                                       "parameter": is_param})
        return {"tensor": idx}

    def _pickle(self, obj) -> int:
        self.pickles.append(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        return len(self.pickles) - 1


def _host_value(t: Tensor) -> np.ndarray:
    n = t._value()
    data = t._data("save")
    if n.device != "cpu":
        from .runtime.backend import get_backend
        data = get_backend(n.device).to_numpy(data)
    return np.asarray(data)


def _collect_tensors(obj, out: list, seen: set) -> None:
    """Every tensor inside containers of `obj` (to materialize them in one execution)."""
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, dict):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for k, v in obj.items():
            _collect_tensors(k, out, seen)
            _collect_tensors(v, out, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        for v in obj:
            _collect_tensors(v, out, seen)


def _write_archive(fh: BinaryIO, obj) -> None:
    tensors: list = []
    _collect_tensors(obj, tensors, set())
    pending = [n for n in (t._pending_node() for t in tensors) if n is not None]
    if pending:
        sync_nodes(pending, "save")       # every pending tensor in one graph execution
    enc = _Encoder()
    root = enc.encode(obj)
    manifest = {"format": FORMAT, "version": VERSION, "root": root, "arrays": enc.array_meta,
                "pickles": len(enc.pickles)}
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_MANIFEST, json.dumps(manifest, allow_nan=False))
        for i, arr in enumerate(enc.arrays):
            _write_array(zf, f"{_PREFIX}arrays/{i}.npy", arr)
        for i, blob in enumerate(enc.pickles):
            zf.writestr(f"{_PREFIX}pickles/{i}.pkl", blob)


def _write_array(zf: zipfile.ZipFile, name: str, arr: np.ndarray) -> None:
    with zf.open(name, "w", force_zip64=arr.nbytes > 0x7FFF0000) as out:
        np.lib.format.write_array(out, arr, allow_pickle=False)


def save(obj, f, pickle_module=None, pickle_protocol: int = 2,
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False
         ) -> None:
    """Save `obj` (tensors, nested dicts/lists/tuples, numbers, strings, state dicts) to `f`,
    a path (written atomically) or a writable binary file object. The extra arguments exist
    for torch.save compatibility and are ignored."""
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_archive(fh, obj)
                fh.flush()
                os.fsync(fh.fileno())
            mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_UMASK
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(directory)
        return
    if not hasattr(f, "write"):
        raise AttributeError(f"expected a path or a writable file object, got {type(f).__name__}")
    buf = io.BytesIO()
    _write_archive(buf, obj)
    f.write(buf.getvalue())
    if hasattr(f, "flush"):
        f.flush()


def _fsync_dir(directory: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ----------------------------------------------------------------------------- decoding
class _Decoder:
    def __init__(self, zf: zipfile.ZipFile, manifest: dict, name: str, map_location,
                 weights_only: bool) -> None:
        self.zf = zf
        self.meta = manifest["arrays"]
        self.name = name
        self.map_location = map_location
        self.weights_only = weights_only
        self._memo: dict[int, Any] = {}

    def decode(self, x) -> Any:
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        if isinstance(x, dict) and len(x) >= 1:
            tag = next(iter(x))
            v = x[tag]
            if tag == "list":
                return [self.decode(e) for e in v]
            if tag == "tuple":
                return tuple(self.decode(e) for e in v)
            if tag == "dict":
                return {self.decode(k): self.decode(e) for k, e in v}
            if tag == "odict":
                od = OrderedDict((self.decode(k), self.decode(e)) for k, e in v)
                if "metadata" in x:
                    od._metadata = self.decode(x["metadata"])
                return od
            if tag in ("set", "frozenset"):
                items = [self.decode(e) for e in v]
                return set(items) if tag == "set" else frozenset(items)
            if tag == "float":
                return float(v)
            if tag == "size":
                return Size(int(e) for e in v)
            if tag == "bytes":
                return base64.b64decode(v)
            if tag == "complex":
                return complex(self.decode(v[0]), self.decode(v[1]))
            if tag == "dtype":
                return D.as_dtype(v)
            if tag == "device":
                return as_device(v)
            if tag == "npdtype":
                return np.dtype(v)
            if tag in ("tensor", "ndarray", "npscalar"):
                return self._array_obj(int(v))
            if tag == "pickle":
                return self._unpickle(int(v))
        raise CheckpointError(f"{self.name}: unknown entry {str(x)[:80]!r} in the manifest "
                              "(corrupted file or newer format)")

    def _array_obj(self, idx: int):
        if idx in self._memo:
            return self._memo[idx]
        if not 0 <= idx < len(self.meta):
            raise CheckpointError(f"{self.name}: array {idx} referenced but not listed")
        meta = self.meta[idx]
        arr = self._read_array(idx, meta)
        kind = meta.get("kind")
        if kind == "ndarray":
            obj = arr
        elif kind == "npscalar":
            obj = arr[()]
        else:
            obj = self._make_tensor(arr, meta)
        self._memo[idx] = obj
        return obj

    def _read_array(self, idx: int, meta: dict) -> np.ndarray:
        name = f"{_PREFIX}arrays/{idx}.npy"
        with self.zf.open(name) as fh:
            raw = fh.read()            # reading to the end checks the CRC-32
        arr = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        if list(arr.shape) != list(meta["shape"]) or arr.dtype.str != meta["storage"]:
            raise CheckpointError(f"{self.name}: array {idx} has shape {list(arr.shape)} and "
                                  f"dtype {arr.dtype.str}, the manifest says {meta['shape']} "
                                  f"and {meta['storage']}")
        return arr

    def _make_tensor(self, arr: np.ndarray, meta: dict) -> Tensor:
        dt = D.as_dtype(meta["dtype"])
        if arr.dtype != dt.np:
            raise CheckpointError(f"{self.name}: tensor stored as {arr.dtype} but declared "
                                  f"{dt.name}")
        saved = meta.get("device", "cpu")
        target = self._target_device(saved)
        t = wrap_data(arr if arr.flags.writeable else arr.copy(), dt, "cpu")
        if target.type != "cpu":
            from .frontend.device import check_device
            try:
                check_device(target)
            except RuntimeError as e:
                raise RuntimeError(
                    f"Attempting to deserialize object on a CUDA device but no CUDA device is "
                    f"available ({e}). If you are running on a CPU-only machine, please use "
                    "lazyflow.load with map_location='cpu' to map your tensors to the CPU."
                ) from None
            t = t.to(target)
        if meta.get("parameter"):
            try:
                from .nn import Parameter
                return Parameter(t, requires_grad=bool(meta.get("requires_grad", True)))
            except ImportError:
                pass
        if meta.get("requires_grad") and dt.is_floating_point:
            t.requires_grad_(True)
        return t

    def _target_device(self, saved: str) -> Device:
        ml = self.map_location
        if ml is None:
            return as_device(saved)
        if isinstance(ml, dict):
            return as_device(ml.get(saved, saved))
        if callable(ml) and not isinstance(ml, (str, Device)):
            r = ml(saved)
            return as_device(saved if r is None else r)
        return as_device(ml)

    def _unpickle(self, idx: int):
        if self.weights_only:     # checked for the whole file before decoding; kept as a guard
            raise UnsafeCheckpointError(_unsafe_message(self.name))
        with self.zf.open(f"{_PREFIX}pickles/{idx}.pkl") as fh:
            return pickle.loads(fh.read())


def _unsafe_message(name: str) -> str:
    return (f"Weights only load failed: {name} contains pickled Python objects, and unpickling "
            "can execute arbitrary code. lazyflow.load(weights_only=True) reads only tensors, "
            "arrays, numbers, strings and containers of them. Re-run with weights_only=False "
            "only if you trust the source of this file.")


def _file_label(f) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(f).__name__}>"


def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = True,
         mmap: bool | None = None, **pickle_load_args):
    """Load what `save` wrote. See the module docstring for the safety guarantees.

    Args:
        f: a path or a readable binary file object.
        map_location: None (devices as saved), a device or device string for every tensor, a
            dict mapping saved device strings to new ones, or a callable taking the saved
            device string and returning a device (None keeps it).
        weights_only: True (default) refuses files whose content would need pickle.
    """
    label = _file_label(f)
    weights_only = True if weights_only is None else weights_only
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            data = fh.read()
    else:
        data = f.read()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"lazyflow.load: {label} must be opened in binary mode")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return _load_non_archive(data, label, weights_only, pickle_load_args)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if _MANIFEST not in names:
                if any(n.endswith("data.pkl") for n in names):
                    if weights_only:
                        raise UnsafeCheckpointError(
                            f"Weights only load failed: {label} is a torch checkpoint (a "
                            "pickle inside a zip archive); lazyflow.load(weights_only=True) "
                            "only reads lazyflow checkpoints. Re-run with weights_only=False "
                            "only if you trust its source.")
                    raise CheckpointError(f"{label}: a torch zip checkpoint, which lazyflow "
                                          "cannot read; save it again with lazyflow.save")
                raise CheckpointError(f"{label}: not a lazyflow checkpoint (no manifest)")
            with zf.open(_MANIFEST) as fh:
                manifest = json.loads(fh.read().decode("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise CheckpointError(f"{label}: not a lazyflow checkpoint (bad manifest)")
            if manifest.get("version", 0) > VERSION:
                raise CheckpointError(f"{label}: written by a newer lazyflow (format version "
                                      f"{manifest.get('version')})")
            if weights_only and manifest.get("pickles", 0):
                raise UnsafeCheckpointError(_unsafe_message(label))
            dec = _Decoder(zf, manifest, label, map_location, weights_only)
            return dec.decode(manifest["root"])
    except RecursionError as e:
        raise CheckpointError(f"{label} is corrupted: its structure is nested too deeply") from e
    except (CheckpointError, pickle.UnpicklingError, RuntimeError):
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, TypeError,
            EOFError, OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{label} is truncated or corrupted and cannot be loaded "
                              f"({type(e).__name__}: {e})") from e


def _load_non_archive(data: bytes, label: str, weights_only: bool, load_args: dict):
    looks_pickled = data[:1] == b"\x80" or data[:1] in (b"(", b"c", b"]", b"}")
    if weights_only:
        if looks_pickled:
            raise UnsafeCheckpointError(
                f"Weights only load failed: {label} is a pickle file, not a lazyflow "
                "checkpoint; unpickling can execute arbitrary code. Re-run with "
                "weights_only=False only if you trust its source.")
        raise CheckpointError(f"{label} is truncated or corrupted, or not a lazyflow "
                              "checkpoint (not a zip archive)")
    if not looks_pickled:
        raise CheckpointError(f"{label} is truncated or corrupted, or not a lazyflow "
                              "checkpoint (neither a zip archive nor a pickle)")
    try:
        return pickle.loads(data, **load_args)
    except (EOFError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{label} is truncated or corrupted ({e})") from e
