"""The host solver API on the golden model: convergence, the two biases, quantization, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import thermospu.driver as spu
from thermospu.driver import errors
from thermospu.driver.quantize import quantize_matrix
from thermospu.rtl.spec.config import G_STD, JobParams, SPUConfig
from thermospu.rtl.spec.golden import GoldenSPU

from reference_model import run_reference


def wishart(n, seed, ratio=2):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, ratio * n))
    return G @ G.T / (ratio * n), rng.standard_normal(n)


# --- convergence at the 1/sqrt(samples) rate ---------------------------------------------------

def test_solve_and_inv_converge_at_one_over_sqrt_samples():
    A, b = wishart(8, 0, ratio=3)
    x_star, inv_star = np.linalg.solve(A, b), np.linalg.inv(A)
    dev = spu.open("model", n=8, refine=0)   # the plain estimator (refinement: test_driver_solver)
    few, many = 400, 6400                        # 16x the samples: 4x smaller error expected
    err = {few: [[], []], many: [[], []]}
    for seed in range(6):
        for s in (few, many):
            err[s][0].append(np.linalg.norm(dev.solve(A, b, samples=s, seed=seed) - x_star))
            err[s][1].append(np.linalg.norm(dev.inv(A, samples=s, seed=seed) - inv_star))
    for which in (0, 1):
        ratio = math.sqrt(np.mean(np.square(err[few][which])) / np.mean(np.square(err[many][which])))
        # RMS over 6 seeds: the ratio of two such estimates lies within ~[2.5, 6.5] around 4
        assert 2.5 < ratio < 6.5, (which, ratio, err)
    assert np.mean(err[many][0]) / np.linalg.norm(x_star) < 0.05
    assert np.mean(err[many][1]) / np.linalg.norm(inv_star) < 0.05


# --- discretization bias -----------------------------------------------------------------------

def _sample_covariance(result, config, n):
    lsb = 2.0**-config.fy
    full = np.zeros((n, n))
    full[np.triu_indices(n)] = result.sum_yy
    full = full + np.triu(full, 1).T
    mean = result.sum_y / result.count
    return (full / result.count - np.outer(mean, mean)) * lsb**2


def test_discretization_correction_removes_the_euler_bias():
    """Stationary covariance of the chain is beta^-1 (A - h A^2/2)^-1: beta*Cov is biased by up to
    1/(1 - h lambda_max/2) = 2x; beta (I - hA/2) Cov is not (within 5 standard errors)."""
    config = SPUConfig(n=4)
    A = np.array([[0.9, 0.3, 0.0], [0.3, 0.7, 0.2], [0.0, 0.2, 0.5]])
    a_q = np.rint(A * 2**config.fa).astype(np.int64)
    A_dev = a_q / 2**config.fa
    k = 0                                              # h = 1, h * lambda_max ~ 1.1
    sigma_state = 0.05                                 # noise std per step (state units)
    target = sigma_state / G_STD * 2.0 ** (config.fa + config.fx + k)
    shift = math.ceil(math.log2(target / config.sigma_max_code))
    params = JobParams(n_active=3, k=k, b_shift=0, sigma_q=round(target / 2**shift),
                       sigma_shift=shift, burn_in=200, samples=100_000, thin=2, seed=5)
    [result] = GoldenSPU(config, a_q, np.zeros(3, np.int64), params, [params.seed]).run()
    sigma = params.sigma_q * G_STD * 2.0 ** (shift - config.fa - config.fx - k)
    beta = 2 / sigma**2
    cov = _sample_covariance(result, config, 3) - np.eye(3) * 2.0 ** (-2 * config.fy) / 12
    naive = beta * cov
    corrected = beta * (np.eye(3) - A_dev / 2) @ cov
    exact = np.linalg.inv(A_dev)
    se = np.sqrt(2 * 3 / params.samples) * np.abs(exact).max()     # conservative std error
    assert np.abs(corrected - exact).max() < 5 * se
    assert np.abs(naive - exact).max() > 20 * se


# --- rounding bias -----------------------------------------------------------------------------

def test_round_to_nearest_keeps_the_stationary_mean_unbiased_where_truncation_does_not():
    """A systematic rounding error eps per step shifts the mean by (eps/h) A^-1 1. With a 10-bit
    state the spec's rounding leaves |bias| < 0.25 LSB (measured within 5 standard errors of 0);
    truncation (eps = -1/2 LSB) shifts it by about -(1/2)/h * A^-1 1 LSB, which the same
    measurement sees."""
    config = SPUConfig(n=2, x_bits=10, out_bits=10, a_bits=12)
    A = np.array([[0.8, 0.2], [0.2, 0.6]])
    a_q = np.rint(A * 2**config.fa).astype(np.int64)
    A_dev = a_q / 2**config.fa
    k = 1
    sigma_lsb = 6.0                               # per-step noise std in state LSBs
    target = sigma_lsb / G_STD * 2.0 ** (config.fa + k)
    shift = max(0, math.ceil(math.log2(target / config.sigma_max_code)))
    params = JobParams(n_active=2, k=k, b_shift=0, sigma_q=round(target / 2**shift),
                       sigma_shift=shift, burn_in=100, samples=12_000, thin=4, moments=False,
                       seed=9)
    b_q = np.zeros(2, np.int64)
    # stationary std of x in LSB ~ sigma / sqrt(2 h lambda); integrated autocorrelation ~ 1 sample
    # at thin 4 for h lambda >= 0.25; standard error of the mean in LSB:
    std_x = sigma_lsb / math.sqrt(2 * 2.0**-k * np.linalg.eigvalsh(A_dev).min())
    se = std_x / math.sqrt(params.samples / 3)

    [nearest] = GoldenSPU(config, a_q, b_q[None], params, [params.seed]).run()
    bias_nearest = nearest.sum_y / nearest.count          # in LSB (out_bits == x_bits)
    assert np.all(np.abs(bias_nearest) < max(5 * se, 0.25)), (bias_nearest, se)

    sum_y, _, _, _ = run_reference(config, a_q, b_q, params, rounding="floor")
    bias_floor = np.array(sum_y) / params.samples
    predicted = -0.5 / 2.0**-k * np.linalg.solve(A_dev, np.ones(2))
    assert np.all(np.abs(bias_floor - predicted) < 5 * se + 0.1 * np.abs(predicted))
    assert np.all(np.abs(bias_floor) > 5 * se)


# --- conservative quantization -----------------------------------------------------------------

def _random_psd(rng, n, condition):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.geomspace(1.0, 1.0 / condition, n)
    return (Q * eig) @ Q.T


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(1, 24), bits=st.sampled_from([3, 4, 6, 8, 12, 16]),
       log_condition=st.floats(0, 8), seed=st.integers(0, 2**31), singular=st.booleans())
def test_conservative_quantization_keeps_psd_and_never_reduces_damping(n, bits, log_condition,
                                                                       seed, singular):
    rng = np.random.default_rng(seed)
    A = _random_psd(rng, n, 10**log_condition)
    if singular and n > 1:
        w, V = np.linalg.eigh(A)
        w[0] = 0.0
        A = (V * w) @ V.T
        A = (A + A.T) / 2
    q = quantize_matrix(A, SPUConfig(n=32, a_bits=bits))
    assert np.array_equal(q.codes, q.codes.T)
    assert q.codes.max() <= (1 << (bits - 1)) - 1 and q.codes.min() >= -(1 << (bits - 1))
    difference = q.device_matrix - A / q.scale           # must be PSD (Loewner order)
    floor = -1e-9 * np.abs(A / q.scale).max()
    assert np.linalg.eigvalsh(difference).min() >= floor
    # positive definite inputs stay positive definite; singular ones at least semidefinite
    smallest = np.linalg.eigvalsh(q.device_matrix).min()
    assert smallest >= floor if singular and n > 1 else smallest > 0


# --- determinism, diagnostics, batched right-hand sides ------------------------------------------

def test_results_are_reproducible_per_seed_and_batched_columns_match_single_solves():
    A, b = wishart(6, 1)
    dev = spu.open("model", n=8, samples=500)
    B = np.stack([b, -2 * b, np.zeros(6)], axis=1)
    X = dev.solve(A, B, seed=4)
    assert X.shape == (6, 3)
    assert np.array_equal(X, dev.solve(A, B, seed=4))
    assert not np.array_equal(X, dev.solve(A, B, seed=5))
    assert np.all(X[:, 2] == 0)
    assert np.linalg.norm(X[:, 1] + 2 * X[:, 0]) < 0.3 * np.linalg.norm(X[:, 1])
    X_again, d = dev.solve_with_info(A, B, seed=4)
    assert np.array_equal(X_again, X)
    assert d.chains == 2 * d.jobs and d.steps > d.pilot_steps > 0 and d.samples == 500
    assert d.saturations == 0 and d.std_error > 0
    assert (d.a_bits, d.out_bits) == (dev.config.a_bits, dev.config.out_bits)
    zero, d = dev.solve_with_info(A, np.zeros(6), seed=4)
    assert np.all(zero == 0) and d.steps == 0 and d.note
    loaded = dev.load(A)
    assert np.array_equal(dev.inv(loaded, seed=2), dev.inv(A, seed=2))


def test_low_bit_output_still_inverts_a_well_conditioned_matrix():
    A, _ = wishart(6, 2, ratio=6)
    dev = spu.open("model", n=8, out_bits=8, a_bits=8)
    Ainv = dev.inv(A, samples=8000, seed=0)
    exact = np.linalg.inv(A)
    assert np.linalg.norm(Ainv - exact) / np.linalg.norm(exact) < 0.1


def test_tolerance_sets_the_sample_count():
    A, b = wishart(5, 3)
    dev = spu.open("model", n=8)
    few = dev.solve_with_info(A, b, tol=0.2, seed=0)[1].samples
    many = dev.solve_with_info(A, b, tol=0.1, seed=0)[1].samples
    assert many == pytest.approx(4 * few, rel=0.02)


# --- error paths -------------------------------------------------------------------------------

@pytest.mark.parametrize("A, error", [
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), errors.NonFiniteError),
    (np.array([[np.inf]]), errors.NonFiniteError),
    (np.ones((2, 3)), errors.ShapeError),
    (np.zeros((0, 0)), errors.ShapeError),
    (np.array([[2.0, 1.0], [0.0, 2.0]]), errors.NotSymmetricError),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), errors.NotPositiveDefiniteError),
    (np.zeros((2, 2)), errors.NotPositiveDefiniteError),
    (np.eye(9), errors.DeviceCapacityError),
])
def test_invalid_matrices_raise_typed_errors(A, error):
    dev = spu.open("model", n=8)
    with pytest.raises(error):
        dev.inv(A)
    with pytest.raises(errors.InvalidInputError):    # all of them are InvalidInputError
        dev.solve(A, np.ones(A.shape[0] if A.ndim == 2 else 1))


def test_invalid_right_hand_sides_and_options():
    dev = spu.open("model", n=8)
    with pytest.raises(errors.ShapeError):
        dev.solve(np.eye(3), np.ones(4))
    with pytest.raises(errors.NonFiniteError):
        dev.solve(np.eye(3), np.array([1.0, np.nan, 0.0]))
    with pytest.raises(errors.DeviceCapacityError):
        dev.solve(np.eye(3), np.ones(3), samples=2**40)
    with pytest.raises(ValueError):
        dev.solve(np.eye(3), np.ones(3), samples=10, tol=0.1)
    with pytest.raises(errors.ConfigError, match="unknown"):
        spu.open("model", cells=4)
    with pytest.raises(errors.TransportError):
        spu.open("nowhere")


def test_persistent_saturation_raises_after_backing_off():
    dev = spu.open("model", n=4)

    class Saturating(type(dev.backend)):
        def run_jobs(self, *args, **kwargs):
            results = super().run_jobs(*args, **kwargs)
            for r in results:
                r.saturations = r.steps
            return results

    dev.backend.__class__ = Saturating
    with pytest.raises(errors.SaturationError, match="saturated"):
        dev.solve(np.eye(2), np.ones(2), samples=50)
