"""Range checks of a signal against constant bounds, built for small FPGAs.

Yosys turns ``value <= constant`` on a wide signal into a carry chain as wide as the signal, one
logic cell per bit on iCE40 that no other logic can share. :func:`within` splits the check
instead: the bits above the upper bound's width must be zero (a LUT tree), and only the low bits
are compared, and only where the bound is not already the largest value those bits hold.
"""

from __future__ import annotations

from amaranth.hdl import Value

__all__ = ["within", "below"]


def within(value: Value, lo: int, hi: int) -> Value:
    """1-bit value: ``lo <= value <= hi`` for an unsigned ``value`` and constants
    ``0 <= lo <= hi``."""
    if not 0 <= lo <= hi:
        raise ValueError(f"bounds [{lo}, {hi}] must satisfy 0 <= lo <= hi")
    value = value.as_unsigned()
    width = max(1, hi.bit_length())
    low = value[:width]
    ok = ~value[width:].any() if len(value) > width else 1
    if hi != (1 << width) - 1:
        ok = ok & (low <= hi)
    if lo == 1:
        ok = ok & low.any()
    elif lo > 1:
        ok = ok & (low >= lo)
    return Value.cast(ok)


def below(value: Value, bound: int) -> Value:
    """1-bit value: ``value < bound`` for an unsigned ``value`` and a constant ``bound >= 1``."""
    if bound < 1:
        raise ValueError(f"bound={bound} must be >= 1")
    return within(value, 0, bound - 1)
