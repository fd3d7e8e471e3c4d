"""A stable 64-bit hash of each user_id, and the split of a block's rows into staging buckets by it.

The hash decides a user's bucket, hence its shard, so all rows of a user land in the same bucket
whatever block they are read in; it must therefore be the same in every batch, process and run
(Python's `hash` is salted per process, pyarrow has no stable string hash). It is a tabulation hash
over the UTF-8 bytes, computed with numpy over the arrow buffers: no Python loop per id. The plan's
duplicate check uses its top 32 bits too.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from etl.rollout.arrow import string_offsets, strings, take_rows

# One random 64-bit word per (byte position mod 64, byte value), and one per id length (63 = longer).
_HASH_TABLE = np.random.default_rng(20230105).integers(0, 2**63, size=(64, 256), dtype=np.uint64) | np.uint64(1)
_WORD_MULT = np.random.default_rng(1015).integers(0, 2**63, size=64, dtype=np.uint64) | np.uint64(1)
_PAIR_TABLES: dict[int, np.ndarray] = {}


def bucket_of(uid: pa.Array | pa.ChunkedArray, n_buckets: int) -> np.ndarray:
    """A stable hash of each user_id modulo n_buckets, as uint16 (n_buckets <= 65535)."""
    return (hash_ids(uid) % np.uint64(n_buckets)).astype(np.uint16)


def split_by_bucket(good: pa.Table, h: np.ndarray, n_buckets: int) -> tuple[pa.Table, np.ndarray]:
    """The rows ordered by bucket (stable: directory order within a bucket), and the rows per bucket."""
    if n_buckets == 1 or not good.num_rows:
        return good, np.array([good.num_rows] + [0] * (n_buckets - 1), dtype=np.int64)
    buckets = (h % np.uint64(n_buckets)).astype(np.uint16)
    order = np.argsort(buckets, kind="stable")
    counts = np.bincount(buckets, minlength=n_buckets)
    return take_rows(good, order), counts


def hash_ids(uid: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A stable 64-bit hash of each user_id's UTF-8 bytes (the same in every batch and process)."""
    if isinstance(uid, pa.ChunkedArray):
        if uid.num_chunks > 1:
            return np.concatenate([hash_ids(c) for c in uid.chunks])
        uid = uid.chunk(0) if uid.num_chunks else strings([])
    if len(uid) == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = string_offsets(uid)
    data = np.frombuffer(uid.buffers()[2], dtype=np.uint8) if uid.buffers()[2] is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    if len(lengths) and lengths.min() == lengths.max() and lengths[0] <= 63:
        h = _hash_one_width(data, offsets, lengths)
    else:
        h = _hash_any_width(data, offsets, lengths)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


def _pair_table(j: int) -> np.ndarray:
    """_HASH_TABLE[j][lo] + _HASH_TABLE[j + 1][hi] for every 16-bit value lo + 256 * hi."""
    table = _PAIR_TABLES.get(j)
    if table is None:
        v = np.arange(65536)
        table = _PAIR_TABLES.setdefault(j, _HASH_TABLE[j][v & 0xFF] + _HASH_TABLE[j + 1][v >> 8])
    return table


def _hash_one_width(data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """All ids of one length (the common case): a matrix of bytes, hashed two columns at a time.

    A table per pair of positions holds the sum of the two bytes' entries, so the hash is the same
    as `_hash_any_width`'s.
    """
    width = int(lengths[0])
    mat = data[offsets[0] : offsets[0] + width * len(lengths)].reshape(len(lengths), width)
    h = np.zeros(len(lengths), dtype=np.uint64)
    half = width // 2
    if half:
        pairs = np.ascontiguousarray(mat[:, : 2 * half]).view("<u2")  # byte j + 256 * byte j+1
        for p in range(half):
            h += _pair_table(2 * p)[pairs[:, p]]
    if width % 2:
        h += _HASH_TABLE[width - 1, mat[:, width - 1]]
    h += _WORD_MULT[min(width, 63)]  # as below: the same id hashes the same in either path
    return h


def _hash_any_width(data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Ids of any lengths: each byte's table entry by its position, summed per id."""
    start = offsets[0]
    buf = data[start : offsets[-1]]
    pos = np.arange(len(buf), dtype=np.int64) - np.repeat(offsets[:-1] - start, lengths)
    vals = _HASH_TABLE[pos % 64, buf]
    h = np.add.reduceat(vals, offsets[:-1] - start) if len(buf) else np.zeros(len(lengths), np.uint64)
    h += _WORD_MULT[np.minimum(lengths, 63)]  # the length, so "a" and "a\0"-like prefixes differ
    return h
