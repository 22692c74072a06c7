"""FLOP counts and SPU job times: the cost of one operation on a machine (seconds).

Digital operations count nominal FLOP (``2 m k n`` for a product, ``2 n**3`` for an LU inverse,
``9 n**3`` for a symmetric eigendecomposition with vectors) and bytes moved; an SPU job is a
load, a burn-in of ``burn_in_tau`` slowest-mode relaxation times, and enough samples for the
requested accuracy, correlated as ``rho = exp(-dt / (kappa t_u))`` so that ``N`` effective
samples take ``N (1 + rho) / (1 - rho)`` samples. These are the rules of our driver
(:func:`thermospu.driver.autorange.samples_for_tolerance`), which
``bench/bench_costmodel_calibration.py`` checks against the golden model's measured step counts.
"""

from __future__ import annotations

import math

from .hardware import AnalogSPU, DigitalHardware
from .units import CostModelError
from .workloads import SolverAccuracy

__all__ = ["digital_op_seconds", "spu_inverse_seconds", "spu_solve_seconds"]


def digital_op_seconds(hw: DigitalHardware, op: str, *, m: int = 0, k: int = 0, n: int = 0,
                       elements: int = 0, words_moved: int = 0) -> float:
    """Time (s) of one digital operation.

    ``op``: ``"matmul"`` (m x k times k x n: 2mkn FLOP), ``"inverse"`` (n x n: 2 n**3, LU),
    ``"eigh"`` (n x n symmetric eigendecomposition with vectors: 9 n**3, Golub & Van Loan),
    ``"elementwise"`` (``elements`` values, ``words_moved`` words read or written).
    """
    b = hw.bytes_per_element
    if op == "matmul":
        flops, moved, rate = 2.0 * m * k * n, (m * k + k * n + m * n) * b, hw.matmul_flops_per_s
    elif op == "inverse":
        flops, moved, rate = 2.0 * n**3, 2 * n * n * b, hw.inverse_flops_per_s
    elif op == "eigh":
        flops, moved, rate = 9.0 * n**3, 2 * n * n * b, hw.eigh_flops_per_s
    elif op == "elementwise":
        flops, moved, rate = 2.0 * elements, words_moved * b, hw.matmul_flops_per_s
    else:
        raise CostModelError(f"unknown digital operation {op!r}")
    latency = hw.factorization_latency_s if op in ("inverse", "eigh") else hw.op_latency_s
    return latency + max(flops / rate, moved / hw.memory_bytes_per_s)


def _effective_samples_time(spu: AnalogSPU, n: int, kappa: float, effective: float,
                            moments: bool) -> tuple[float, float]:
    """(samples, seconds) to collect ``effective`` independent samples of the slowest mode."""
    dt = spu.sample_interval_s(n, moments)
    rho = math.exp(-dt / (kappa * spu.time_unit_s(n)))
    samples = math.ceil(effective * (1 + rho) / (1 - rho)) if rho < 1 else math.inf
    return samples, samples * dt


def spu_inverse_seconds(spu: AnalogSPU, n: int, acc: SolverAccuracy) -> dict:
    """Phases (s) of inverting one n x n matrix on the SPU: load, burn-in, sampling, readout.

    Effective samples ``(n + 1) / eps**2``: the relative Frobenius error of a sample covariance.
    """
    kappa = acc.condition_number
    samples, sampling = _effective_samples_time(spu, n, kappa, (n + 1) / acc.target_error**2,
                                                True)
    return {"load": spu.load_matrix_s(n),
            "burn_in": acc.burn_in_tau * kappa * spu.time_unit_s(n),
            "sampling": sampling, "readout": spu.read_moments_s(n), "samples": samples}


def spu_solve_seconds(spu: AnalogSPU, n: int, acc: SolverAccuracy) -> dict:
    """Phases (s) of one solve A x = b on the SPU with A loaded and b in the SPU's buffer: put b
    on the DACs, relax from the previous solution, average (the mean stays in the on-chip
    accumulators until the layer's results go back in one transfer). Effective samples
    ``max(1, (noise_to_signal/eps)**2)``."""
    kappa = acc.condition_number
    effective = max(1.0, (acc.noise_to_signal / acc.target_error) ** 2)
    samples, sampling = _effective_samples_time(spu, n, kappa, effective, False)
    return {"rhs_dac": spu.load_vector_s(n),
            "burn_in": acc.burn_in_tau * kappa * spu.time_unit_s(n),
            "sampling": sampling, "samples": samples}
