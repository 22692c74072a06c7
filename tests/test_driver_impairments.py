"""The analog impairment model (driver/transports/impairments.py, docs/spu.md "Analog
impairments"): options of every transport, the fixed pattern, the exact accumulator transform,
the exact realisation of a noise-temperature spread, and the effect of mismatch on answers.

Fast: the model transport on small matrices; one test opens an impaired ``sim:icarus`` (skipped
without Icarus, failing instead under THERMOSPU_REQUIRE_SIMULATORS=1, as the other sim tests).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import scipy.linalg

import thermospu.driver as spu
from thermospu.driver.transports import ImpairedBackend, Impairments, open_backend
from thermospu.driver.transports.impairments import (ImpairmentPattern, perturb_biases,
                                                     perturb_couplings, transform_result)
from thermospu.driver.transports.model import ModelBackend
from thermospu.rtl.spec.config import ConfigError, JobParams, SPUConfig
from thermospu.rtl.spec.golden import JobResult

ALL = dict(coupling_mismatch=0.02, self_mismatch=0.01, dac_gain_error=0.01, dac_offset=0.002,
           adc_gain_error=0.01, adc_offset=0.002, noise_spread=0.05)


def _relative(estimate, exact) -> float:
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


def _unit_diagonal_spd(n: int, seed: int) -> np.ndarray:
    """A well-conditioned (kappa ~ 6 for n = 6) Wishart correlation matrix: unit diagonal, so the
    driver's Jacobi equilibration is the identity and device units are A's units."""
    g = np.random.default_rng(seed).standard_normal((n, 3 * n))
    a = g @ g.T / (3 * n)
    d = np.sqrt(np.diag(a))
    return a / np.outer(d, d)


def _jobs(n=5, chains=2, seed=3):
    rng = np.random.default_rng(seed)
    m = rng.integers(-300, 300, (n, n))
    a = np.triu(m) + np.triu(m, 1).T + np.diag(np.full(n, 400))
    b = rng.integers(-1000, 1000, (chains, n))
    params = JobParams(n_active=n, k=3, b_shift=0, sigma_q=300, sigma_shift=2, burn_in=5,
                       samples=40, thin=1, moments=True)
    return a, b, params, [7, 8][:chains]


SMALL = dict(n=8, a_bits=12, b_bits=12, x_bits=20, out_bits=12, max_samples_log2=16)


def test_zero_impairments_leave_the_transport_unwrapped_and_bit_identical():
    zero = {name: 0.0 for name in ALL}
    for backend in (open_backend("model", **SMALL, **zero, impairment_seed=4),
                    open_backend("model?coupling_mismatch=0&noise_spread=0.0&impairment_seed=9",
                                 **SMALL)):
        assert type(backend) is ModelBackend
    a = _unit_diagonal_spd(5, 1)
    plain = spu.open("model", **SMALL, samples=2000)
    zeroed = spu.open("model", **SMALL, **zero, samples=2000)
    assert np.array_equal(plain.inv(a, seed=3), zeroed.inv(a, seed=3))
    assert np.array_equal(plain.solve(a, np.ones(5), seed=3), zeroed.solve(a, np.ones(5), seed=3))
    # Even wrapped explicitly, zero sizes change no bit: the transforms are exact identities.
    wrapped = ImpairedBackend(open_backend("model", **SMALL), Impairments(seed=5))
    job = _jobs()
    assert wrapped.run_jobs(*job) == plain.backend.run_jobs(*job)


def test_every_transport_takes_the_options_and_the_description_says_so():
    backend = open_backend("model?coupling_mismatch=0.02&impairment_seed=3", **SMALL,
                           adc_offset=0.001)
    assert isinstance(backend, ImpairedBackend)
    assert backend.impairments == Impairments(coupling_mismatch=0.02, adc_offset=0.001, seed=3)
    assert backend.name == "model?coupling_mismatch=0.02&impairment_seed=3"
    assert backend.config == SPUConfig(**SMALL)
    assert "impaired (coupling_mismatch 2%, adc_offset 0.1%, seed 3)" in backend.description
    info = backend.info()
    assert info["impairments"]["coupling_mismatch"] == 0.02 and info["clipped_codes"] == 0
    device = spu.open("model", **SMALL, noise_spread=0.1)
    assert isinstance(device.backend, ImpairedBackend) and "impaired" in device.description


@pytest.mark.parametrize("options", [
    dict(coupling_mismatch=-0.01), dict(noise_spread=float("nan")),
    dict(adc_gain_error=float("inf")), dict(dac_offset="abc"), dict(self_mismatch=True),
    dict(impairment_seed=-1), dict(impairment_seed=1.5), dict(adc_offset="-1e-3")])
def test_bad_option_values_are_config_errors(options):
    with pytest.raises(ConfigError, match=r"impairment|is not (a number|an integer)"):
        open_backend("model", **SMALL, **options)


def test_bad_uri_option_values_are_config_errors():
    for uri in ("model?noise_spread=-0.1", "model?coupling_mismatch=nan",
                "model?impairment_seed=x"):
        with pytest.raises(ConfigError):
            open_backend(uri, **SMALL)


def test_the_same_seed_is_the_same_chip_and_another_seed_another():
    a, b, params, seeds = _jobs()
    config = SPUConfig(**SMALL)

    def codes(seed, cells=config.n):
        pattern = ImpairmentPattern(Impairments(**ALL, seed=seed), cells, config.b_bits)
        return perturb_couplings(a, pattern, config)[0], perturb_biases(b, pattern, config)[0]

    first, again, other = codes(1), codes(1), codes(2)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not np.array_equal(first[0], other[0]) and not np.array_equal(first[1], other[1])
    # The pattern belongs to the chip's N cells; a job on n_active < N uses the first cells, and
    # the block it uses does not depend on N.
    assert all(np.array_equal(x, y) for x, y in zip(first, codes(1, cells=64)))
    one = open_backend("model", **SMALL, **ALL, impairment_seed=1)
    two = open_backend("model", **SMALL, **ALL, impairment_seed=1)
    assert one.run_jobs(a, b, params, seeds) == two.run_jobs(a, b, params, seeds)


def test_coupling_mismatch_is_symmetric_and_the_spread_is_a_similarity_transform():
    config = SPUConfig(**SMALL)
    a, _, _, _ = _jobs(n=6)
    mismatch = ImpairmentPattern(Impairments(coupling_mismatch=0.05, seed=2), 8, 12)
    codes, clipped = perturb_couplings(a, mismatch, config)
    assert np.array_equal(codes, codes.T) and np.array_equal(np.diag(codes), np.diag(a))
    assert clipped == 0 and not np.array_equal(codes, a)
    spread = ImpairmentPattern(Impairments(noise_spread=0.2, seed=2), 8, 12)
    t = spread.noise_scale[:6]
    codes, _ = perturb_couplings(a, spread, config)
    assert np.array_equal(codes, np.rint(a * t[None, :] / t[:, None]).astype(np.int64))


def test_the_accumulator_transform_equals_transforming_every_sample():
    rng = np.random.default_rng(0)
    n, samples = 4, 37
    y = rng.integers(-2000, 2000, (samples, n))
    iu = np.triu_indices(n)
    result = JobResult(sum_y=y.sum(axis=0), sum_yy=(y.T @ y)[iu], count=samples,
                       saturations=3, steps=99)
    gain = 1 + 0.03 * rng.standard_normal(n)
    offset = 20 * rng.standard_normal(n)
    impaired = transform_result(result, gain, offset)
    y_out = y * gain + offset                            # per sample, in output codes
    assert np.array_equal(impaired.sum_y, np.rint(y_out.sum(axis=0)).astype(np.int64))
    assert np.array_equal(impaired.sum_yy, np.rint((y_out.T @ y_out)[iu]).astype(np.int64))
    assert (impaired.count, impaired.saturations, impaired.steps) == (samples, 3, 99)
    no_moments = transform_result(JobResult(result.sum_y, None, samples, 0, 1), gain, offset)
    assert no_moments.sum_yy is None and np.array_equal(no_moments.sum_y, impaired.sum_y)


def test_a_noise_spread_turns_the_inverse_into_the_lyapunov_solution():
    """With per-cell temperatures T_i the stationary covariance solves A S + S A = 2 diag(T)
    (unit-diagonal A: device units are A's units). Seeds fixed; 40 000 samples give ~1.5 %
    relative sampling error, the Lyapunov solution lies 26 % from A^-1 here: the estimate must
    lie within 5 % of it and more than 15 % from A^-1."""
    n = 6
    a = _unit_diagonal_spd(n, 0)
    device = spu.open("model", **SMALL, noise_spread=0.3, impairment_seed=1, samples=40_000)
    estimate = device.inv(a, seed=2)
    temperatures = device.backend.pattern.noise_scale[:n] ** 2
    lyapunov = scipy.linalg.solve_continuous_lyapunov(a, 2 * np.diag(temperatures))
    assert _relative(lyapunov, np.linalg.inv(a)) > 0.2          # the test can tell them apart
    assert _relative(estimate, lyapunov) < 0.05
    assert _relative(estimate, np.linalg.inv(a)) > 0.15


def test_five_percent_coupling_mismatch_changes_the_solve_error_and_zero_does_not():
    """One refinement-free solve of a 6x6 matrix at 60 000 samples: 0.4 % error without
    mismatch; 5 % mismatch of the couplings moves the answer by 2 to 12 % (chips 1 to 5; chip 2:
    7 %). Refinement, which forms residuals with the exact A on the host, would mostly remove
    it (docs/spu.md, "Analog impairments")."""
    a = _unit_diagonal_spd(6, 0)
    rhs = np.random.default_rng(1).standard_normal(6)
    exact = np.linalg.solve(a, rhs)
    errors = {}
    for size in (0.0, 0.05):
        device = spu.open("model", **SMALL, coupling_mismatch=size, impairment_seed=2,
                          samples=60_000, refine=0)
        errors[size] = _relative(device.solve(a, rhs, seed=4), exact)
    plain = spu.open("model", **SMALL, samples=60_000, refine=0)
    assert _relative(plain.solve(a, rhs, seed=4), exact) == errors[0.0] < 0.01
    assert errors[0.05] > 3 * errors[0.0] and errors[0.05] > 0.03


def test_clipped_codes_are_counted():
    """The equilibrated diagonal sits at the top code: a self-term mismatch that raises it is
    clipped there, and counted."""
    device = spu.open("model", **SMALL, self_mismatch=0.05, impairment_seed=1, samples=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        device.inv(_unit_diagonal_spd(6, 0), seed=1)
    assert device.backend.clipped_codes > 0
    assert device.backend.info()["clipped_codes"] == device.backend.clipped_codes


def test_an_impaired_simulation_answers_as_the_impaired_model():
    from thermospu.rtl.sim.runner import missing_simulator_reason

    reason = missing_simulator_reason("icarus")
    if reason:
        if os.environ.get("THERMOSPU_REQUIRE_SIMULATORS") == "1":
            pytest.fail(f"THERMOSPU_REQUIRE_SIMULATORS=1 but: {reason}")
        pytest.skip(reason)
    # The machine tests/test_driver_transports.py simulates (its compiled model is reused).
    config = dict(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10,
                  max_samples_log2=16)
    a, b, params, seeds = _jobs(n=4)
    a = a // 2                                                    # within 10-bit codes
    options = dict(coupling_mismatch=0.05, adc_gain_error=0.02, noise_spread=0.1,
                   impairment_seed=3)
    sim = open_backend("sim:icarus?coupling_mismatch=0.05&adc_gain_error=0.02&noise_spread=0.1"
                       "&impairment_seed=3", **config)
    try:
        assert isinstance(sim, ImpairedBackend)
        model = open_backend("model", **config, **options)
        assert sim.run_jobs(a, b, params, seeds) == model.run_jobs(a, b, params, seeds)
    finally:
        sim.close()
