"""The compiled kernel (rtl/spec/kernel.py) equals the NumPy golden model bit for bit.

Random configurations cover widths, problem sizes, step and bias shifts, noise on and off,
moments on and off, burn-in and thinning, the ADC with and without a shift, the float64 and the
int64 coupling path, and jobs that drive the state into both rails. Every accumulator, the
saturation count, the step count and the final state must be equal. A failing case prints its
seed; replay it with ``-k "case and <seed>"``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from thermospu.rtl.spec import golden, kernel
from thermospu.rtl.spec.config import ConfigError, JobParams, SPUConfig
from thermospu.rtl.spec.golden import PROGRESS_STEPS, GoldenSPU


def random_config(rng) -> SPUConfig:
    """Random widths; one in four is wide enough for the int64 coupling path
    (fa + fx + log2 n > 53), one in four has no ADC shift (out_bits = x_bits)."""
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return SPUConfig(n=64, a_bits=18, b_bits=int(rng.integers(4, 25)), x_bits=32,
                         out_bits=int(rng.integers(2, 21)), sigma_bits=int(rng.integers(1, 17)),
                         max_samples_log2=12)
    x_bits = int(rng.integers(6, 33 if kind > 1 else 21))
    out_bits = x_bits if kind == 1 else int(rng.integers(2, min(x_bits, 20) + 1))
    return SPUConfig(n=int(rng.choice([8, 24, 64])), a_bits=int(rng.integers(3, 19)),
                     b_bits=int(rng.integers(4, 25)), x_bits=x_bits, out_bits=out_bits,
                     sigma_bits=int(rng.integers(1, 17)), max_samples_log2=12)


def random_case(rng, config: SPUConfig):
    """A random symmetric problem in codes and random job parameters; strong biases and weak
    couplings (which saturate the state) come up often."""
    n = int(rng.integers(1, min(config.n, 20) + 1))
    G = rng.standard_normal((n, n + 2))
    A = G @ G.T / (n + 2) + rng.uniform(0.01, 1.0) * np.eye(n)
    a_q = np.rint(A / np.abs(A).max() * config.a_max_code * rng.uniform(0.05, 1.0))
    a_q = np.clip(a_q, -(1 << config.fa), config.a_max_code).astype(np.int64)
    chains = int(rng.integers(1, 5))
    b_q = rng.integers(-config.b_max_code, config.b_max_code + 1, (chains, n))
    p = JobParams(n_active=n, k=int(rng.integers(0, 5)),
                  b_shift=int(rng.integers(0, config.b_shift_max + 1)),
                  sigma_q=int(rng.integers(0, config.sigma_max_code + 1)) * int(rng.integers(0, 2)),
                  sigma_shift=0, burn_in=int(rng.integers(0, 40)),
                  samples=int(rng.integers(1, 60)), thin=int(rng.integers(1, 5)),
                  moments=bool(rng.integers(0, 2)))
    p = dataclasses.replace(p, sigma_shift=int(rng.integers(0, config.sigma_shift_max + 1)))
    seeds = [int(s) for s in rng.integers(0, 2**63, chains)]
    return a_q, b_q, p, seeds


def assert_same_machine(config, a_q, b_q, params, seeds, **kwargs):
    golden = GoldenSPU(config, a_q, b_q, params, seeds, **kwargs)
    fast = kernel.FastSPU(config, a_q, b_q, params, seeds, **kwargs)
    assert fast.run() == golden.run()
    assert np.array_equal(fast.x_q, golden.x_q)
    assert fast.steps == golden.steps == params.steps
    return golden


@pytest.mark.parametrize("case", range(60))
def test_kernel_equals_golden_model_on_random_configurations(case):
    seed = 5000 + case
    rng = np.random.default_rng(seed)
    config = random_config(rng)
    a_q, b_q, params, seeds = random_case(rng, config)
    print(f"replay: seed {seed}, {config}, {params}")
    assert_same_machine(config, a_q, b_q, params, seeds)


def test_the_random_cases_reach_both_paths_and_saturation():
    """The test of the test: the random cases exercise what they claim to."""
    seen = {"float64": 0, "int64": 0, "saturated": 0, "no noise": 0, "adc shift 0": 0}
    for case in range(60):
        rng = np.random.default_rng(5000 + case)
        config = random_config(rng)
        a_q, b_q, params, seeds = random_case(rng, config)
        seen["float64" if config.blas_exact else "int64"] += 1
        seen["no noise"] += params.sigma_q == 0
        seen["adc shift 0"] += config.adc_shift == 0
        if params.samples * params.thin + params.burn_in < 400:
            [first, *_] = GoldenSPU(config, a_q, b_q, params, seeds).run()
            seen["saturated"] += first.saturations > 0
    assert min(seen.values()) >= 3, seen


def test_int64_coupling_path_on_wide_registers():
    """fa + fx + log2 n > 53: the coupling sums run in int64 on both sides."""
    config = SPUConfig(n=64, a_bits=18, b_bits=24, x_bits=32, out_bits=20, max_samples_log2=20)
    assert not config.blas_exact
    rng = np.random.default_rng(11)
    n = 40
    a_q = rng.integers(-(1 << config.fa), config.a_max_code + 1, (n, n))
    a_q = (a_q + a_q.T) // 2
    a_q[np.diag_indices(n)] = config.a_max_code
    b_q = rng.integers(-config.b_max_code, config.b_max_code + 1, (2, n))
    params = JobParams(n_active=n, k=3, b_shift=config.b_shift_max, sigma_q=3000,
                       sigma_shift=5, burn_in=30, samples=80, thin=2)
    assert_same_machine(config, a_q, b_q, params, [3, 4])


def test_loaded_generator_states_and_progress_reports():
    config = SPUConfig(n=16)
    rng = np.random.default_rng(2)
    a_q, b_q, params, _ = random_case(rng, config)
    params = dataclasses.replace(params, burn_in=3 * PROGRESS_STEPS + 7)
    chains = b_q.shape[0]
    states = rng.integers(0, 2**32, (chains, params.n_active, 4), dtype=np.uint32)
    assert_same_machine(config, a_q, b_q, params, [0] * chains, cell_states=states)
    reported = []
    kernel.FastSPU(config, a_q, b_q, params, [0] * chains, cell_states=states).run(reported.append)
    assert sum(reported) == params.steps


def test_raising_from_progress_stops_the_job():
    config = SPUConfig(n=8)
    a_q = np.eye(4, dtype=np.int64) * config.a_max_code
    params = JobParams(n_active=4, k=1, b_shift=0, sigma_q=1, sigma_shift=0,
                       burn_in=2**31, samples=1)

    class Stop(Exception):
        pass

    def stop(steps):
        raise Stop

    machine = kernel.FastSPU(config, a_q, np.zeros(4, np.int64), params, [1])
    with pytest.raises(Stop):
        machine.run(stop)
    assert 0 < machine.steps < params.steps


def test_run_jobs_matches_golden_seeds():
    config = SPUConfig(n=8)
    rng = np.random.default_rng(9)
    a_q, b_q, params, seeds = random_case(rng, config)
    assert kernel.run_jobs(config, a_q, b_q, params, seeds) == golden.run_jobs(
        config, a_q, b_q, params, seeds)


@pytest.mark.parametrize("chains", [1, 2, 5, 8])
def test_thread_count_does_not_change_the_results(chains):
    """Chains split over threads (contiguous groups, see kernel.chain_groups) give the same
    accumulators and final states as one thread, for odd and even chain counts."""
    rng = np.random.default_rng(77 + chains)
    config = SPUConfig(n=16, max_samples_log2=12)
    a_q, _, params, _ = random_case(rng, config)
    n = params.n_active
    b_q = rng.integers(-config.b_max_code, config.b_max_code + 1, (chains, n))
    seeds = [int(s) for s in rng.integers(0, 2**63, chains)]
    params = dataclasses.replace(params, samples=50, moments=True)
    one = kernel.FastSPU(config, a_q, b_q, params, seeds, threads=1)
    many = kernel.FastSPU(config, a_q, b_q, params, seeds, threads=3)
    assert many.run() == one.run()
    assert np.array_equal(many.x_q, one.x_q)


def test_chain_groups_cover_every_chain_once_in_even_groups():
    for chains in range(1, 20):
        for threads in range(1, 6):
            groups = kernel.chain_groups(chains, threads)
            assert [c for lo, hi in groups for c in range(lo, hi)] == list(range(chains))
            assert len(groups) <= threads and all(hi > lo for lo, hi in groups)
            assert all((hi - lo) % 2 == 0 for lo, hi in groups[:-1])


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv(kernel.THREADS_ENV, "3")
    assert kernel.default_threads() == 3
    monkeypatch.setenv(kernel.THREADS_ENV, "0")
    with pytest.raises(ConfigError, match=kernel.THREADS_ENV):
        kernel.default_threads()
