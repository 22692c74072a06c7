"""The golden model against an independent reference, and its noise generator's statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from thermospu.rtl.spec.config import G_STD, ConfigError, JobParams, SPUConfig
from thermospu.rtl.spec.golden import (GoldenSPU, XorShift128Bank, cell_seeds, gaussian_from_words,
                                  run_job, run_jobs)

from reference_model import run_reference, splitmix64_words


def random_job(rng, config, n):
    """A random SPD problem in codes and random job parameters (noise on, moments on)."""
    G = rng.standard_normal((n, n + 2))
    A = G @ G.T / (n + 2) + 0.3 * np.eye(n)
    a_q = np.rint(A / np.abs(A).max() * config.a_max_code).astype(np.int64)
    b_q = rng.integers(-config.b_max_code, config.b_max_code, n)
    params = JobParams(n_active=n, k=int(rng.integers(0, 3)), b_shift=int(rng.integers(0, 6)),
                       sigma_q=int(rng.integers(1, config.sigma_max_code)),
                       sigma_shift=int(rng.integers(0, 4)), burn_in=int(rng.integers(0, 20)),
                       samples=int(rng.integers(1, 30)), thin=int(rng.integers(1, 4)),
                       moments=bool(rng.integers(0, 2)), seed=int(rng.integers(0, 2**63)))
    return a_q, b_q, params


@pytest.mark.parametrize("case", range(12))
def test_golden_matches_independent_reference_bit_for_bit(case):
    rng = np.random.default_rng(1000 + case)
    config = SPUConfig(n=8, a_bits=int(rng.integers(4, 17)), b_bits=int(rng.integers(6, 17)),
                       x_bits=int(rng.integers(12, 25)), out_bits=8, sigma_bits=10)
    n = int(rng.integers(1, 6))
    a_q, b_q, params = random_job(rng, config, n)
    result = run_job(config, a_q, b_q, params)
    sum_y, sum_yy, saturations, _ = run_reference(config, a_q, b_q, params)
    assert result.sum_y.tolist() == sum_y
    assert result.saturations == saturations
    assert result.count == params.samples
    assert result.steps == params.burn_in + params.samples * params.thin
    if params.moments:
        iu = list(zip(*np.triu_indices(n)))
        assert result.sum_yy.tolist() == [sum_yy[(int(i), int(j))] for i, j in iu]
    else:
        assert result.sum_yy is None


def test_batched_chains_equal_single_jobs_and_int64_path_equals_float_path():
    rng = np.random.default_rng(7)
    config = SPUConfig(n=16)
    a_q, _, params = random_job(rng, config, 6)
    params = dataclasses.replace(params, samples=50, moments=True)
    b_q = rng.integers(-1000, 1000, (3, 6))
    seeds = [11, 12, 13]
    batched = run_jobs(config, a_q, b_q, params, seeds)
    for c in range(3):
        single = run_job(config, a_q, b_q[c], dataclasses.replace(params, seed=seeds[c]))
        assert batched[c] == single
    # The float64 BLAS path against exact int64 arithmetic.
    machine = GoldenSPU(config, a_q, b_q, params, seeds)
    machine._a_t = machine._a_t.astype(np.int64)
    assert machine.run() == batched


def test_same_seed_same_result_other_seed_differs():
    rng = np.random.default_rng(3)
    config = SPUConfig(n=8)
    a_q, b_q, params = random_job(rng, config, 5)
    assert run_job(config, a_q, b_q, params) == run_job(config, a_q, b_q, params)
    other = run_job(config, a_q, b_q, dataclasses.replace(params, seed=params.seed + 1))
    assert not np.array_equal(other.sum_y, run_job(config, a_q, b_q, params).sum_y)


def test_saturation_at_both_rails_is_clamped_and_counted():
    config = SPUConfig(n=4, x_bits=12, out_bits=8)
    a_q = np.diag([1, 1]).astype(np.int64)            # weak restoring force: 2**-fa
    b_q = np.array([config.b_max_code, -config.b_max_code])
    params = JobParams(n_active=2, k=0, b_shift=config.b_shift_max, sigma_q=0, sigma_shift=0,
                       burn_in=50, samples=10, moments=True)
    machine = GoldenSPU(config, a_q, b_q, params, [0])
    [result] = machine.run()
    assert machine.x_q.tolist() == [[config.x_max_code, config.x_min_code]]
    assert result.saturations == 2 * params.steps      # b overdrives the state from step 1
    assert result.sum_y.tolist() == [10 * config.y_max_code, 10 * config.y_min_code]


def test_zero_noise_converges_to_the_rounded_fixed_point():
    config = SPUConfig(n=4)
    a_q = np.array([[config.a_max_code, 0], [0, config.a_max_code // 2]])
    b_q = np.array([1000, -1000])
    b_shift = 10
    params = JobParams(n_active=2, k=0, b_shift=b_shift, sigma_q=0, sigma_shift=0,
                       burn_in=200, samples=1, moments=False)
    machine = GoldenSPU(config, a_q, b_q, params, [0])
    machine.run()
    # fixed point x = A^-1 b in state codes
    expected = np.array([1000 / config.a_max_code, -1000 / (config.a_max_code // 2)]) * 2.0**b_shift
    assert np.all(np.abs(machine.x_q[0] - expected) <= 1)


def test_job_parameters_are_validated():
    config = SPUConfig(n=8)
    good = JobParams(n_active=4, k=1, b_shift=0, sigma_q=1, sigma_shift=0, burn_in=0, samples=1)
    good.validate(config)
    for field, bad in [("n_active", 9), ("n_active", 0), ("k", 25), ("k", -1),
                       ("sigma_q", config.sigma_max_code + 1), ("samples", 0),
                       ("samples", config.max_samples + 1), ("thin", 0),
                       ("b_shift", config.b_shift_max + 1), ("seed", -1), ("moments", 1)]:
        with pytest.raises(ConfigError, match=field):
            dataclasses.replace(good, **{field: bad}).validate(config)


# --- the noise generator ----------------------------------------------------------------------

CELLS, STEPS = 64, 20_000          # 1.28e6 samples


@pytest.fixture(scope="module")
def noise_samples():
    bank = XorShift128Bank(cell_seeds(0xC0FFEE, CELLS))
    g = np.empty((STEPS, CELLS), dtype=np.int64)
    for t in range(STEPS):
        g[t] = gaussian_from_words(bank.next_words())
    return g


def test_cell_seeds_are_distinct_and_published_first_words():
    seeds = cell_seeds(0, 3)
    assert len({tuple(s) for s in seeds.tolist()}) == 3
    # SplitMix64(0)'s first output is 0xE220A8397B1DCDAF (Vigna's reference implementation).
    assert (int(seeds[0, 1]) << 32 | int(seeds[0, 0])) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("seed", [0, 1, 0x9E3779B97F4A7C15, 2**63, 2**64 - 1, 987654321987654321])
def test_cell_seeds_equal_the_sequential_reference(seed):
    """The array form of the seed derivation equals the reference model's step-by-step
    SplitMix64 (64-bit wrap-around included)."""
    assert cell_seeds(seed, 37).tolist() == splitmix64_words(seed, 37)


def test_xorshift128_reference_sequence():
    # Marsaglia (2003), xor128 with x=123456789, y=362436069, z=521288629, w=88675123.
    bank = XorShift128Bank(np.array([[123456789, 362436069, 521288629, 88675123]], dtype=np.uint32))
    words = [int(bank.next_words()[0]) for _ in range(3)]
    assert words == [3701687786, 458299110, 2500872618]


def test_noise_moments(noise_samples):
    g = noise_samples.astype(np.float64).ravel()
    n = g.size
    assert n >= 10**6
    # mean 0 +- 5 standard errors; variance 21845 within 5 SE of the sample variance (Var(g^2)
    # = (kurtosis + 2) var^2); excess kurtosis -0.3 within 5 SE (~ sqrt(24/n)).
    assert abs(g.mean()) < 5 * G_STD / np.sqrt(n)
    var = g.var()
    assert abs(var - G_STD**2) < 5 * G_STD**2 * np.sqrt(1.7 / n)
    kurt = np.mean((g - g.mean()) ** 4) / var**2 - 3
    assert abs(kurt - (-0.3)) < 5 * np.sqrt(24 / n)
    assert g.min() >= -510 and g.max() <= 510


def _correlation(u, v):
    u = u - u.mean()
    v = v - v.mean()
    return float((u * v).mean() / np.sqrt((u * u).mean() * (v * v).mean()))


def test_noise_has_no_lag1_or_cross_cell_correlation(noise_samples):
    g = noise_samples.astype(np.float64)
    lag1 = _correlation(g[1:].ravel(), g[:-1].ravel())
    neighbours = _correlation(g[:, 1:].ravel(), g[:, :-1].ravel())
    # every pair: average of all off-diagonal correlations, and the worst pair
    c = np.corrcoef(g.T)
    off = c[~np.eye(CELLS, dtype=bool)]
    assert abs(lag1) < 0.005, lag1
    assert abs(neighbours) < 0.005, neighbours
    assert abs(off.mean()) < 0.005
    assert np.max(np.abs(off)) < 6 / np.sqrt(STEPS)        # ~6 SE for the worst of 2016 pairs


def test_correlation_check_catches_an_lfsr_window_stream():
    """The same statistic on successive 8-bit windows of one LFSR (the classic mistake) fails."""
    state, out = 0xACE1, []
    for _ in range(200_000):
        bit = (state ^ (state >> 2) ^ (state >> 3) ^ (state >> 5)) & 1
        state = (state >> 1) | (bit << 15)
        out.append(state & 0xFF)
    u = np.array(out, dtype=np.float64)
    assert abs(_correlation(u[1:], u[:-1])) > 0.1


def test_config_refuses_what_the_machine_cannot_hold():
    with pytest.raises(ConfigError, match="out_bits"):
        SPUConfig(x_bits=12, out_bits=16)
    with pytest.raises(ConfigError, match="second-moment"):
        SPUConfig(out_bits=20, max_samples_log2=32)
    with pytest.raises(ConfigError, match="n=5000"):
        SPUConfig(n=5000)
    with pytest.raises(ConfigError, match="lanes"):
        SPUConfig(n=8, lanes=9)
    with pytest.raises(ConfigError, match="unknown"):
        SPUConfig.from_dict({"cells": 3})


def test_accumulator_widths_hold_the_extreme_sample_sums():
    for config in [SPUConfig(), SPUConfig(out_bits=8, max_samples_log2=30), SPUConfig(n=4, out_bits=2)]:
        extreme = config.max_samples * config.y_min_code          # every sample at the low rail
        assert -(1 << (config.sum_x_bits - 1)) <= extreme < (1 << (config.sum_x_bits - 1))
        square = config.max_samples * config.y_min_code**2
        assert square <= (1 << (config.sum_xx_bits - 1)) - 1
        # and the pre-rounding sum of the integrator: its three terms' bounds
        acc = config.n * (1 << config.fa) * (1 << config.fx)
        bias = config.b_max_code << config.b_shift_max
        noise = (config.sigma_max_code * 510) << config.sigma_shift_max
        assert acc + bias + noise < (1 << (config.fine_bits - 1))


def test_formats_agree_with_fxpmath():
    """fxpmath describes the formats: same code ranges, and the output quantizer equals fxpmath's
    round-to-nearest with saturation wherever the input is not a tie."""
    from fxpmath import Fxp

    from thermospu.rtl.spec.golden import quantize_output

    config = SPUConfig(n=4, x_bits=20, out_bits=8, a_bits=12)
    for quantity, (lo, hi) in {"a": (-(1 << config.fa), config.a_max_code),
                               "x": (config.x_min_code, config.x_max_code),
                               "y": (config.y_min_code, config.y_max_code)}.items():
        fmt = Fxp(None, dtype=config.fxp_dtype(quantity))
        assert (fmt.lower, fmt.upper) == (lo * 2.0**-fmt.n_frac, hi * 2.0**-fmt.n_frac)
    rng = np.random.default_rng(0)
    x_q = rng.integers(config.x_min_code, config.x_max_code + 1, 5000)
    x_q = x_q[(x_q & ((1 << config.adc_shift) - 1)) != 1 << (config.adc_shift - 1)]  # no ties
    ours = quantize_output(x_q, config)
    theirs = Fxp(x_q * 2.0**-config.fx, dtype=config.fxp_dtype("y"), rounding="around",
                 overflow="saturate").val
    assert np.array_equal(ours, np.asarray(theirs, dtype=np.int64))


def test_narrow_machine_with_wide_noise_mantissa_still_bounds_the_integrator_sum():
    """Found by the gateware's random tests (seed 9141): with sigma_shift_max at 0 the noise term
    alone, < 2**(sigma_bits + 9), must still fit the stated fine_bits."""
    config = SPUConfig(n=2, a_bits=2, b_bits=2, x_bits=4, out_bits=2, sigma_bits=20)
    noise = (config.sigma_max_code * 510) << config.sigma_shift_max
    assert noise < (1 << (config.fine_bits - 2))
