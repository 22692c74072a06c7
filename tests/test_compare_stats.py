"""The report's intervals: 95 % t-intervals over seeds, paired by seed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermospu.host_kfac.compare_stats import format_interval, paired_difference, t_interval


def test_t_interval_against_the_textbook_value():
    mean, half = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)   # t(0.975, 2) = 4.302653
    assert t_interval([0.5]) == (0.5, None)
    with pytest.raises(ValueError, match="at least one"):
        t_interval([])


def test_t_interval_covers_the_mean_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    samples = rng.normal(0.3, 0.1, size=(4000, 5))
    hits = 0
    for row in samples:
        mean, half = t_interval(row)
        hits += abs(mean - 0.3) <= half
    assert 0.94 < hits / len(samples) < 0.96           # binomial s.e. 0.0034


def test_pairing_removes_the_shared_seed_effect():
    seed_effect = {0: 0.0, 1: 0.05, 2: -0.04, 3: 0.02}
    a = {s: 0.90 + e + 0.01 * (s % 2) for s, e in seed_effect.items()}
    b = {s: 0.89 + e for s, e in seed_effect.items()}
    paired = paired_difference(a, b)
    unpaired_half = t_interval(list(a.values()))[1]
    assert paired["mean"] == pytest.approx(0.015) and paired["seeds"] == 4
    assert paired["half"] < unpaired_half / 3
    assert paired["low"] < 0.015 < paired["high"]
    only_common = paired_difference({0: 1.0, 1: 0.5, 7: 0.0}, {0: 0.5, 1: 0.25})
    assert only_common["seeds"] == 2
    assert paired_difference({0: 0.6}, {0: 0.5})["half"] is None
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference({0: 1.0}, {1: 1.0})


def test_format_interval():
    assert format_interval(0.97312, 0.00161) == "0.9731 ± 0.0016"
    assert format_interval(-0.0019, 0.003, scale=100, digits=2, sign=True) == "-0.19 ± 0.30"
    assert format_interval(0.5, None) == "0.5000 (1 seed)"
