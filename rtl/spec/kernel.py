"""The golden model's arithmetic as a compiled kernel: bit for bit the same jobs, ~100x faster.

:mod:`.golden` is the specification: readable NumPy, one chain-batched array operation per
stage of an Euler step, about a dozen NumPy calls per step. Where results must come fast (the
emulated device, :mod:`.emulator`) :class:`FastSPU` runs the *same integer arithmetic* in one
loop compiled by numba: the xorshift128 generators, the Irwin--Hall Gaussian approximation, the
integrator update with round-half-up and saturation, the output quantizer (ADC), burn-in and
thinning, and the accumulators sum y and sum y y^T. ``tests/test_spec_kernel.py`` proves every
accumulator equal to :class:`~.golden.GoldenSPU`'s on random configurations.

Exactness: every quantity is an int64 except the coupling sum ``acc_i = sum_j a_q[i, j] x_q[j]``,
which runs in float64 when :attr:`SPUConfig.blas_exact` holds (every product and every partial
sum is an integer below 2**53 in magnitude, so any summation order gives the exact integer) and
in int64 otherwise, exactly as :class:`~.golden.GoldenSPU` chooses. Generator words are 32-bit
values held in int64 and masked after the left shift. The second-moment accumulators are int64:
|sum y_i y_j| <= samples * 2**(2 fy) < 2**63 (:attr:`SPUConfig.sum_xx_bits` <= 64).

Cost: per Euler step and chain n**2 multiply-adds (the coupling) and O(n) integer work; per
sample n(n+1)/2 multiply-adds with moments on. Chains are independent, so a job's chains are
split into contiguous groups run by up to :func:`default_threads` threads (each thread runs
whole chains with the same arithmetic, so the results do not depend on the thread count); the
GIL is released while they run, so an emulated device answers STATUS meanwhile. The first call on a machine compiles the kernel
(18 s on the loaded shared machine, ``docs/bench_kernel.md``) and caches it next to this file
(``cache=True``); later processes load it from there (0.3-7 s, likewise).
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Sequence

import numba
import numpy as np

from .config import G_MAX, ConfigError, JobParams, SPUConfig
from .golden import (PROGRESS_STEPS, SATURATION_COUNTER_MAX, JobResult, cell_seeds,
                     check_job_inputs)

__all__ = ["FastSPU", "run_jobs", "WORK_PER_CALL", "THREADS_ENV", "default_threads",
           "chain_groups"]

_MASK32 = 0xFFFFFFFF
#: Multiply-adds (chains x steps x n**2) the kernel runs between two returns to Python, where
#: ``progress`` is called: about a millisecond, so an abort takes effect that fast while the
#: call overhead (a few microseconds) stays below 1 %.
WORK_PER_CALL = 1 << 22
#: Environment variable that sets the kernel's thread count (default: the CPU count). Parallel
#: worker processes (``thermospu compare --jobs``) set it to 1 so they do not oversubscribe.
THREADS_ENV = "THERMOSPU_EMULATOR_THREADS"


def default_threads() -> int:
    """Threads a job's chains are spread over: ``$THERMOSPU_EMULATOR_THREADS`` if set (a
    positive integer), else the number of CPUs."""
    text = os.environ.get(THREADS_ENV)
    if text is None:
        return os.cpu_count() or 1
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"{THREADS_ENV}={text!r} is not a positive integer")
    return threads


def chain_groups(chains: int, threads: int) -> list[tuple[int, int]]:
    """Split ``range(chains)`` into at most ``threads`` contiguous (start, stop) groups of
    near-equal size, every group but the last of even size (the kernel steps chains in pairs)
    and no group empty."""
    count = max(1, min(threads, chains // 2))
    size = -(-chains // count)
    size += size % 2
    return [(start, min(start + size, chains)) for start in range(0, chains, size)]


_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _thread_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="thermospu-kernel")
    return _pool


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _coupling(a, x_mirror, c, acc):
    """acc[c, i] = sum_j a[i, j] * x_mirror[c, j]; exact in either dtype (see the module
    docstring: reassociation is harmless because every partial sum is an exactly representable
    integer). Four rows at a time share each load of x and keep four sums in flight."""
    n = a.shape[0]
    x = x_mirror[c]
    i = 0
    while i + 4 <= n:
        s0 = s1 = s2 = s3 = a[i, 0] * 0
        for j in range(n):
            xj = x[j]
            s0 += a[i, j] * xj
            s1 += a[i + 1, j] * xj
            s2 += a[i + 2, j] * xj
            s3 += a[i + 3, j] * xj
        acc[c, i], acc[c, i + 1], acc[c, i + 2], acc[c, i + 3] = s0, s1, s2, s3
        i += 4
    for r in range(i, n):
        s = a[r, 0] * 0
        for j in range(n):
            s += a[r, j] * x[j]
        acc[c, r] = s


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _coupling_pair(a, x_mirror, c, acc):
    """:func:`_coupling` of chains c and c + 1 at once: each load of a row of ``a`` serves both
    chains (eight sums in flight), which is what lets many chains approach the matmul bound."""
    n = a.shape[0]
    x, y = x_mirror[c], x_mirror[c + 1]
    i = 0
    while i + 4 <= n:
        s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = a[i, 0] * 0
        for j in range(n):
            xj, yj = x[j], y[j]
            a0, a1, a2, a3 = a[i, j], a[i + 1, j], a[i + 2, j], a[i + 3, j]
            s0 += a0 * xj
            s1 += a1 * xj
            s2 += a2 * xj
            s3 += a3 * xj
            t0 += a0 * yj
            t1 += a1 * yj
            t2 += a2 * yj
            t3 += a3 * yj
        acc[c, i], acc[c, i + 1], acc[c, i + 2], acc[c, i + 3] = s0, s1, s2, s3
        acc[c + 1, i], acc[c + 1, i + 1], acc[c + 1, i + 2], acc[c + 1, i + 3] = t0, t1, t2, t3
        i += 4
    for r in range(i, n):
        s = t = a[r, 0] * 0
        for j in range(n):
            s += a[r, j] * x[j]
            t += a[r, j] * y[j]
        acc[c, r], acc[c + 1, r] = s, t


@numba.njit(cache=True, nogil=True)
def _gaussians(rng, c, g):
    """Advance chain c's n xorshift128 generators one step (rng[c] holds the x, y, z, w rows)
    and write the spec's Gaussian approximation of each new word w into g."""
    n = g.shape[0]
    for i in range(n):
        x, w = rng[c, 0, i], rng[c, 3, i]
        t = (x ^ (x << 11)) & _MASK32
        new = w ^ (w >> 19) ^ t ^ (t >> 8)
        rng[c, 0, i] = rng[c, 1, i]
        rng[c, 1, i] = rng[c, 2, i]
        rng[c, 2, i] = w
        rng[c, 3, i] = new
        pairs = (new & 0x00FF00FF) + ((new >> 8) & 0x00FF00FF)
        g[i] = (pairs & 0xFFFF) + (pairs >> 16) - G_MAX


@numba.njit(cache=True, nogil=True)
def _accumulate(x, c, adc_shift, y_lo, y_hi, y, sum_y, sum_yy):
    """Quantize chain c's state to output codes (round half up, saturating) and add the sample
    to sum_y and, when sum_yy has columns, to the row-major upper triangle of sum y y^T."""
    n = y.shape[0]
    half = (1 << adc_shift) >> 1
    for i in range(n):
        v = (x[c, i] + half) >> adc_shift
        y[i] = min(max(v, y_lo), y_hi)
        sum_y[c, i] += y[i]
    if sum_yy.shape[1]:
        k = 0
        for i in range(n):
            yi = y[i]
            for j in range(i, n):
                sum_yy[c, k] += yi * y[j]
                k += 1


@numba.njit(cache=True, nogil=True)
def _advance(a, bias_plus_half, noise_scale, shift, x_lo, x_hi, adc_shift, y_lo, y_hi,
             burn_in, thin, t_from, t_to, x, x_mirror, rng, saturations, sum_y, sum_yy):
    """Run steps t_from + 1 ... t_to of every chain (step t is the t-th of the job), sampling
    after step t when t > burn_in and (t - burn_in) % thin == 0. Updates x, x_mirror (x in a's
    dtype), rng, saturations and the accumulators in place."""
    chains, n = x.shape
    acc = np.empty((chains, n), dtype=a.dtype)
    g = np.empty(n, dtype=np.int64)
    y = np.empty(n, dtype=np.int64)
    for t in range(t_from + 1, t_to + 1):
        sample = t > burn_in and (t - burn_in) % thin == 0
        for c in range(0, chains - 1, 2):
            _coupling_pair(a, x_mirror, c, acc)
        if chains % 2:
            _coupling(a, x_mirror, chains - 1, acc)
        for c in range(chains):
            _gaussians(rng, c, g)
            clamped = 0
            for i in range(n):
                fine = bias_plus_half[c, i] - np.int64(acc[c, i]) + g[i] * noise_scale
                v = x[c, i] + (fine >> shift)
                kept = min(max(v, x_lo), x_hi)
                clamped += kept != v
                x[c, i] = kept
                x_mirror[c, i] = kept
            saturations[c] += clamped
            if sample:
                _accumulate(x, c, adc_shift, y_lo, y_hi, y, sum_y, sum_yy)


class FastSPU:
    """:class:`~.golden.GoldenSPU` compiled: the same constructor, the same :meth:`run`, the
    same results bit for bit.

    Parameters
    ----------
    config : SPUConfig
    a_q : ndarray of int, shape (n, n)
        Coupling codes (Q1.fa), n = params.n_active.
    b_q : ndarray of int, shape (C, n) or (n,)
        Bias codes of each chain (signed ``b_bits``).
    params : JobParams
        Shared parameters; ``params.seed`` is ignored in favour of ``seeds``.
    seeds : sequence of int
        One 64-bit seed per chain.
    cell_states : ndarray of uint32, shape (C, n, 4), optional
        The generators' initial (x, y, z, w) words, as loaded by LOAD_SEEDS; by default
        ``cell_seeds(seeds[c], n)``.
    threads : int, optional
        Threads the chains are spread over (default :func:`default_threads`); the results are
        the same for every value.
    """

    def __init__(self, config: SPUConfig, a_q, b_q, params: JobParams, seeds: Sequence[int],
                 cell_states: np.ndarray | None = None, threads: int | None = None):
        a_q, b_q = check_job_inputs(config, a_q, b_q, params, seeds)
        n = params.n_active
        self.config, self.params = config, params
        self.chains = b_q.shape[0]
        self._shift = config.fa + params.k
        self._bias_plus_half = np.ascontiguousarray(
            (b_q.astype(np.int64) << params.b_shift) + (1 << (self._shift - 1)))
        self._noise_scale = params.sigma_q << params.sigma_shift
        dtype = np.float64 if config.blas_exact else np.int64
        self._a = np.ascontiguousarray(a_q, dtype=dtype)
        self._x_mirror = np.zeros((self.chains, n), dtype=dtype)
        self.x_q = np.zeros((self.chains, n), dtype=np.int64)
        if cell_states is None:
            cell_states = np.stack([cell_seeds(s, n) for s in seeds])
        elif np.shape(cell_states) != (self.chains, n, 4):
            raise ConfigError(f"cell_states must have shape ({self.chains}, {n}, 4), "
                              f"got {np.shape(cell_states)}")
        # (C, 4, n): the four words of all cells of a chain lie in four contiguous rows.
        self._rng = np.ascontiguousarray(
            np.asarray(cell_states, dtype=np.uint32).transpose(0, 2, 1), dtype=np.int64)
        self.saturations = np.zeros(self.chains, dtype=np.int64)
        self.steps = 0
        threads = default_threads() if threads is None else threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be a positive int, got {threads!r}")
        self._groups = chain_groups(self.chains, threads)

    def _advance(self, group: tuple[int, int], stop: int, sum_y, sum_yy) -> None:
        """Run the chains ``group`` = (start, stop) from step ``self.steps`` to ``stop``."""
        p, config, c = self.params, self.config, slice(*group)
        _advance(self._a, self._bias_plus_half[c], self._noise_scale, self._shift,
                 config.x_min_code, config.x_max_code, config.adc_shift, config.y_min_code,
                 config.y_max_code, p.burn_in, p.thin, self.steps, stop, self.x_q[c],
                 self._x_mirror[c], self._rng[c], self.saturations[c], sum_y[c], sum_yy[c])

    def run(self, progress=None) -> list[JobResult]:
        """Run the whole job (burn-in, sampling, thinning) from the reset state.

        ``progress``, if given, is called with the number of steps just run, at least every
        ``max(PROGRESS_STEPS, WORK_PER_CALL // (C n**2))`` steps; raising from it stops the job.
        """
        p = self.params
        n = p.n_active
        sum_y = np.zeros((self.chains, n), dtype=np.int64)
        sum_yy = np.zeros((self.chains, n * (n + 1) // 2 if p.moments else 0), dtype=np.int64)
        per_call = max(PROGRESS_STEPS, WORK_PER_CALL // (self.chains * n * n))
        total = p.steps
        while self.steps < total:
            stop = min(total, self.steps + per_call)
            pending = [_thread_pool().submit(self._advance, group, stop, sum_y, sum_yy)
                       for group in self._groups[1:]]
            self._advance(self._groups[0], stop, sum_y, sum_yy)
            for other in pending:
                other.result()
            done, self.steps = stop - self.steps, stop
            if progress:
                progress(done)
        return [
            JobResult(sum_y=sum_y[c].copy(), sum_yy=sum_yy[c].copy() if p.moments else None,
                      count=p.samples,
                      saturations=int(min(self.saturations[c], SATURATION_COUNTER_MAX)),
                      steps=self.steps)
            for c in range(self.chains)
        ]


def run_jobs(config: SPUConfig, a_q, b_q, params: JobParams, seeds: Sequence[int],
             progress=None) -> list[JobResult]:
    """:func:`~.golden.run_jobs` on the compiled kernel: bit-identical results."""
    return FastSPU(config, a_q, b_q, params, seeds).run(progress)
