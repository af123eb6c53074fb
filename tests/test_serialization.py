"""lazyflow.save / lazyflow.load: round trips, refusal of code, corrupted and truncated files,
atomic saves."""

import io
import math
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import lazyflow as lf
from lazyflow import serialization as ser


def _eq(a, b):
    """Deep equality with tensors compared by dtype, shape, value and requires_grad."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, lf.Tensor):
        assert a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape)
        assert a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _eq(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _eq(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


VALUES = {
    "f32": lf.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)),
    "f64": lf.tensor([1.5, -2.25], dtype=lf.float64),
    "f16": lf.tensor([0.5, 1.0], dtype=lf.float16),
    "bf16": lf.tensor([1.0, 3.0], dtype=lf.bfloat16),
    "i64": lf.arange(5),
    "i32": lf.tensor([1, 2], dtype=lf.int32),
    "i16": lf.tensor([1, 2], dtype=lf.int16),
    "i8": lf.tensor([-1, 2], dtype=lf.int8),
    "u8": lf.tensor([255, 2], dtype=lf.uint8),
    "bool": lf.tensor([True, False]),
    "scalar": lf.tensor(3.0),
    "empty": lf.zeros(0, 3),
    "grad": lf.tensor([1.0, 2.0], requires_grad=True),
    "numbers": [1, -2, 3.5, float("inf"), -float("inf"), float("nan"), 2 ** 70, True, None],
    "strings": ("a", "ünïcode", ""),
    "nested": {"a": [{"b": (lf.ones(2), 1)}], 3: "int key", (1, 2): "tuple key", None: 0},
    "odict": OrderedDict([("z", lf.zeros(1)), ("a", lf.ones(1))]),
    "set": {1, 2, 3},
    "frozen": frozenset({"x"}),
    "bytes": b"\x00\xffabc",
    "complex": 1 + 2j,
    "dtype": lf.float16,
    "device": lf.device("cpu"),
    "size": lf.Size([2, 3]),
    "ndarray": np.arange(6, dtype=np.int16).reshape(2, 3),
    "npscalar": np.float64(2.5),
    "npdtype": np.dtype(np.float32),
}


@pytest.mark.parametrize("key", list(VALUES))
def test_round_trip_every_supported_type(key, tmp_path):
    lf.save(VALUES[key], tmp_path / "x.lf")
    _eq(VALUES[key], lf.load(tmp_path / "x.lf"))


def test_round_trip_through_file_objects_and_whole_tree():
    buf = io.BytesIO()
    lf.save(VALUES, buf)
    buf.seek(0)
    _eq(VALUES, lf.load(buf))


def test_state_dict_metadata_and_shared_tensors(tmp_path):
    w = lf.randn(4, 4)
    sd = OrderedDict([("enc.weight", w), ("dec.weight", w), ("bias", lf.zeros(4))])
    sd._metadata = OrderedDict([("", {"version": 1}), ("enc", {"version": 2})])
    lf.save(sd, tmp_path / "sd.lf")
    out = lf.load(tmp_path / "sd.lf")
    assert out["enc.weight"] is out["dec.weight"]            # tied weights stay tied
    assert out._metadata == sd._metadata
    _eq(sd, out)


def test_optimizer_state_dict_round_trip(tmp_path):
    w = lf.tensor([1.0, -1.0], requires_grad=True)
    opt = lf.optim.Adam([w], lr=0.1, amsgrad=True)
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    lf.save(sd, tmp_path / "opt.lf")
    out = lf.load(tmp_path / "opt.lf")
    _eq(sd, out)
    assert list(out["state"]) == [0] and out["param_groups"][0]["betas"] == (0.9, 0.999)


def test_save_materializes_pending_tensors_in_one_execution(tmp_path):
    a = lf.ones(3) * 2
    b = a + 1
    lf.debug.reset_metrics()
    lf.save({"a": a, "b": [b, b * 3]}, tmp_path / "p.lf")
    assert lf.debug.counter_value("Execute") == 1
    out = lf.load(tmp_path / "p.lf")
    assert out["b"][1].tolist() == [9.0, 9.0, 9.0]


def test_map_location(tmp_path):
    lf.save({"w": lf.ones(2)}, tmp_path / "m.lf")
    for ml in ("cpu", lf.device("cpu"), {"cpu": "cpu"}, lambda loc: "cpu", lambda loc: None):
        assert lf.load(tmp_path / "m.lf", map_location=ml)["w"].device == lf.device("cpu")


class Payload:
    """Unpickling this runs code (creates a marker file)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_plain_pickle_file_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    f = tmp_path / "evil.pt"
    f.write_bytes(pickle.dumps({"w": Payload(str(marker))}))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        lf.load(f)
    assert not marker.exists()
    lf.load(f, weights_only=False)           # explicitly trusted: the code runs
    assert marker.exists()


def test_checkpoint_with_pickled_objects_needs_weights_only_false(tmp_path):
    marker = tmp_path / "pwned"
    lf.save({"w": lf.ones(2), "obj": Payload(str(marker))}, tmp_path / "mixed.lf")
    assert not marker.exists()
    with pytest.raises(ser.UnsafeCheckpointError, match="pickled Python objects"):
        lf.load(tmp_path / "mixed.lf")
    assert not marker.exists()
    out = lf.load(tmp_path / "mixed.lf", weights_only=False)
    assert marker.exists() and out["w"].tolist() == [1.0, 1.0]


def test_manifest_tampering_cannot_smuggle_a_pickle(tmp_path):
    # a manifest that claims no pickles but references one is still refused
    marker = tmp_path / "pwned"
    lf.save({"obj": Payload(str(marker))}, tmp_path / "a.lf")
    with zipfile.ZipFile(tmp_path / "a.lf") as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    import json
    man = json.loads(entries["lazyflow/manifest.json"])
    man["pickles"] = 0
    entries["lazyflow/manifest.json"] = json.dumps(man).encode()
    with zipfile.ZipFile(tmp_path / "b.lf", "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with pytest.raises(pickle.UnpicklingError):
        lf.load(tmp_path / "b.lf")
    assert not marker.exists()


def _rewrite(src, dst, **replace):
    with zipfile.ZipFile(src) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    entries.update(replace)
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)


def test_object_array_in_the_archive_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    lf.save({"w": lf.ones(2)}, tmp_path / "a.lf")
    evil = io.BytesIO()
    np.save(evil, np.array([Payload(str(marker))], dtype=object), allow_pickle=True)
    _rewrite(tmp_path / "a.lf", tmp_path / "b.lf", **{"lazyflow/arrays/0.npy": evil.getvalue()})
    with pytest.raises(ser.CheckpointError, match="b.lf"):
        lf.load(tmp_path / "b.lf")
    assert not marker.exists()


def test_deeply_nested_manifest_is_a_checkpoint_error(tmp_path):
    lf.save([1], tmp_path / "a.lf")
    depth = 5000                       # beyond Python's recursion limit
    root = '{"list": [' * depth + "1" + "]}" * depth
    man = '{"format": "lazyflow-checkpoint", "version": 1, "arrays": [], "pickles": 0, ' \
          '"root": ' + root + "}"
    _rewrite(tmp_path / "a.lf", tmp_path / "b.lf", **{"lazyflow/manifest.json": man.encode()})
    with pytest.raises(ser.CheckpointError, match="b.lf"):
        lf.load(tmp_path / "b.lf")


def test_torch_checkpoint_is_refused_with_weights_only(tmp_path):
    import torch
    torch.save({"w": torch.ones(2)}, tmp_path / "t.pt")
    with pytest.raises(pickle.UnpicklingError, match="torch checkpoint"):
        lf.load(tmp_path / "t.pt")


def _good_file(tmp_path):
    path = tmp_path / "good.lf"
    lf.save({"w": lf.arange(1000.0), "meta": {"epoch": 3}}, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("cut", [0, 10, 100, 0.5, 0.9, -1])
def test_truncated_file_raises_a_clear_error_naming_the_file(tmp_path, cut):
    path, data = _good_file(tmp_path)
    n = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) - 1)
    bad = tmp_path / "truncated.lf"
    bad.write_bytes(data[:n])
    with pytest.raises(ser.CheckpointError, match="truncated.lf.*(truncated|corrupted)"):
        lf.load(bad)


@pytest.mark.parametrize("where", [0.05, 0.2, 0.5, 0.8, 0.97])
def test_corrupted_file_raises_a_clear_error_naming_the_file(tmp_path, where):
    path, data = _good_file(tmp_path)
    raw = bytearray(data)
    i = int(len(raw) * where)
    raw[i] ^= 0x5A
    bad = tmp_path / "corrupted.lf"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ser.CheckpointError, match="corrupted.lf"):
        lf.load(bad)


def test_not_a_checkpoint(tmp_path):
    f = tmp_path / "text.lf"
    f.write_bytes(b"hello world")
    with pytest.raises(ser.CheckpointError, match="text.lf"):
        lf.load(f)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(ser.CheckpointError, match="no manifest"):
        lf.load(z)
    with pytest.raises(FileNotFoundError):
        lf.load(tmp_path / "missing.lf")


def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path, data = _good_file(tmp_path)
    calls = []
    real = ser._write_array

    def crashing(zf, name, arr):
        calls.append(name)
        if len(calls) == 2:
            real(zf, name, arr[: len(arr) // 2])      # half an array, then the "crash"
            raise OSError("disk full (simulated)")
        real(zf, name, arr)

    monkeypatch.setattr(ser, "_write_array", crashing)
    with pytest.raises(OSError, match="simulated"):
        lf.save({"a": lf.ones(10), "b": lf.zeros(10), "c": lf.ones(3)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == data                      # untouched
    assert lf.load(path)["meta"] == {"epoch": 3}
    assert sorted(os.listdir(tmp_path)) == ["good.lf"]    # no temporary file left behind


def test_crash_before_replace_and_permissions(tmp_path, monkeypatch):
    path, data = _good_file(tmp_path)
    os.chmod(path, 0o640)

    def boom(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(ser.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        lf.save({"x": 1}, path)
    monkeypatch.undo()
    assert path.read_bytes() == data and os.listdir(tmp_path) == ["good.lf"]
    lf.save({"x": 2}, path)
    assert lf.load(path) == {"x": 2} and (os.stat(path).st_mode & 0o777) == 0o640
