"""Input quantization (the DACs): real matrices and vectors to the SPU's integer codes.

The coupling matrix is quantized **conservatively** (the paper's diagonal-dominant quantization):
after rounding, each diagonal code is raised by the Gershgorin bound of that row's rounding error, so
the matrix the SPU holds is never *less damped* than the input (Loewner order
``A_q * 2**-fa >= A / scale``): positive definite whenever the input is, positive semidefinite
whenever the input is.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from thermospu.rtl.spec.config import SPUConfig

__all__ = ["QuantizedMatrix", "quantize_matrix", "QuantizedVectors", "quantize_vectors"]


@dataclasses.dataclass(frozen=True)
class QuantizedMatrix:
    """A coupling matrix as the SPU holds it.

    Attributes
    ----------
    codes : ndarray of int64, shape (n, n)
        Signed Q1.fa codes; the device's matrix is ``codes * 2**-fa`` ("device units").
    scale : float
        Per-matrix scale factor: the device matrix stands for ``A / scale``.
    boost : ndarray of int64, shape (n,)
        Codes added to each diagonal entry (Gershgorin bound of the row's rounding error).
    """

    codes: np.ndarray
    scale: float
    boost: np.ndarray
    fa: int

    @property
    def device_matrix(self) -> np.ndarray:
        """The matrix the SPU actually integrates, in device units (float64)."""
        return self.codes * 2.0**-self.fa


def quantize_matrix(A: np.ndarray, config: SPUConfig) -> QuantizedMatrix:
    """Quantize a symmetric matrix to ``a_bits`` codes with a per-matrix scale, conservatively.

    The scale maps the largest |entry| to the largest code; rows' rounding errors E (in codes)
    are bounded by ``boost_i = ceil(sum_j |E_ij|)`` which is added to the diagonal, making
    ``codes - A/scale * 2**fa = diag(boost) - E`` diagonally dominant with a non-negative
    diagonal, hence positive semidefinite. When a boosted diagonal would overflow the code
    range, the scale grows and the quantization is redone (at most a few rounds: the boost is at
    most n/2 codes).

    Cost: O(n**2).
    """
    fa, top = config.fa, config.a_max_code
    peak = float(np.max(np.abs(A)))
    if peak == 0.0:
        raise ValueError("the zero matrix has no inverse and no scale")
    scale = peak / top                         # real value per code; largest entry -> `top`
    for _ in range(64):
        exact = A / scale                      # in codes
        codes = np.rint(exact).astype(np.int64)
        error = exact - codes
        boost = np.ceil(np.abs(error).sum(axis=1) - 1e-12).astype(np.int64)
        boost = np.maximum(boost, 0)
        diag = codes.diagonal() + boost
        overflow = diag.max() / top
        if overflow <= 1.0:
            codes[np.diag_indices_from(codes)] = diag
            return QuantizedMatrix(codes=codes, scale=scale * 2.0**fa, boost=boost, fa=fa)
        scale *= max(overflow, 1.0 + 2.0**-20)
    raise ValueError("conservative quantization did not converge")  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class QuantizedVectors:
    """Right-hand sides as the SPU holds them.

    Attributes
    ----------
    codes : ndarray of int64, shape (C, n)
        Signed ``b_bits`` codes; chain c's bias in device units is
        ``codes[c] * 2**(b_shift - fa - fx)``.
    scales : ndarray of float64, shape (C,)
        Per-vector scale: chain c's device bias stands for ``b_c / scales[c]``.
    b_shift : int
        The job's bias alignment shift (shared by all chains).
    """

    codes: np.ndarray
    scales: np.ndarray
    b_shift: int


def quantize_vectors(B: np.ndarray, device_peak: float, config: SPUConfig) -> QuantizedVectors:
    """Quantize right-hand sides (rows of ``B``, shape (C, n)) so each row's largest |entry| is
    ``device_peak`` in device units, using as many of the ``b_bits`` as the shared shift allows.

    ``device_peak`` comes from auto-ranging (how large b may be without the state saturating).
    A zero row stays zero (its scale is 1).
    """
    B = np.atleast_2d(B)
    peaks = np.max(np.abs(B), axis=1)
    scales = np.where(peaks > 0, peaks / device_peak, 1.0)
    unit = config.fa + config.fx                 # device value = code * 2**(b_shift - unit)
    # Largest shift-free resolution such that device_peak fits in b_bits codes.
    b_shift = math.ceil(unit + math.log2(device_peak / config.b_max_code))
    b_shift = min(max(b_shift, 0), config.b_shift_max)
    codes = np.rint(B / scales[:, None] * 2.0 ** (unit - b_shift))
    codes = np.clip(codes, -config.b_max_code, config.b_max_code).astype(np.int64)
    return QuantizedVectors(codes=codes, scales=scales, b_shift=b_shift)
