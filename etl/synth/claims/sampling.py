"""Random-choice primitives of the claims generator: fast weighted picks, unique identifiers, exact splits.

None of these draws from the random stream when built except `Perm`, which draws its two constants:
the generator builds its `Perm`s in a fixed order so that a (scale, seed) always gives the same bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split an integer over weights exactly (largest remainder, ties to the earlier slot)."""
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    order = sorted(range(len(weights)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


class Pick(Generic[T]):
    """A weighted choice from a lookup table (weights resolved to 1/16384): one random() per pick.

    Millions of picks are made at scale 10; rng.choices or a bisect per pick costs several times more.
    """

    SLOTS = 1 << 14
    __slots__ = ("n", "table")

    def __init__(self, pairs: Sequence[tuple[T, float]]):
        weights = [float(w) for _, w in pairs]
        if not pairs or sum(weights) <= 0:
            raise ValueError("nothing to pick from")
        counts = apportion(self.SLOTS, weights)
        counts = [max(c, 1) if w > 0 else 0 for c, w in zip(counts, weights)]  # rare items stay possible
        self.table: list[T] = [item for (item, _), c in zip(pairs, counts) for _ in range(c)]
        self.n = len(self.table)

    def __call__(self, rng: random.Random) -> T:
        return self.table[int(rng.random() * self.n)]


class Perm:
    """x -> (a*x + b) mod m with gcd(a, m) = 1: unique identifiers that do not look sequential."""

    def __init__(self, rng: random.Random, modulus: int):
        self.m = modulus
        while True:
            self.a = rng.randrange(modulus // 3, 2 * modulus // 3)
            if math.gcd(self.a, modulus) == 1:
                break
        self.b = rng.randrange(modulus)
        self.n = 0

    def next(self) -> int:
        if self.n >= self.m:
            raise OverflowError("identifier space exhausted")
        x = (self.a * self.n + self.b) % self.m
        self.n += 1
        return x
