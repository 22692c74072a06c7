"""Bit-exact NumPy golden model of the SPU: the executable specification.

Given an :class:`~thermospu.rtl.spec.config.SPUConfig`, quantized inputs (``a_q``, ``b_q``) and
:class:`~thermospu.rtl.spec.config.JobParams`, :func:`run_job` returns exactly the accumulator
contents the gateware produces. ``docs/spu.md`` is the prose version of this file.

One Euler--Maruyama step of cell i (all cells read the same x_q of the previous step)::

    acc_i   = sum_j a_q[i, j] * x_q[j]                                  (exact integer)
    g_i     = byte0 + byte1 + byte2 + byte3 - 510   of the cell's next xorshift128 word
    fine_i  = (b_q[i] << b_shift) - acc_i + ((sigma_q * g_i) << sigma_shift)
    x_q[i] <- clamp(x_q[i] + ((fine_i + 2**(S-1)) >> S),  -2**fx, 2**fx - 1),   S = fa + k

``>>`` is an arithmetic (flooring) shift, so ``(v + 2**(S-1)) >> S`` rounds to nearest with ties
upwards: the rounding error is bounded by half a state LSB and its mean over a dithered input is
2**-(S+1) LSB, against -1/2 LSB for truncation (see docs/spu.md, "Rounding bias").

Samples: after step t (t = 1, 2, ...) a sample is taken when t > burn_in and
(t - burn_in) % thin == 0, until ``samples`` are taken. The output quantizer (ADC) gives
``y_q = clamp((x_q + 2**(d-1)) >> d, -2**fy, 2**fy - 1)`` with d = x_bits - out_bits (y_q = x_q
when d = 0); the accumulators add y_q to ``sum_y`` and, with moments on, y_q[i] * y_q[j] (i <= j,
row-major upper triangle) to ``sum_yy``.

Speed: many independent chains (jobs sharing A and the parameters, each with its own b and seed)
run at once; the coupling sums are float64 matrix products, exact because every partial sum is an
integer below 2**53 (:attr:`SPUConfig.blas_exact`), with an int64 fallback otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from .config import G_MAX, ConfigError, JobParams, SPUConfig

__all__ = [
    "JobResult",
    "cell_seeds",
    "XorShift128Bank",
    "gaussian_from_words",
    "GoldenSPU",
    "check_job_inputs",
    "run_job",
    "run_jobs",
    "quantize_output",
]

_MASK64 = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def cell_seeds(seed: int, n: int) -> np.ndarray:
    """Initial xorshift128 states of cells 0..n-1 for a 64-bit job seed.

    Cell i's four 32-bit words (x, y, z, w) are the low and high halves of SplitMix64 outputs
    2i and 2i+1 of the stream started at ``seed``. SplitMix64 is a bijective, well-mixed hash of
    a counter, so neighbouring cells start from unrelated states. An all-zero state (a fixed
    point of xorshift, probability 2**-128) is replaced by x = 1. The host computes these and
    loads them into the device with the job.

    Returns
    -------
    ndarray of uint32, shape (n, 4): columns x, y, z, w.
    """
    if not 0 <= seed <= _MASK64:
        raise ConfigError(f"seed must be a 64-bit unsigned integer, got {seed}")
    # Output k (k = 1, 2, ...) of the stream is the mix of the counter seed + k * gamma, so all
    # 2n outputs come from one array expression (uint64 arithmetic wraps modulo 2**64).
    z = np.uint64(seed) + np.arange(1, 2 * n + 1, dtype=np.uint64) * np.uint64(_GOLDEN_GAMMA)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    lo, hi = z[0::2], z[1::2]
    low32 = np.uint64(0xFFFFFFFF)
    words = np.stack([lo & low32, lo >> np.uint64(32), hi & low32, hi >> np.uint64(32)],
                     axis=1).astype(np.uint32)
    words[~words.any(axis=1), 0] = 1
    return words


class XorShift128Bank:
    """Independent xorshift128 generators (Marsaglia 2003), one per cell and chain.

    Each step of each generator::

        t = x ^ (x << 11);  x, y, z = y, z, w;  w = w ^ (w >> 19) ^ t ^ (t >> 8)

    and the step's output is the new w. All arithmetic is on 32-bit words.

    Parameters
    ----------
    states : ndarray of uint32, shape (..., 4)
        Initial (x, y, z, w) of every generator, e.g. from :func:`cell_seeds`.
    """

    def __init__(self, states: np.ndarray):
        states = np.asarray(states, dtype=np.uint32)
        if states.shape[-1] != 4:
            raise ValueError(f"generator states need a last axis of 4 words, got {states.shape}")
        # Four word buffers whose roles rotate each step, so no word is copied.
        self._words = [np.ascontiguousarray(states[..., i]) for i in range(4)]
        self._tmp = np.empty_like(self._words[0])

    @property
    def states(self) -> np.ndarray:
        """Current (x, y, z, w) of every generator, shape (..., 4)."""
        return np.stack(self._words, axis=-1)

    def next_words(self) -> np.ndarray:
        """Advance every generator one step; returns the new w words (a view valid until the
        next call)."""
        x, y, z, w = self._words
        tmp = self._tmp
        np.left_shift(x, 11, out=tmp)
        x ^= tmp                      # x now holds t
        np.right_shift(x, 8, out=tmp)
        x ^= tmp                      # t ^ (t >> 8)
        x ^= w
        np.right_shift(w, 19, out=tmp)
        x ^= tmp                      # the x buffer now holds the new w
        self._words = [y, z, w, x]
        return x


def gaussian_from_words(words: np.ndarray) -> np.ndarray:
    """The spec's Gaussian approximation: sum of the four bytes of a 32-bit word minus 510.

    Irwin--Hall of four uniform bytes: integer in [-510, 510], mean 0, variance
    4 * (256**2 - 1) / 12 = 21845 (std :data:`~thermospu.rtl.spec.config.G_STD` ~ 147.80),
    excess kurtosis -6/5/4 = -0.3. Returns int64 of the input's shape.
    """
    w = words.astype(np.int64)
    pair_sums = (w & 0x00FF00FF) + ((w >> 8) & 0x00FF00FF)   # two byte-pair sums, 16 bits apart
    return (pair_sums & 0xFFFF) + (pair_sums >> 16) - G_MAX


def quantize_output(x_q: np.ndarray, config: SPUConfig) -> np.ndarray:
    """The output quantizer (ADC): state codes (Q1.fx) to output codes (Q1.fy), round half up,
    saturating. int64 in, int64 out."""
    d = config.adc_shift
    if d == 0:
        return x_q.copy()
    y = (x_q + (1 << (d - 1))) >> d
    np.clip(y, config.y_min_code, config.y_max_code, out=y)
    return y


@dataclasses.dataclass
class JobResult:
    """Accumulator contents after a job, exactly as the device reports them.

    Attributes
    ----------
    sum_y : ndarray of int64, shape (n_active,)
        Sum over samples of the output codes y_q (Q1.fy each).
    sum_yy : ndarray of int64, shape (n_active*(n_active+1)//2,) or None
        Sum over samples of y_q[i]*y_q[j] for i <= j, row-major upper triangle; None when
        moments were off.
    count : int
        Samples accumulated.
    saturations : int
        Cell updates whose result was clamped at a rail (saturating at 2**32 - 1).
    steps : int
        Euler steps run.
    """

    sum_y: np.ndarray
    sum_yy: np.ndarray | None
    count: int
    saturations: int
    steps: int

    def __eq__(self, other):
        if not isinstance(other, JobResult):
            return NotImplemented
        same_yy = (self.sum_yy is None and other.sum_yy is None) or (
            self.sum_yy is not None and other.sum_yy is not None
            and np.array_equal(self.sum_yy, other.sum_yy))
        return (np.array_equal(self.sum_y, other.sum_y) and same_yy
                and (self.count, self.saturations, self.steps)
                == (other.count, other.saturations, other.steps))


SATURATION_COUNTER_MAX = (1 << 32) - 1
#: Steps between calls of the ``progress`` callback of :meth:`GoldenSPU.run`.
PROGRESS_STEPS = 256


class GoldenSPU:
    """The fixed-point machine running C independent chains that share A and the job parameters.

    Parameters
    ----------
    config : SPUConfig
    a_q : ndarray of int, shape (n, n)
        Coupling codes, each in [-2**fa, 2**fa - 1]; n = params.n_active.
    b_q : ndarray of int, shape (C, n) or (n,)
        Bias codes of each chain, each in [-2**(b_bits-1), 2**(b_bits-1) - 1].
    params : JobParams
        Shared parameters; ``params.seed`` is ignored in favour of ``seeds``.
    seeds : sequence of int
        One 64-bit seed per chain.
    cell_states : ndarray of uint32, shape (C, n, 4), optional
        The generators' initial (x, y, z, w) words as a device holds them after loading them
        directly (the wire protocol's LOAD_SEEDS); by default ``cell_seeds(seeds[c], n)``.
    """

    def __init__(self, config: SPUConfig, a_q, b_q, params: JobParams, seeds: Sequence[int],
                 cell_states: np.ndarray | None = None):
        a_q, b_q = check_job_inputs(config, a_q, b_q, params, seeds)
        n = params.n_active

        self.config, self.params = config, params
        self.chains = b_q.shape[0]
        self._shift = config.fa + params.k
        # (b_q << b_shift) + 2**(S-1): the bias term with the rounding constant folded in.
        self._bias_plus_half = (b_q.astype(np.int64) << params.b_shift) + (1 << (self._shift - 1))
        self._noise_scale = np.int64(params.sigma_q << params.sigma_shift)
        if config.blas_exact:
            self._a_t = np.ascontiguousarray(a_q.T, dtype=np.float64)
        else:
            self._a_t = np.ascontiguousarray(a_q.T, dtype=np.int64)
        self.x_q = np.zeros((self.chains, n), dtype=np.int64)
        if cell_states is None:
            cell_states = np.stack([cell_seeds(s, n) for s in seeds])
        elif np.shape(cell_states) != (self.chains, n, 4):
            raise ConfigError(f"cell_states must have shape ({self.chains}, {n}, 4), "
                              f"got {np.shape(cell_states)}")
        self.noise = XorShift128Bank(cell_states)
        self.saturations = np.zeros(self.chains, dtype=np.int64)
        self.steps = 0

    def step(self) -> np.ndarray:
        """Run one Euler--Maruyama step of every chain; returns the new states (int64, (C, n))."""
        config = self.config
        if self._a_t.dtype == np.float64:
            acc = (self.x_q.astype(np.float64) @ self._a_t).astype(np.int64)
        else:
            acc = self.x_q @ self._a_t
        fine = self._bias_plus_half - acc
        if self._noise_scale:
            fine += gaussian_from_words(self.noise.next_words()) * self._noise_scale
        else:
            self.noise.next_words()
        x = self.x_q + (fine >> self._shift)
        clipped = (x > config.x_max_code) | (x < config.x_min_code)
        self.saturations += clipped.sum(axis=1)
        np.clip(x, config.x_min_code, config.x_max_code, out=x)
        self.x_q = x
        self.steps += 1
        return x

    def run(self, progress=None) -> list[JobResult]:
        """Run the whole job (burn-in, sampling, thinning) from the reset state.

        ``progress``, if given, is called with the number of steps just run (for progress bars).
        """
        p, config = self.params, self.config
        n = p.n_active
        sum_y = np.zeros((self.chains, n), dtype=np.int64)
        sum_yy = np.zeros((self.chains, n, n), dtype=np.int64) if p.moments else None
        # Outer products are summed in float64 chunks: |y_i y_j| <= 2**(2*fy), so a chunk of
        # up to 2**(53 - 2*fy) samples sums exactly, then goes into the int64 accumulators.
        chunk = int(min(1024, max(1, 2 ** (53 - 2 * config.fy))))
        buffer = np.empty((self.chains, chunk, n), dtype=np.float64)
        filled = 0
        # progress() hears about every PROGRESS_STEPS steps, so that a caller can stop a long
        # job (by raising from it) within that many steps, burn-in and thinning included.
        unreported = 0

        def advance():
            nonlocal unreported
            self.step()
            unreported += 1
            if progress and unreported == PROGRESS_STEPS:
                progress(unreported)
                unreported = 0

        for _ in range(p.burn_in):
            advance()
        for s in range(p.samples):
            for _ in range(p.thin):
                advance()
            y = quantize_output(self.x_q, config)
            sum_y += y
            if sum_yy is not None:
                buffer[:, filled, :] = y
                filled += 1
                if filled == chunk or s == p.samples - 1:
                    block = buffer[:, :filled, :]
                    sum_yy += np.matmul(block.transpose(0, 2, 1), block).astype(np.int64)
                    filled = 0
        if progress and unreported:
            progress(unreported)
        iu = np.triu_indices(n)
        return [
            JobResult(
                sum_y=sum_y[c].copy(),
                sum_yy=None if sum_yy is None else sum_yy[c][iu].copy(),
                count=p.samples,
                saturations=int(min(self.saturations[c], SATURATION_COUNTER_MAX)),
                steps=self.steps,
            )
            for c in range(self.chains)
        ]


def check_job_inputs(config: SPUConfig, a_q, b_q, params: JobParams, seeds: Sequence[int]):
    """Validate a job's inputs as the device would take them; returns (a_q, b_q (C, n)).

    Raises :class:`ConfigError` naming what is wrong: parameters, shapes, seed count and range,
    codes outside their widths.
    """
    params.validate(config)
    n = params.n_active
    a_q = np.asarray(a_q)
    b_q = np.atleast_2d(np.asarray(b_q))
    if a_q.shape != (n, n):
        raise ConfigError(f"a_q must have shape ({n}, {n}) for n_active={n}, got {a_q.shape}")
    if b_q.shape[1:] != (n,):
        raise ConfigError(f"b_q must have shape (C, {n}), got {b_q.shape}")
    if len(seeds) != b_q.shape[0]:
        raise ConfigError(f"{len(seeds)} seeds for {b_q.shape[0]} chains")
    for s in seeds:
        if not 0 <= int(s) < 1 << 64:
            raise ConfigError(f"seed {s} is not a 64-bit unsigned integer")
    _check_codes("a_q", a_q, -(1 << config.fa), config.a_max_code)
    _check_codes("b_q", b_q, -(1 << (config.b_bits - 1)), config.b_max_code)
    return a_q, b_q


def _check_codes(name, codes, lo, hi):
    if not np.issubdtype(codes.dtype, np.integer):
        raise ConfigError(f"{name} must hold integer codes, got dtype {codes.dtype}")
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ConfigError(f"{name} codes must lie in [{lo}, {hi}], got [{codes.min()}, {codes.max()}]")


def run_jobs(config: SPUConfig, a_q, b_q, params: JobParams, seeds: Sequence[int],
             progress=None) -> list[JobResult]:
    """Run len(seeds) jobs that share ``a_q`` and ``params`` (chain c has bias ``b_q[c]`` and
    seed ``seeds[c]``); bit-identical to running each alone with :func:`run_job`."""
    return GoldenSPU(config, a_q, b_q, params, seeds).run(progress)


def run_job(config: SPUConfig, a_q, b_q, params: JobParams) -> JobResult:
    """Run one job exactly as the device does; returns its accumulator contents."""
    return run_jobs(config, a_q, np.asarray(b_q)[None, :], params, [params.seed])[0]
