"""How a run fills the SPU's state range: noise amplitude and right-hand-side scale.

The state x lies in [-1, 1) (device units). A run is planned so that |mean| + 5 std of the busiest
cell fills ``target`` of that range: a solve gives half the target to the mean and half to 5 std,
an inverse all of it to 5 std (b = 0). A short pilot run measures the real |mean| + 5 std and
scales both up (:meth:`Ranging.grown`); saturation halves them (:meth:`Ranging.backed_off`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from thermospu.rtl.spec.config import SPUConfig

from .quantize import QuantizedVectors, quantize_vectors

__all__ = ["Ranging", "range_fill", "unpack_upper"]


@dataclasses.dataclass(frozen=True)
class Ranging:
    """How a run fills the state range (device units; the state x lies in [-1, 1)).

    Attributes
    ----------
    target : float
        Fraction of the state range that |mean| + 5 std of the busiest cell may fill.
    b_device_peak : float
        Largest |b| entry in device units (0 for an inverse: b = 0).
    beta : float
        Inverse temperature in device units (noise variance per step 2 h / beta).
    cell_std : float
        Largest per-cell state std as a fraction of the range: the bound of
        :meth:`from_bounds`, or the pilot's measure.
    """

    target: float
    b_device_peak: float
    beta: float
    cell_std: float

    @classmethod
    def from_bounds(cls, target: float, lambda_min: float, moments: bool) -> Ranging:
        """Ranging from bounds: |mean| <= |b|_2 / lambda_min, var <= 1 / (beta lambda_min); a
        solve gives half the target to the mean and half to 5 std, an inverse all to 5 std."""
        mean_peak = 0.0 if moments else target / 2
        noise_std = (target - mean_peak) / 5
        b_device_peak = mean_peak * lambda_min if mean_peak else 0.0
        return cls(target=target, b_device_peak=b_device_peak,
                   beta=1.0 / (noise_std**2 * lambda_min), cell_std=noise_std)

    def grown(self, factor: float) -> Ranging:
        """Mean and std scaled up by ``factor`` (the pilot found room)."""
        return dataclasses.replace(self, b_device_peak=self.b_device_peak * factor,
                                   beta=self.beta / factor**2, cell_std=self.cell_std * factor)

    def backed_off(self) -> Ranging:
        """Mean, std and target halved (the state saturated)."""
        return Ranging(target=self.target / 2, b_device_peak=self.b_device_peak / 2,
                       beta=self.beta * 4, cell_std=self.cell_std / 2)

    def noise_sigma(self, h: float) -> float:
        """Per-step noise std in state units at Euler step size ``h``: sqrt(2 h / beta)."""
        return math.sqrt(2 * h / self.beta)

    def bias_vectors(self, columns: np.ndarray, config: SPUConfig) -> QuantizedVectors:
        """The right-hand sides quantized with their largest entry at ``b_device_peak``."""
        if self.b_device_peak:
            return quantize_vectors(columns, self.b_device_peak, config)
        return quantize_vectors(np.zeros_like(columns), 1.0, config)


def unpack_upper(sum_yy: np.ndarray, n: int) -> np.ndarray:
    """The symmetric (n, n) matrix whose row-major upper triangle is ``sum_yy`` (shape (m,),
    m = n(n+1)/2); a stack of triangles (shape (..., m)) gives a stack of matrices."""
    sum_yy = np.asarray(sum_yy)
    full = np.zeros(sum_yy.shape[:-1] + (n, n))
    rows, cols = np.triu_indices(n)
    full[..., rows, cols] = sum_yy
    full[..., cols, rows] = sum_yy
    return full


def range_fill(result, config: SPUConfig) -> tuple[float, float]:
    """(max_i |mean_i| + 5 std_i, max_i std_i) of a pilot run, as fractions of the state range."""
    lsb = 2.0**-config.fy
    mean = result.sum_y / result.count
    second = np.diagonal(unpack_upper(result.sum_yy, len(mean))) / result.count
    std = np.sqrt(np.maximum(second - mean**2, 0))
    return float(np.max(np.abs(mean) + 5 * std) * lsb), float(np.max(std) * lsb)
