"""What a solve or an inversion on the SPU did: the typed record returned with the answer.

:meth:`~thermospu.driver.device.Device.solve_with_info` and
:meth:`~thermospu.driver.device.Device.inv_with_info` return ``(answer, SolveDiagnostics)``;
:meth:`~thermospu.driver.device.Device.solve` and :meth:`~thermospu.driver.device.Device.inv`
return the answer alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["SolveDiagnostics"]


@dataclasses.dataclass(frozen=True)
class SolveDiagnostics:
    """The plan, the device settings and the outcome of one ``solve`` or ``inv`` call.

    *Device units* are those of the quantized problem the SPU holds: the device matrix stands for
    ``A / scale_A`` (largest entry about 1), the state x lies in [-1, 1). *Original units* are the
    caller's. Fields marked "None when no job ran" are None for a solve whose right-hand sides are
    all zero (the answer, x = 0, is exact and nothing is sent to the device).

    Attributes
    ----------
    transport : str
        Name of the transport that ran the jobs (``"model"``, ``"sim"``, a serial URI...).
    steps : int
        Euler steps run, summed over chains, ranging pilot included.
    pilot_steps : int
        Of ``steps``, those of the ranging pilot.
    samples : int
        Samples per right-hand side (or of the inverse) in the last round, all its jobs together
        (0 when no job ran).
    chains : int
        Jobs of the last round: ``jobs`` per non-zero right-hand side for a solve, ``jobs`` for an
        inverse.
    jobs : int
        Independent jobs per right-hand side (or inverse), each with its own seed and burn-in,
        whose accumulators were added (0 when no job ran).
    rounds : int
        Rounds of a solve: 1 + the iterative-refinement corrections (1 for an inverse, 0 when no
        job ran).
    burn_in : int
        Euler steps before the first sample.
    thin : int
        Euler steps between samples.
    k : int
        Step-size exponent: h = 2**-k.
    h : float
        Euler step size in device time units (2**-k).
    tau_steps : float
        Relaxation time of the slowest mode, 1 / (h lambda_min) with a safety factor, in steps.
    lambda_max, lambda_min : float
        Lanczos estimates of the device matrix's extreme eigenvalues (device units).
    condition : float
        lambda_max / lambda_min.
    beta_device : float or None
        Inverse temperature that the noise registers give (device units), the integrator's
        rounding noise included. None when no job ran.
    sigma_q, sigma_shift : int or None
        Noise registers of the main run: mantissa (unsigned, ``sigma_bits`` wide) and exponent.
        None when no job ran.
    scale_A : float
        Real value per device unit of the matrix: the device matrix stands for ``A / scale_A``.
    scale_b : tuple of float or None
        Per chain of a solve: the device's bias stands for ``b / scale_b``. None for an inverse
        and when no job ran.
    b_shift : int or None
        Bias exponent register of the main run. None when no job ran.
    quantization : str
        The conditioning scheme: ``"equilibrated"`` or ``"conservative"``.
    diagonal_boost_max_codes : int
        Largest code added to a diagonal entry: the Gershgorin boost of the conservative
        quantization, or the positive-definiteness shift of the equilibrated one (usually 0).
    a_bits, out_bits : int
        The device's matrix DAC and output ADC widths (bits, two's complement).
    saturations : int
        Clamped cell updates in the main run, summed over chains.
    retries : int
        Range back-offs after saturation (each halves the range target).
    range_target : float or None
        Fraction of the state range that |mean| + 5 std of the busiest cell was planned to fill in
        the main run, after back-offs. None when no job ran.
    adc_resolution_low : bool
        The sampled variance of some cell fell below 4 ADC LSB**2 (inverse only): the result is
        dominated by ADC rounding; a ``RuntimeWarning`` was issued.
    std_error : float
        Largest of ``std_errors`` (original units). 0 when no job ran.
    std_errors : ndarray
        Noise standard error of each coordinate of the answer (its shape, original units): batch
        means over the jobs (two or more), else the slowest mode's bound. For a refined solve,
        that of the last round, which carries the answer's noise. Zeros when no job ran.
    bias_errors : ndarray
        Estimated |quantization bias| of each coordinate (first-order perturbation by the known
        rounding of A and b; :mod:`thermospu.driver.uncertainty`). Zeros when no job ran.
    bias_bound : float
        First-order bound on the 2-norm of the quantization bias (of the matrix's spectral norm
        for an inverse), original units.
    error_bars : ndarray
        Total error bar of each coordinate, 1.645 * sqrt(std_errors**2 + bias_errors**2): meant
        to cover the actual error of about 90 % of coordinates (calibrated in
        tests/test_driver_solver.py).
    seed : int or None
        The 64-bit seed the jobs' seeds were drawn from (fresh entropy when the call gave none).
        None when no job ran and the call gave no seed.
    wall_s : float
        Wall-clock time of the call's runs and reconstruction, in seconds.
    note : str
        A remark on an unusual call ("b is zero: x = 0"), else empty.
    """

    transport: str
    steps: int
    pilot_steps: int
    samples: int
    chains: int
    jobs: int
    rounds: int
    burn_in: int
    thin: int
    k: int
    h: float
    tau_steps: float
    lambda_max: float
    lambda_min: float
    condition: float
    beta_device: float | None
    sigma_q: int | None
    sigma_shift: int | None
    scale_A: float
    scale_b: tuple[float, ...] | None
    b_shift: int | None
    quantization: str
    diagonal_boost_max_codes: int
    a_bits: int
    out_bits: int
    saturations: int
    retries: int
    range_target: float | None
    adc_resolution_low: bool
    std_error: float
    std_errors: np.ndarray
    bias_errors: np.ndarray
    bias_bound: float
    error_bars: np.ndarray
    seed: int | None
    wall_s: float
    note: str = ""

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON reports and printing; arrays as nested lists)."""
        return {key: value.tolist() if isinstance(value, np.ndarray) else value
                for key, value in dataclasses.asdict(self).items()}
