"""PyTorch `.pth` state dicts read and written without PyTorch, and without running any pickled code.

A `.pth` file is a pickle whose tensors point at raw storages kept beside it. Two layouts exist:

- the zip layout (PyTorch >= 1.6): `<root>/data.pkl` plus one `<root>/data/<key>` entry per storage;
- the legacy layout, which the reference's published 2017-2019 models use: a sequence of pickles (magic number,
  protocol version, system info, the object, the storage keys) followed by each storage as an int64 element
  count and the raw elements.

`load_state_dict` reads both with an unpickler that resolves exactly the names a state dict needs (an ordered
dict, tensor rebuilders, the storage types) and refuses any other, so a file that would run code on load is
an `UnsafePickle` error, and nothing of it runs. `save_state_dict` writes the zip layout, which
`torch.load(weights_only=True)` and the reference's `test.py` read.

`load_script_tensors` reads the tensors of a TorchScript archive (`torch.jit.save`: the zip layout, its modules
pickled as `__torch__.*` objects beside their code) the same way: each module becomes a record of its attributes,
its code is never read, and the tensors come back by their dotted attribute path.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from cyclegan_tf.errors import UserError
from cyclegan_tf.files import write_atomic

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch's storage classes by pickled name, and the numpy type of their elements ("bfloat16" is converted)
STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}
STORAGE_OF_DTYPE = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
                    "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage", "int8": "CharStorage",
                    "uint8": "ByteStorage", "bool": "BoolStorage"}


class PthError(UserError):
    """A `.pth` file that is not a readable PyTorch state dict."""


class UnsafePickle(PthError):
    """A `.pth` file that names something other than tensors, storages and plain containers."""


class _StorageType:
    """What the unpickler returns for `torch.FloatStorage` and its kind: the element type of a storage."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    def itemsize(self) -> int:
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    def array(self, raw: bytes | memoryview) -> np.ndarray:
        if self.dtype == "bfloat16":  # the upper half of a float32
            return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, self.dtype)


class _Storage:
    """A storage's elements, filled in when the loader reaches them (at once for zip, after the pickle for legacy)."""

    def __init__(self, kind: _StorageType, numel: int):
        self.kind, self.numel = kind, numel
        self.data: np.ndarray | None = None


class _Tensor:
    """A tensor waiting for its storage: materialised by `_materialise` once all storages are read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise PthError("a tensor's storage is missing from the file")
        if not self.size:
            return np.array(data[self.offset])
        extent = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True)) + 1
        if min(self.size) > 0 and extent > data.size:
            raise PthError("a tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(data[self.offset:], self.size,
                                               [s * data.itemsize for s in self.stride])
        return np.array(view)  # a copy, in C order


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    """torch._utils._rebuild_tensor(_v2): (storage, offset, size, stride[, requires_grad, hooks, metadata])."""
    if not isinstance(storage, _Storage):
        raise PthError("a tensor without a storage")
    return _Tensor(storage, int(offset), size, stride)


def _rebuild_parameter(data, *_ignored):
    """torch._utils._rebuild_parameter(data, requires_grad, hooks): the tensor itself."""
    return data


ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class ScriptModule:
    """A TorchScript module as pickled: its attributes (`state`: parameters, submodules, settings), no code."""

    state: dict = {}

    def __setstate__(self, state: dict) -> None:
        self.state = dict(state)


def _build_list(values):
    """torch.jit._pickle.build_intlist (and its kin): a list, as pickled."""
    return list(values)


SCRIPT_ALLOWED = {("torch.jit._pickle", f"build_{kind}list"): _build_list for kind in ("int", "double", "bool")}


class _Unpickler(pickle.Unpickler):
    """Resolves only `ALLOWED` (with `script`: also TorchScript's module records); storages are handed to
    `on_storage`."""

    def __init__(self, file: IO[bytes], on_storage, script: bool = False):
        super().__init__(file, encoding="latin1")  # Python 2 pickles of the 2017 models carry byte strings
        self.on_storage = on_storage
        self.script = script

    def find_class(self, module: str, name: str) -> Any:
        if self.script and module.startswith("__torch__."):  # a scripted module: a record of its attributes
            return type(name, (ScriptModule,), {})
        if self.script and (module, name) in SCRIPT_ALLOWED:
            return SCRIPT_ALLOWED[module, name]
        if (module, name) not in ALLOWED:
            raise UnsafePickle(f"refusing to load {module}.{name}: a state dict holds only tensors and containers")
        return ALLOWED[module, name]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and
                isinstance(pid[1], _StorageType)):
            raise UnsafePickle(f"refusing a persistent object of kind {str(pid)[:40]!r}: only storages are read")
        return self.on_storage(pid)


def _materialise(obj):
    if isinstance(obj, _Tensor):
        return obj.numpy()
    if isinstance(obj, ScriptModule):
        obj.state = _materialise(obj.state)
        return obj
    if isinstance(obj, dict):
        return type(obj)((key, _materialise(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(value) for value in obj)
    return obj


def load_state_dict(path: Path | str) -> dict[str, np.ndarray]:
    """The arrays of a `.pth` state dict, by key, from either layout (see the module's docstring).

    Args:
        path: a file written by `torch.save(state_dict, path)`; a dict under "state_dict" is unwrapped.

    Returns:
        {key: numpy array} in the file's order (`_metadata` and other non-tensor entries are dropped).

    Raises:
        UnsafePickle: the file names anything else than what a state dict is made of.
        PthError: not a readable `.pth` file.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            state = _load_zip(path)
        elif tarfile.is_tarfile(path):
            raise PthError(f"{path} is a PyTorch file from before version 0.1.10 (a tar archive): not supported")
        else:
            state = _load_legacy(path)
    except UnsafePickle as error:
        raise UnsafePickle(f"{path}: {error}") from None
    except PthError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise PthError(f"{path} is not a readable PyTorch file ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise PthError(f"cannot read {path}: {error.strerror or error}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PthError(f"{path} holds a {type(state).__name__}, not a state dict")
    return {str(key): value for key, value in state.items() if isinstance(value, np.ndarray)}


def load_script_tensors(path: Path | str) -> dict[str, np.ndarray]:
    """The tensors of a TorchScript file (`torch.jit.save`), by attribute path ("net.layers.conv.weight"), in the
    order the modules hold them; no code of the file is read or run.

    Raises:
        UnsafePickle: the file names anything else than modules, tensors and containers.
        PthError: not a readable TorchScript file.
    """
    path = Path(path)
    try:
        root = _load_zip(path, script=True) if zipfile.is_zipfile(path) else None
    except UnsafePickle as error:
        raise UnsafePickle(f"{path}: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise PthError(f"{path} is not a readable TorchScript file ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise PthError(f"cannot read {path}: {error.strerror or error}") from None
    if not isinstance(root, ScriptModule):
        raise PthError(f"{path} is not a TorchScript module (torch.jit.save)")
    tensors: dict[str, np.ndarray] = {}

    def walk(module: ScriptModule, prefix: str) -> None:
        for name, value in module.state.items():
            if isinstance(value, ScriptModule):
                walk(value, f"{prefix}{name}.")
            elif isinstance(value, np.ndarray):
                tensors[prefix + name] = value

    walk(root, "")
    return tensors


def _load_zip(path: Path, script: bool = False) -> Any:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise PthError(f"{path} is a zip file without one data.pkl: not a PyTorch file")
        root = pickles[0][: -len("data.pkl")]
        names = set(archive.namelist())
        byteorder = archive.read(root + "byteorder").decode().strip() if root + "byteorder" in names else "little"
        if byteorder != "little":
            raise PthError(f"{path} was written on a big-endian machine: not supported")

        def on_storage(pid):
            _, kind, key, _location, numel = pid[:5]
            storage = _Storage(kind, int(numel))
            storage.data = kind.array(archive.read(f"{root}data/{key}"))
            return storage

        with archive.open(pickles[0]) as f:
            return _materialise(_Unpickler(io.BytesIO(f.read()), on_storage, script).load())


def _load_legacy(path: Path) -> dict:
    with open(path, "rb") as f:
        def plain():
            return _Unpickler(f, _no_storage).load()

        if plain() != LEGACY_MAGIC:
            raise PthError(f"{path} is neither a zip nor a legacy PyTorch file")
        if plain() != LEGACY_PROTOCOL:
            raise PthError(f"{path} uses an unknown legacy PyTorch protocol")
        info = plain()
        if isinstance(info, dict) and not info.get("little_endian", True):
            raise PthError(f"{path} was written on a big-endian machine: not supported")
        storages: dict[str, _Storage] = {}
        views = []

        def on_storage(pid):
            _, kind, key, _location, numel = pid[:5]
            view = pid[5] if len(pid) > 5 else None
            storage = storages.setdefault(str(key), _Storage(kind, int(numel)))
            if view is None:
                return storage
            view_key, offset, view_size = view  # an old storage view: a slice of the root storage
            child = _Storage(kind, int(view_size))
            views.append((child, storage, int(offset)))
            storages.setdefault(str(view_key), child)
            return child

        obj = _Unpickler(f, on_storage).load()
        keys = plain()
        for key in keys:
            storage = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            raw = f.read(numel * storage.kind.itemsize())
            if len(raw) != numel * storage.kind.itemsize():
                raise PthError(f"{path} is truncated")
            storage.data = storage.kind.array(raw)
        for child, parent, offset in views:
            child.data = parent.data[offset: offset + child.numel]
        return _materialise(obj)


def _no_storage(pid):
    raise UnsafePickle("a storage where a plain value was expected")


# --- writing --------------------------------------------------------------------------------------------------

def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
    if 0 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes(9, "little", signed=True)
    return b"\x8a\x09" + raw  # LONG1


def _tuple(values) -> bytes:
    return b"(" + b"".join(_int(int(v)) for v in values) + b"t"


def _tensor(key: str, array: np.ndarray) -> bytes:
    storage = STORAGE_OF_DTYPE[str(array.dtype)]
    strides = [s // array.itemsize for s in array.strides]
    storage_id = b"(" + _text("storage") + _global("torch", storage) + _text(key) + _text("cpu") + \
        _int(array.size) + b"tQ"
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage_id + _int(0) + _tuple(array.shape)
            + _tuple(strides) + b"\x89" + _global("collections", "OrderedDict") + b")Rt" + b"R")


def state_dict_bytes(state: dict[str, np.ndarray], root: str = "archive") -> bytes:
    """A zip-layout `.pth` file holding `state` (float32, float64, float16, integer and bool arrays)."""
    arrays = {name: np.array(value, order="C") for name, value in state.items()}  # (keeps 0-d arrays 0-d)
    body = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for index, (name, array) in enumerate(arrays.items()):
        body += _text(name) + _tensor(str(index), array)
    body += b"u."
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{root}/data.pkl", body)
        archive.writestr(f"{root}/byteorder", "little")
        for index, array in enumerate(arrays.values()):
            archive.writestr(f"{root}/data/{index}", array.astype(array.dtype.newbyteorder("<")).tobytes())
        archive.writestr(f"{root}/version", "3\n")
    return out.getvalue()


def save_state_dict(state: dict[str, np.ndarray], path: Path | str) -> Path:
    """Write `state` as a `.pth` file (zip layout) that `torch.load` reads, atomically.

    Args:
        state: {key: array}; keys and order as the PyTorch module's `state_dict()`.
        path: the file to write.

    Returns:
        `path`.
    """
    path = Path(path)
    return write_atomic(path, state_dict_bytes(state, root=path.stem or "archive"))
