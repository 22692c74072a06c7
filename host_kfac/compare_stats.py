"""Intervals over seeds for the comparison report.

Every interval is a two-sided 95 % Student-t interval: of the mean of per-seed values
(:func:`t_interval`), or of the mean of per-seed *differences* between two groups run with the
same seeds (:func:`paired_difference`; pairing removes the seed's shared part: the same
initialisation and batch order). With n seeds the half-width is ``t(0.975, n-1) · s / √n``
(``s`` the sample standard deviation); one seed gives no interval (None).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_interval", "paired_difference", "format_interval", "CONFIDENCE"]

#: Two-sided confidence level of every interval in the report.
CONFIDENCE = 0.95


def t_interval(values) -> tuple[float, float | None]:
    """(mean, half-width of its 95 % t-interval) of ``values``; half-width None for one value."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("a confidence interval needs at least one value, got none")
    mean = float(values.mean())
    if values.size < 2:
        return mean, None
    from scipy.stats import t          # scipy comes with scikit-learn, a dependency
    quantile = float(t.ppf(0.5 + CONFIDENCE / 2, values.size - 1))
    return mean, quantile * float(values.std(ddof=1)) / math.sqrt(values.size)


def paired_difference(a: dict[int, float], b: dict[int, float]) -> dict:
    """The mean per-seed difference ``a[seed] - b[seed]`` over the seeds both have, with its
    95 % t-interval: ``{"mean", "half", "low", "high", "seeds"}`` (half/low/high None with one
    common seed)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"no seed in common between the two groups ({sorted(a)} and "
                         f"{sorted(b)}); a paired difference needs the same seeds")
    mean, half = t_interval([a[s] - b[s] for s in seeds])
    return {"mean": mean, "half": half, "seeds": len(seeds),
            "low": None if half is None else mean - half,
            "high": None if half is None else mean + half}


def format_interval(mean: float, half: float | None, *, scale: float = 1.0, digits: int = 4,
                    sign: bool = False) -> str:
    """``"0.9731 ± 0.0016"`` (``mean`` and ``half`` times ``scale``); without an interval the
    mean and ``(1 seed)``."""
    number = f"{mean * scale:{'+' if sign else ''}.{digits}f}"
    if half is None:
        return f"{number} (1 seed)"
    return f"{number} ± {half * scale:.{digits}f}"
