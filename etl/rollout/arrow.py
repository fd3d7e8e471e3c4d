"""numpy <-> arrow through the arrays' buffers, without pyarrow's pandas bridge.

`Array.to_numpy`, `pa.array(...)` and `pa.scalar(...)` import pandas on first use (about 0.25 s of
start-up: a quarter of the whole job at 1M users). The rollout's hot path reads and builds arrays
from their buffers with these helpers instead; only the rare paths (malformed rows, Parquet input,
suspected duplicates) still use pyarrow's own conversions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import numpy.typing as npt


def chunks(col: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    """The arrays of a chunked array, or the array itself."""
    return col.chunks if isinstance(col, pa.ChunkedArray) else [col]


def chunk_validity(chunk: pa.Array) -> np.ndarray:
    """One array's validity as a bool mask."""
    n = len(chunk)
    if chunk.null_count == 0:
        return np.ones(n, dtype=bool)
    bits = np.frombuffer(chunk.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, count=chunk.offset + n, bitorder="little")[chunk.offset :].astype(bool)


def validity(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An array's (or chunked array's) validity as a bool mask."""
    parts = [chunk_validity(c) for c in chunks(col)]
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def values(col: pa.Array | pa.ChunkedArray, dtype: npt.DTypeLike, fill: int | bool = 0) -> np.ndarray:
    """The values of a fixed-width array (or chunked array) as numpy; a null reads as `fill`."""
    dtype = np.dtype(dtype)
    parts = []
    for chunk in chunks(col):
        n = len(chunk)
        if not n:
            continue
        if chunk.null_count == n:
            parts.append(np.full(n, fill, dtype=dtype))
            continue
        if pa.types.is_boolean(chunk.type):
            bits = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
            vals = np.unpackbits(bits, count=chunk.offset + n, bitorder="little")[chunk.offset :].astype(dtype)
        else:
            vals = np.frombuffer(chunk.buffers()[1], dtype=dtype, count=n, offset=chunk.offset * dtype.itemsize)
        if chunk.null_count:
            vals = np.where(chunk_validity(chunk), vals, np.asarray(fill, dtype=dtype))
        parts.append(vals)
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def from_numpy(vals: np.ndarray, type_: pa.DataType) -> pa.Array:
    """A numpy array of fixed-width values as an arrow array (zero-copy; bool is bit-packed)."""
    vals = np.ascontiguousarray(vals)
    if pa.types.is_boolean(type_):
        return pa.Array.from_buffers(type_, len(vals), [None, pa.py_buffer(np.packbits(vals, bitorder="little"))])
    return pa.Array.from_buffers(type_, len(vals), [None, pa.py_buffer(vals)])


def strings(texts: list[str]) -> pa.Array:
    """A string array of `texts` (none of them null)."""
    data = [v.encode("utf-8") for v in texts]
    offsets = np.concatenate(([0], np.cumsum([len(d) for d in data]))).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def string_offsets(chunk: pa.Array) -> np.ndarray:
    """The int32 offsets of a (non-empty) string array's values: len(chunk) + 1 of them."""
    return np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]


def byte_lengths(col: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The byte length of each string (0 for a null), from the offsets."""
    parts = [np.diff(string_offsets(c) if len(c) else np.zeros(1, np.int32)) for c in chunks(col)]
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def fixed_width(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int] | None:
    """The bytes of a string array whose values all have one length `w` > 0 and none is null, as an
    (n, w) uint8 matrix (a view when the array is one chunk), and `w`; None for any other array.

    User ids usually all have one width: such a column is then sorted, gathered and formatted with
    numpy as rows of bytes, faster than arrow's variable-width kernels.
    """
    parts = []
    width = 0
    for chunk in chunks(col):
        n = len(chunk)
        if not n:
            continue
        if chunk.null_count or not pa.types.is_string(chunk.type) or chunk.buffers()[2] is None:
            return None
        offsets = string_offsets(chunk)
        w = (int(offsets[-1]) - int(offsets[0])) // n
        if w <= 0 or (width and w != width):
            return None
        lengths = np.diff(offsets)
        if lengths.min() != w or lengths.max() != w:
            return None
        width = w
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
        parts.append(data[offsets[0] : offsets[0] + w * n].reshape(n, w))
    if not parts:
        return None
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)), width


def from_fixed_width(mat: np.ndarray) -> pa.Array:
    """A string array of the rows of an (n, w) uint8 matrix (the inverse of `fixed_width`)."""
    n, w = mat.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    if offsets[-1] > np.iinfo(np.int32).max:
        raise ValueError("too many bytes for a string array")
    data = np.ascontiguousarray(mat)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])


def take_rows(table: pa.Table, order: np.ndarray) -> pa.Table:
    """table.take(order): with numpy when every column is fixed-width bytes (user ids of one width,
    integers) and has no nulls, else with arrow."""
    cols = []
    for col in table.columns:
        if pa.types.is_string(col.type):
            fixed = fixed_width(col)
            if fixed is None:
                break
            mat, w = fixed
            rows = np.ascontiguousarray(mat).view(f"V{w}").ravel()
            cols.append(from_fixed_width(np.take(rows, order).view(np.uint8).reshape(len(order), w)))
        elif pa.types.is_integer(col.type) and col.null_count == 0:
            dtype = np.dtype(f"{'u' if pa.types.is_unsigned_integer(col.type) else 'i'}{col.type.bit_width // 8}")
            cols.append(from_numpy(np.take(values(col, dtype), order), col.type))
        else:
            break
    else:
        return pa.Table.from_arrays(cols, schema=table.schema)
    return table.take(from_numpy(order.astype(np.int64), pa.int64()))
