"""
safetensors_io.py - minimal reader/writer for the safetensors format, torch only (the
`safetensors` package is not needed).

File layout:
    u64 little-endian N | N bytes of UTF-8 JSON header | data section
The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
(offsets relative to the data section, tensors contiguous and in header order here) plus an
optional "__metadata__" object of string -> string. The header is padded with spaces so
that 8 + N is a multiple of 8 (the data section starts 8-byte aligned). Data is row-major,
little-endian.

Supported dtypes: F32, F16, BF16, I64 (also F64, I32, U8 for reading and writing).
"""

import json
import struct
import sys

import torch

_DTYPES = {
    torch.float32: ("F32", 4),
    torch.float16: ("F16", 2),
    torch.bfloat16: ("BF16", 2),
    torch.int64: ("I64", 8),
    torch.float64: ("F64", 8),
    torch.int32: ("I32", 4),
    torch.uint8: ("U8", 1),
}
_BY_NAME = {name: (dt, size) for dt, (name, size) in _DTYPES.items()}

if sys.byteorder != "little":  # pragma: no cover
    raise RuntimeError("safetensors_io.py assumes a little-endian host")


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)  # numpy has no bfloat16: reinterpret the bits
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors (dict name -> torch.Tensor, written in dict order) and metadata (dict
    str -> str) to path. Deterministic: the same input gives the same bytes."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata must be str -> str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is not a valid tensor name")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: not a torch.Tensor")
        if t.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        b = _tensor_bytes(t)
        assert len(b) == t.numel() * _DTYPES[t.dtype][1]
        header[name] = {
            "dtype": _DTYPES[t.dtype][0],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    hj = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns (dict name -> torch.Tensor in header order, metadata dict). Validates the
    header against the file size."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = raw[8 + n :]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    spans = []
    for name, info in header.items():
        if info["dtype"] not in _BY_NAME:
            raise ValueError(f"{path}: {name}: unsupported dtype {info['dtype']}")
        dt, size = _BY_NAME[info["dtype"]]
        shape = [int(s) for s in info["shape"]]
        numel = 1
        for s in shape:
            if s < 0:
                raise ValueError(f"{path}: {name}: negative dimension")
            numel *= s
        b, e = (int(x) for x in info["data_offsets"])
        if not (0 <= b <= e <= len(data)) or e - b != numel * size:
            raise ValueError(f"{path}: {name}: bad data_offsets {b}..{e} for shape {shape}")
        spans.append((b, e, name))
        if numel == 0:
            t = torch.empty(shape, dtype=dt)
        else:
            buf = bytearray(data[b:e])
            if dt in (torch.bfloat16, torch.float16):
                t = torch.frombuffer(buf, dtype=torch.int16).view(dt)
            else:
                t = torch.frombuffer(buf, dtype=dt)
            t = t.reshape(shape)
        tensors[name] = t
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ValueError(f"{path}: tensors {n0} and {n1} overlap")
    return tensors, metadata


if __name__ == "__main__":
    # Prints the tensors and metadata of the files given on the command line.
    for p in sys.argv[1:]:
        ts, meta = read_safetensors(p)
        print(p)
        for k, v in meta.items():
            print(f"  meta {k} = {v}")
        for k, t in ts.items():
            print(f"  {k}: {str(t.dtype).replace('torch.', '')} {list(t.shape)}")
