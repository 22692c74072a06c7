"""Checks and conversions of what a caller hands the driver, before anything reaches a device.

Numbers the device counts with (sample counts, cells, seeds) must be integers: a float such as
``100.7`` is refused rather than truncated, and ``True`` is not taken for 1. Arrays must be real:
complex input is refused rather than losing its imaginary part. A torch tensor that requires
grad is detached (documented conversion: the SPU's answer carries no gradient).
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InvalidInputError, NonFiniteError

__all__ = ["real_array", "integer", "seed"]

#: Seeds are 64-bit: the per-cell generator states are derived from them (SplitMix64).
SEED_LIMIT = 1 << 64


def real_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array: array-likes and torch tensors (detached, moved to the CPU);
    complex, non-numeric and non-finite entries raise a typed error naming ``name``."""
    if hasattr(value, "detach") and hasattr(value, "requires_grad"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{name} is not an array of numbers: {error}") from None
    if np.iscomplexobj(array):
        raise InvalidInputError(f"{name} is complex; the SPU works on real matrices and vectors "
                                f"(pass .real explicitly if the imaginary part is rounding)")
    if array.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise NonFiniteError(f"{name} holds NaN or infinite values")
    return array


def integer(value, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]; a float, a bool or a string raises InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name} must be an integer, got {value!r} "
                                f"({type(value).__name__})")
    if not lo <= value <= hi:
        raise InvalidInputError(f"{name}={value} is outside [{lo}, {hi}]")
    return int(value)


def seed(value) -> int | None:
    """A seed: None (fresh entropy) or an integer in [0, 2**64)."""
    return None if value is None else integer(value, "seed", 0, SEED_LIMIT - 1)
