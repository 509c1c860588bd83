"""A small safetensors reader and writer (F32 / I64 only), so the tools need no extra package.

Layout: u64 little-endian header length N, N bytes of JSON header
{key: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
then the raw little-endian data; offsets are relative to the end of the header.
"""

import json
import struct

import numpy as np

_DTYPES = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8")}
_NAMES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}


def save_safetensors(path, tensors, metadata=None):
    """Write {key: np.ndarray} (float32/int64) in insertion order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for key, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype not in _NAMES:
            raise ValueError(f"save_safetensors: {key!r} has unsupported dtype {arr.dtype}")
        name = _NAMES[arr.dtype]
        data = np.ascontiguousarray(arr, dtype=_DTYPES[name]).tobytes()
        header[key] = {"dtype": name, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Read a safetensors file: returns ({key: np.ndarray}, metadata). Raises ValueError naming the file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: header is not valid JSON ({e})") from None
    metadata = header.pop("__metadata__", None) or {}
    data = raw[8 + n :]
    out = {}
    for key, info in header.items():
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise ValueError(f"{path}: tensor {key!r} has unsupported dtype {info.get('dtype')!r}")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= begin <= end <= len(data)) or end - begin != count * dtype.itemsize:
            raise ValueError(f"{path}: tensor {key!r} data_offsets {[begin, end]} do not fit shape {list(shape)}")
        out[key] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return out, metadata
