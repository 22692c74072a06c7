"""From the SPU's accumulators to answers in the caller's units, with their noise.

All functions take the integer accumulators of :class:`~thermospu.rtl.spec.golden.JobResult`
(sum y and the upper triangle of sum y y**T, in Q1.fy output codes) and return float64 values in
the units of the *equilibrated* problem S y = c (see :class:`~.quantize.ConditionedMatrix`, whose
back-transforms the caller applies).
"""

from __future__ import annotations

import math

import numpy as np

from thermospu.rtl.spec.config import SPUConfig

from .jobs import batch_std_error, combine
from .quantize import QuantizedMatrix
from .ranging import unpack_upper

__all__ = ["solution_from_means", "inverse_from_moments", "solution_std_errors",
           "inverse_std_errors"]


def solution_from_means(result, b_scale: float, quantized: QuantizedMatrix,
                        config: SPUConfig) -> np.ndarray:
    """y = S**-1 c (shape (n,)) from one right-hand side's accumulators. The device's b stands
    for c / b_scale and its matrix for S / scale_A, so S**-1 c = mean * b_scale / scale_A."""
    return result.sum_y / result.count * 2.0**-config.fy * b_scale / quantized.scale


def inverse_from_moments(result, quantized: QuantizedMatrix, h: float, beta: float,
                         config: SPUConfig, correct: bool) -> tuple[np.ndarray, bool]:
    """S**-1 from the moments: beta (I - h S_dev / 2) Cov(y) / scale_A (the exact
    Euler--Maruyama correction when ``correct``), the ADC's rounding variance LSB**2/12
    (Sheppard) taken out. Also returns whether some variance fell below 4 LSB**2."""
    [inverse], [low_resolution] = _inverses_from_moments([result], quantized, h, beta, config,
                                                         correct)
    return inverse, bool(low_resolution)


def _inverses_from_moments(results: list, quantized: QuantizedMatrix, h: float, beta: float,
                           config: SPUConfig, correct: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`inverse_from_moments` of every result at once: (K, n, n) estimates and (K,)
    low-resolution flags."""
    lsb_y = 2.0**-config.fy
    n = len(results[0].sum_y)
    count = np.array([r.count for r in results], dtype=np.float64)[:, None, None]
    mean = np.stack([r.sum_y for r in results])[:, :, None] / count * lsb_y     # (K, n, 1)
    second = unpack_upper(np.stack([r.sum_yy for r in results]), n) / count * lsb_y**2
    cov = (second - mean * mean.transpose(0, 2, 1)) * (count / (count - 1))
    cov -= np.eye(n) * lsb_y**2 / 12             # Sheppard: ADC rounding variance
    if correct:
        inv_dev = beta * (np.eye(n) - h * quantized.device_matrix / 2) @ cov
    else:
        inv_dev = beta * cov
    low_resolution = np.min(np.diagonal(cov, axis1=1, axis2=2), axis=1) < 4 * lsb_y**2
    return (inv_dev + inv_dev.transpose(0, 2, 1)) / 2 / quantized.scale, low_resolution


def solution_std_errors(job_results: list, b_scale: float, quantized: QuantizedMatrix,
                        config: SPUConfig, *, cell_std: float,
                        autocorrelation_time: float) -> np.ndarray:
    """Standard error of each coordinate of y (equilibrated units) from one right-hand side's
    jobs: batch means over the jobs when there are at least 2, else the model bound
    ``cell_std * sqrt(autocorrelation_time / samples)`` (``cell_std`` the largest per-cell
    state std in range units, the autocorrelation time that of the slowest mode, in samples)."""
    if len(job_results) >= 2:
        means = np.stack([solution_from_means(r, b_scale, quantized, config)
                          for r in job_results])
        return batch_std_error(means)
    total = combine(job_results)
    n = len(total.sum_y)
    value = cell_std * math.sqrt(autocorrelation_time / total.count) * b_scale / quantized.scale
    return np.full(n, value)


def inverse_std_errors(job_results: list, quantized: QuantizedMatrix, h: float, beta: float,
                       config: SPUConfig, correct: bool, *,
                       autocorrelation_time: float) -> np.ndarray:
    """Standard error of each entry of S**-1 (equilibrated units): batch means over the jobs
    when there are at least 2, else the Gaussian model Var(C_ij) = (C_ii C_jj + C_ij**2) / ESS
    (ESS = samples / autocorrelation time of the slowest mode)."""
    if len(job_results) >= 2:
        estimates, _ = _inverses_from_moments(job_results, quantized, h, beta, config, correct)
        return batch_std_error(estimates)
    [result] = job_results
    inverse, _ = inverse_from_moments(result, quantized, h, beta, config, correct)
    diagonal = np.abs(np.diag(inverse))
    variance = (np.outer(diagonal, diagonal) + inverse**2) * autocorrelation_time / result.count
    return np.sqrt(variance)
