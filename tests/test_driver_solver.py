"""The solver's accuracy machinery on the model: jobs, refinement, conditioning, error bars.

Bit-identity of jobs and refinement across transports (model, sim:icarus, sim:verilator) is in
tests/test_driver_transports.py; here: jobs run as parallel chains equal the same jobs run one
at a time, refinement beats the quantization floor, the inverse's ranging is cached per loaded
matrix, and the error bars are calibrated over 20 seeds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import thermospu.driver as spu
from thermospu.driver import jobs
from thermospu.driver.device import Device
from thermospu.driver.transports import open_backend
from thermospu.rtl.spec.golden import JobResult


def wishart(n, seed, ratio=2):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, ratio * n))
    return G @ G.T / (ratio * n), rng.standard_normal(n)


def relative(estimate, exact):
    return np.linalg.norm(estimate - exact) / np.linalg.norm(exact)


class OneChainAtATime:
    """A backend wrapper that runs every job alone, as a board with one chain does."""

    def __init__(self, backend):
        self.backend, self.name, self.config = backend, backend.name, backend.config
        self.description = backend.description

    def run_jobs(self, a_q, b_q, params, seeds, progress=None):
        return [self.backend.run_jobs(a_q, b_q[i:i + 1], params, [s])[0]
                for i, s in enumerate(seeds)]


def test_jobs_as_parallel_chains_equal_jobs_one_after_another():
    A, b = wishart(6, 1)
    backend = open_backend("model", n=8)
    parallel = Device(backend, samples=2000, jobs=4, refine=1)
    serial = Device(OneChainAtATime(backend), samples=2000, jobs=4, refine=1)
    x, d = parallel.solve_with_info(A, np.stack([b, -b], axis=1), seed=3)
    assert d.jobs == 4 and d.chains == 8 and d.rounds == 2
    assert np.array_equal(x, serial.solve(A, np.stack([b, -b], axis=1), seed=3))
    H, d = parallel.inv_with_info(A, seed=3)
    assert d.jobs == 4 and d.chains == 4
    assert np.array_equal(H, serial.inv(A, seed=3))


def test_combined_accumulators_are_the_exact_sums():
    parts = [JobResult(np.array([1, -2]), np.array([3, 4, 5]), 10, 1, 100),
             JobResult(np.array([2**40, 7]), np.array([-3, 0, 2**50]), 12, 0, 120)]
    total = jobs.combine(parts)
    assert total == JobResult(np.array([2**40 + 1, 5]), np.array([0, 4, 2**50 + 5]), 22, 1, 220)


def test_job_count_rule():
    assert jobs.job_count(10_000, burn_in=80, thin=5) == jobs.MAX_JOBS
    assert jobs.job_count(100, burn_in=80, thin=5) == 1          # burn-ins would dominate
    assert jobs.job_count(10, burn_in=1, thin=1, requested=64) == 5   # >= 2 samples per job
    with pytest.raises(ValueError, match="positive integer"):
        jobs.job_count(100, burn_in=1, thin=1, requested=0)


def test_refinement_beats_the_quantization_floor_at_8_bits():
    A, b = wishart(16, 2)
    exact = np.linalg.solve(A, b)
    dev = spu.open("model", n=16, a_bits=8, b_bits=8, out_bits=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plain = relative(Device(dev.backend, refine=0).solve(A, b, samples=6000, seed=1), exact)
    x, d = dev.solve_with_info(A, b, samples=6000, seed=1)       # refine=None: 2 corrections
    assert d.rounds == 3
    assert relative(x, exact) < plain / 30 and relative(x, exact) < 0.003


def test_conservative_quantization_stays_selectable():
    A, b = wishart(6, 3)
    old = spu.open("model", n=8, quantization="conservative", refine=0, jobs=1, step_limit=1.0)
    x, d = old.solve_with_info(A, b, samples=500, seed=1)
    assert d.quantization == "conservative" and d.jobs == 1 and d.rounds == 1
    assert d.h * d.lambda_max <= 1.0 < 2 * d.h * d.lambda_max
    assert relative(x, np.linalg.solve(A, b)) < 0.3
    new = spu.open("model", n=8)
    assert new.solve_with_info(A, b, samples=500, seed=1)[1].quantization == "equilibrated"
    with pytest.raises(ValueError, match="quantization"):
        spu.open("model", quantization="sloppy")
    with pytest.raises(ValueError, match="refine"):
        spu.open("model", refine=-1)
    with pytest.raises(ValueError, match="step_limit"):
        spu.open("model", step_limit=2.0)


def test_the_inverse_pilot_runs_once_per_loaded_matrix_and_keeps_results_reproducible():
    A, _ = wishart(6, 4)
    dev = spu.open("model", n=8, samples=1000)
    loaded = dev.load(A)
    first = dev.inv_with_info(loaded, seed=5)
    again = dev.inv_with_info(loaded, seed=6)
    assert first[1].pilot_steps > 0 and again[1].pilot_steps == 0
    assert np.array_equal(dev.inv(loaded, seed=5), first[0])
    assert np.array_equal(dev.inv(A, seed=5), first[0])     # a fresh load, the same pilot seed


def test_many_problems_in_one_call_equal_single_calls():
    problems = [wishart(5, s) for s in range(3)]
    dev = spu.open("model", n=8, samples=600)
    many = dev.solve_many(problems, seed=9)
    seeds = dev._call_seeds(9, 3)
    for (A, b), (x, d), s in zip(problems, many, seeds):
        assert np.array_equal(x, dev.solve(A, b, seed=s)) and d.seed == s
    inverses = dev.inv_many([A for A, _ in problems], seed=9)
    assert np.array_equal(inverses[1][0], dev.inv(problems[1][0], seed=seeds[1]))


def test_a_dominating_quantization_bias_is_reported_and_warned():
    A, b = wishart(12, 5)
    dev = spu.open("model", n=12, a_bits=6, b_bits=6, out_bits=8, refine=0)
    with pytest.warns(RuntimeWarning, match="quantization bias"):
        x, d = dev.solve_with_info(A, b, samples=20_000, seed=2)
    assert np.max(d.bias_errors) > np.max(d.std_errors) and d.bias_bound > 0
    error = np.linalg.norm(x - np.linalg.solve(A, b))
    assert error <= d.bias_bound + 5 * np.linalg.norm(d.std_errors)


@pytest.mark.parametrize("bits, samples", [(16, 2000), (8, 20_000)])
def test_error_bars_cover_80_percent_and_overstate_at_most_2_5x(bits, samples):
    """Over 20 seeds (fixed), the total error bar (noise and quantization bias, no refinement)
    covers the actual error of >= 80 % of coordinates (solve) and entries (inverse), and its RMS
    is at most 2.5x the RMS actual error (measured: coverage 0.86-0.93, ratio 1.4-2.1)."""
    A, b = wishart(10, 0)
    exact = {"solve": np.linalg.solve(A, b), "inv": np.linalg.inv(A)}
    dev = spu.open("model", n=10, a_bits=bits, b_bits=bits, out_bits=bits, refine=0)
    errors, bars = {"solve": [], "inv": []}, {"solve": [], "inv": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # 8 bits: the bias dominates
        for seed in range(20):
            for kind, call in (("solve", lambda: dev.solve_with_info(A, b, samples=samples,
                                                                     seed=seed)),
                               ("inv", lambda: dev.inv_with_info(A, samples=samples, seed=seed))):
                answer, d = call()
                errors[kind].append(np.abs(answer - exact[kind]).ravel())
                bars[kind].append(d.error_bars.ravel())
    for kind in errors:
        e, bar = np.concatenate(errors[kind]), np.concatenate(bars[kind])
        assert np.mean(e <= bar) >= 0.8, kind
        assert 1.0 <= np.sqrt(np.mean(bar**2) / np.mean(e**2)) <= 2.5, kind
