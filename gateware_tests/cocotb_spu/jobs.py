"""Random machines and random jobs for the bit-exact comparison against the golden model.

Pure Python and NumPy (no cocotb): the pytest side draws the machines (one compile each), the
cocotb side draws the jobs for the machine it runs on, both from integer seeds, so a failing
job is replayed from the seed printed with it.

A job is a :class:`Job`: the coupling and bias codes plus :class:`~thermospu.rtl.spec.config.JobParams`.
The mix deliberately leaves the comfortable region: besides well-conditioned SPD problems it
draws full-range random codes, the extreme codes (-2**fa, 2**fa - 1), steps up to h = 1, large
noise and large b, so that saturation at both rails, the rounding of ties and the widest
products all happen in the quick set.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from thermospu.rtl.spec.config import K_MAX, JobParams, SPUConfig

__all__ = ["Job", "random_config", "random_job", "random_spd_codes"]


@dataclasses.dataclass
class Job:
    """One job for the device: ``a_q`` (n_active x n_active int64), ``b_q`` (n_active int64),
    ``params``, and ``kind``, a word saying how the matrix was drawn (for failure messages)."""

    a_q: np.ndarray
    b_q: np.ndarray
    params: JobParams
    kind: str

    def describe(self) -> str:
        p = self.params
        return (f"{self.kind} n_active={p.n_active} k={p.k} b_shift={p.b_shift} "
                f"sigma_q={p.sigma_q} sigma_shift={p.sigma_shift} burn_in={p.burn_in} "
                f"samples={p.samples} thin={p.thin} moments={p.moments} seed={p.seed:#x}")


def random_config(rng: np.random.Generator, *, n_max: int = 8) -> SPUConfig:
    """A random valid machine: 1 < N <= n_max, P a power of two <= N, random widths."""
    while True:
        n = int(rng.integers(2, n_max + 1))
        # SPUCore banks the rows of A by the low bits of the row index: P a power of two.
        lanes = int(rng.choice([1 << e for e in range(n.bit_length()) if 1 << e <= n]))
        out_bits = int(rng.integers(2, 17))
        x_bits = int(rng.integers(max(out_bits, 4), min(32, out_bits + 12) + 1))
        try:
            return SPUConfig(
                n=n, lanes=lanes,
                a_bits=int(rng.integers(3, 19)),
                b_bits=int(rng.integers(2, 25)),
                x_bits=x_bits, out_bits=out_bits,
                sigma_bits=int(rng.integers(1, 21)),
                max_samples_log2=int(rng.integers(4, 25)),
            )
        except ValueError:
            continue   # e.g. the second-moment accumulator would exceed 64 bits


def random_spd_codes(rng: np.random.Generator, n: int, config: SPUConfig,
                     condition: float) -> np.ndarray:
    """Quantized symmetric positive definite matrix: eigenvalues log-uniform in
    [1/condition, 1], random orthogonal eigenvectors, scaled so the largest entry is just
    below 1 in Q1.fa, then rounded to codes (rounding may cost definiteness at few bits)."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eig = np.exp(rng.uniform(-np.log(condition), 0.0, n))
    a = (q * eig) @ q.T
    a /= np.abs(a).max()
    codes = np.rint(a * config.a_max_code).astype(np.int64)
    return np.clip(codes, -(1 << config.fa), config.a_max_code)


def _matrix(rng: np.random.Generator, n: int, config: SPUConfig) -> tuple[np.ndarray, str]:
    lo, hi = -(1 << config.fa), config.a_max_code
    kind = rng.choice(["spd", "spd", "spd", "spd", "symmetric", "full-range", "extreme",
                       "diagonal"])
    if kind == "spd":
        return random_spd_codes(rng, n, config, condition=float(rng.uniform(1.5, 100.0))), kind
    if kind == "symmetric":
        m = rng.integers(lo, hi + 1, (n, n))
        return np.triu(m) + np.triu(m, 1).T, kind
    if kind == "full-range":   # not even symmetric: the hardware must not care
        return rng.integers(lo, hi + 1, (n, n)), kind
    if kind == "extreme":
        return rng.choice([lo, hi, 0, -1, 1], (n, n)).astype(np.int64), kind
    return np.diag(rng.integers(0, hi + 1, n)).astype(np.int64), kind


def random_job(rng: np.random.Generator, config: SPUConfig, *, max_steps: int = 48) -> Job:
    """A random job for ``config`` running at most ``max_steps`` Euler steps."""
    n = int(rng.integers(1, config.n + 1))
    a_q, kind = _matrix(rng, n, config)
    b_lo, b_hi = -(1 << (config.b_bits - 1)), config.b_max_code
    if rng.random() < 0.15:
        b_q = rng.choice([b_lo, b_hi], n).astype(np.int64)
    else:
        b_q = rng.integers(b_lo, b_hi + 1, n).astype(np.int64)
    # Mostly moderate steps; sometimes h = 1 (k = 0) or a tiny step.
    k = int(rng.choice([0, int(rng.integers(1, 7)), int(rng.integers(1, 7)), K_MAX,
                        int(rng.integers(7, K_MAX + 1))]))
    sigma_q = 0 if rng.random() < 0.2 else int(rng.integers(0, config.sigma_max_code + 1))
    thin = int(rng.choice([1, 1, 2, 3, 5]))
    samples = int(rng.integers(1, min(config.max_samples, 12, max_steps // thin) + 1))
    burn_in = int(rng.integers(0, max(1, max_steps - samples * thin) + 1))
    burn_in = max(0, min(burn_in, max_steps - samples * thin))
    params = JobParams(
        n_active=n, k=k,
        b_shift=int(rng.integers(0, config.b_shift_max + 1)),
        sigma_q=sigma_q,
        sigma_shift=int(rng.integers(0, config.sigma_shift_max + 1)),
        burn_in=burn_in, samples=samples, thin=thin,
        moments=bool(rng.random() < 0.75),
        seed=int(rng.integers(0, 1 << 63, dtype=np.int64)) * 2 + int(rng.integers(0, 2)),
    ).validate(config)
    return Job(a_q=a_q.astype(np.int64), b_q=b_q, params=params, kind=str(kind))
