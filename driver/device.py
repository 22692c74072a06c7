"""The host solver API: solve A x = b and invert A on an SPU.

>>> import numpy as np, thermospu.driver as spu
>>> dev = spu.open("model", n=16)                 # the emulated SPU, 16 cells
>>> A = np.array([[2.0, 0.5], [0.5, 1.0]]); b = np.array([1.0, 0.0])
>>> x = dev.solve(A, b, seed=1)                    # ~ A^-1 b
>>> Ainv = dev.inv(A, seed=1)                      # ~ A^-1
>>> x, info = dev.solve_with_info(A, b, seed=1)    # the same x and a SolveDiagnostics
>>> info.steps                                     # Euler steps the SPU ran

What happens in a call (docs/spu.md, "Host side"):

1. validation (finite, square, symmetric, positive definite, n <= N) -- typed errors, nothing sent;
2. conservative quantization of A (:func:`~thermospu.driver.quantize.quantize_matrix`);
3. auto-ranging on the device matrix (:mod:`~thermospu.driver.autorange`): step size, mixing time,
   burn-in, thinning, then a short pilot run that sets the noise amplitude and b-scale so that
   |mean| + 5 std of every cell fills ``range_target`` of the state range;
4. the run (one job per right-hand side, or one job for an inverse), retried at a smaller range if
   the state saturated;
5. reconstruction: x = (s_b / s_A) * mean(y) for solve; for inv, the exact inverse of the
   Euler--Maruyama chain, A_dev^-1 = beta (I - h A_dev / 2) Cov(x), with the ADC's quantization
   variance (LSB**2/12, Sheppard) and the integrator's rounding noise taken out, scaled back by s_A.

Statistics: the error of x and of A^-1 falls as 1/sqrt(samples) (times the autocorrelation time of the
slowest mode, which thinning keeps near 1.5 samples); cost is burn_in + samples * thin Euler steps of
O(n**2) multiply-accumulates each.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings

import numpy as np

from thermospu.rtl.spec.config import G_STD, JobParams, SPUConfig

from . import autorange, inputs
from .errors import (DeviceCapacityError, InvalidInputError, NotPositiveDefiniteError,
                     NotSymmetricError, SaturationError, ShapeError, SPUError)
from .diagnostics import SolveDiagnostics
from .quantize import QuantizedMatrix, QuantizedVectors, quantize_matrix, quantize_vectors
from .transports import Backend, open_backend

__all__ = ["Device", "LoadedMatrix", "open"]

_MASK64 = (1 << 64) - 1


#: Below this many samples per dimension an inverse's covariance estimate is mostly noise
#: (relative Frobenius error ~ sqrt(n / samples)): inv warns; at or below n samples it refuses.
MEANINGFUL_INV_SAMPLES_PER_DIMENSION = 10

@dataclasses.dataclass(frozen=True)
class LoadedMatrix:
    """A matrix prepared for the SPU: validated, quantized, its spectrum estimated and the step
    plan made. Reuse it across calls to skip that work (thermox's ProcessedDriftMatrix)."""

    quantized: QuantizedMatrix
    spectrum: autorange.SpectrumEstimate
    plan: autorange.StepPlan
    #: The device configuration the codes were made for (a LoadedMatrix serves only that one).
    config: SPUConfig

    @property
    def n(self) -> int:
        return self.quantized.codes.shape[0]


class Device:
    """A handle on an SPU reached through a transport (see :func:`open`).

    Parameters
    ----------
    backend : Backend
        The transport.
    samples : int
        Default sample count per call when neither ``samples`` nor ``tol`` is given.
    range_target : float
        Fraction of the state range that |mean| + 5 std of the busiest cell may fill (0, 1).
    pilot_samples : int
        Samples of the ranging pilot run (0 turns the pilot off: ranging then relies on bounds).
    check_spd : bool
        Verify positive definiteness with a Cholesky factorization (O(n**3) on the host).
    discretization_correction : bool
        Apply the exact Euler--Maruyama correction (I - hA/2) to the inverse (default). Turning
        it off shows the bias it removes (for studies and benchmarks).
    max_retries : int
        Range back-offs after saturation before :class:`SaturationError`.
    progress : bool or None
        Show a progress bar (Euler steps) for runs; None shows one for runs of more than 10**6
        cell updates when standard error is a terminal.
    """

    def __init__(self, backend: Backend, *, samples: int = 10_000, range_target: float = 0.7,
                 pilot_samples: int = 256, check_spd: bool = True,
                 discretization_correction: bool = True, max_retries: int = 3,
                 progress: bool | None = None):
        if not 0 < range_target < 1:
            raise ValueError(f"range_target must lie in (0, 1), got {range_target}")
        self.backend = backend
        # Checked against the device's limit per call (a board of 2**10 samples still opens).
        self.default_samples = inputs.integer(samples, "samples", 2, 1 << 64)
        self.range_target = range_target
        self.pilot_samples = int(pilot_samples)
        self.check_spd = check_spd
        self.discretization_correction = discretization_correction
        self.max_retries = max_retries
        self.progress = progress

    # --- public API --------------------------------------------------------------------------
    @property
    def config(self) -> SPUConfig:
        return self.backend.config

    @property
    def description(self) -> str:
        return self.backend.description

    def load(self, A) -> LoadedMatrix:
        """Validate, quantize and analyse ``A`` (symmetric positive definite, n <= N)."""
        A = self._validate_matrix(A)
        quantized = quantize_matrix(A, self.config)
        spectrum = autorange.estimate_spectrum(quantized.device_matrix)
        if spectrum.lambda_min <= 0:
            raise NotPositiveDefiniteError(
                f"the quantized matrix has a non-positive eigenvalue estimate "
                f"{spectrum.lambda_min:.3g}; the input is not positive definite")
        return LoadedMatrix(quantized, spectrum, autorange.plan_steps(spectrum), self.config)

    def solve(self, A, b, *, samples: int | None = None, tol: float | None = None,
              seed: int | None = None) -> np.ndarray:
        """Estimate x = A^-1 b by the time average of the SPU's state.

        Parameters
        ----------
        A : array (n, n) or LoadedMatrix
            Symmetric positive definite.
        b : array (n,) or (n, m)
            Right-hand side(s); m columns run as m jobs with A loaded once.
        samples : int, optional
            Samples per right-hand side (default: ``tol`` or the device default).
        tol : float, optional
            Target relative standard error; sets ``samples`` from the mixing time.
        seed : int, optional
            Makes the result reproducible (bit-identical across transports).

        Returns
        -------
        ndarray of the shape of ``b``. :meth:`solve_with_info` returns the diagnostics too.
        """
        return self._solve(A, b, samples, tol, seed)[0]

    def solve_with_info(self, A, b, *, samples: int | None = None, tol: float | None = None,
                        seed: int | None = None) -> tuple[np.ndarray, SolveDiagnostics]:
        """:meth:`solve`, returning ``(x, diagnostics)``: what the call ran (steps, samples,
        device settings, saturations, estimated standard error; see :class:`SolveDiagnostics`)."""
        return self._solve(A, b, samples, tol, seed)

    def inv(self, A, *, samples: int | None = None, tol: float | None = None,
            seed: int | None = None) -> np.ndarray:
        """Estimate A^-1 from the covariance of the SPU's state (b = 0).

        Same parameters as :meth:`solve`; returns a symmetric (n, n) array.
        :meth:`inv_with_info` returns the diagnostics too.
        """
        return self._inv(A, samples, tol, seed)[0]

    def inv_with_info(self, A, *, samples: int | None = None, tol: float | None = None,
                      seed: int | None = None) -> tuple[np.ndarray, SolveDiagnostics]:
        """:meth:`inv`, returning ``(A_inverse, diagnostics)`` (see :class:`SolveDiagnostics`)."""
        return self._inv(A, samples, tol, seed)

    def reset(self) -> None:
        self.backend.reset()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- validation ---------------------------------------------------------------------------
    def _validate_matrix(self, A) -> np.ndarray:
        A = inputs.real_array(A, "A")
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ShapeError(f"A must be a square matrix, got shape {A.shape}")
        n = A.shape[0]
        if n == 0:
            raise ShapeError("A is empty")
        if n > self.config.n:
            raise DeviceCapacityError(
                f"A is {n}x{n} but the device has {self.config.n} cells "
                f"({self.backend.name}); open a larger device or split the problem")
        peak = np.max(np.abs(A))
        if peak == 0:
            raise NotPositiveDefiniteError("A is the zero matrix")
        asym = np.max(np.abs(A - A.T))
        if asym > 1e-8 * peak:
            raise NotSymmetricError(f"A is not symmetric: max |A - A^T| = {asym:.3g} "
                                    f"(relative {asym / peak:.3g})")
        A = (A + A.T) / 2
        if self.check_spd:
            try:
                np.linalg.cholesky(A)
            except np.linalg.LinAlgError:
                raise NotPositiveDefiniteError(
                    "A is not positive definite (Cholesky failed); the SPU's dynamics would "
                    "diverge. Add damping (e.g. A + lambda*I)") from None
        return A

    def _sample_count(self, samples, tol, plan, *, dimension) -> int:
        if samples is not None and tol is not None:
            raise ValueError("give samples or tol, not both")
        if tol is not None:
            samples = autorange.samples_for_tolerance(tol, plan, dimension=dimension)
        samples = self.default_samples if samples is None else samples
        if isinstance(samples, numbers.Integral) and not 2 <= samples <= self.config.max_samples:
            raise DeviceCapacityError(
                f"samples={samples} is outside [2, {self.config.max_samples}] "
                f"(2**max_samples_log2 of this device)")
        samples = inputs.integer(samples, "samples", 2, self.config.max_samples)
        if samples <= dimension:
            raise InvalidInputError(
                f"inv with {samples} samples of a {dimension}x{dimension} matrix: a covariance "
                f"of fewer samples than dimensions plus one is singular; use at least "
                f"{MEANINGFUL_INV_SAMPLES_PER_DIMENSION * dimension} (or tol=...)")
        if samples < MEANINGFUL_INV_SAMPLES_PER_DIMENSION * dimension:
            warnings.warn(f"inv with {samples} samples of a {dimension}x{dimension} matrix: "
                          f"fewer than {MEANINGFUL_INV_SAMPLES_PER_DIMENSION} per dimension, "
                          f"the estimate is mostly noise", RuntimeWarning, stacklevel=4)
        return samples

    # --- the run ------------------------------------------------------------------------------
    def _solve(self, A, b, samples, tol, seed) -> tuple[np.ndarray, SolveDiagnostics]:
        loaded = self._loaded(A)
        B = inputs.real_array(b, "b")
        if B.ndim not in (1, 2) or B.shape[0] != loaded.n:
            raise ShapeError(f"b must have shape ({loaded.n},) or ({loaded.n}, m), got {B.shape}")
        columns = B.reshape(loaded.n, -1).T                       # (m, n)
        nonzero = np.any(columns != 0, axis=1)
        x = np.zeros_like(columns)
        if nonzero.any():
            n_samples = self._sample_count(samples, tol, loaded.plan, dimension=0)
            means, diagnostics = self._run(loaded, columns[nonzero], n_samples, seed,
                                           moments=False)
            x[nonzero] = means
        else:
            diagnostics = self._no_run_diagnostics(loaded, seed, note="b is zero: x = 0")
        return x.T.reshape(B.shape), diagnostics

    def _loaded(self, A) -> LoadedMatrix:
        """``A`` loaded for this device (a LoadedMatrix of another device is refused)."""
        if not isinstance(A, LoadedMatrix):
            return self.load(A)
        if A.config != self.config:
            raise InvalidInputError(
                f"this LoadedMatrix was quantized for another device configuration "
                f"({A.config}); load A again on this device ({self.config})")
        return A

    def _inv(self, A, samples, tol, seed) -> tuple[np.ndarray, SolveDiagnostics]:
        loaded = self._loaded(A)
        n_samples = self._sample_count(samples, tol, loaded.plan, dimension=loaded.n)
        return self._run(loaded, np.zeros((1, loaded.n)), n_samples, seed, moments=True)

    def _job(self, loaded, n_samples, *, burn_in, b_shift, sigma, moments) -> JobParams:
        """JobParams for noise amplitude ``sigma`` (state units, x in [-1, 1)) per step."""
        config, k = self.config, loaded.plan.k
        # sigma = sigma_q * G_STD * 2**(sigma_shift - fa - fx - k): pick the smallest exponent
        # that fits sigma_q in sigma_bits, so the mantissa keeps the most precision.
        target = sigma / G_STD * 2.0 ** (config.fa + config.fx + k)
        probe = JobParams(n_active=loaded.n, k=k, b_shift=b_shift, sigma_q=0, sigma_shift=0,
                          burn_in=burn_in, samples=n_samples, thin=loaded.plan.thin,
                          moments=moments)
        shift = max(0, math.ceil(math.log2(target / config.sigma_max_code))) if target > 0 else 0
        shift = min(shift, config.sigma_shift_max)
        sigma_q = int(min(round(target / 2.0**shift), config.sigma_max_code))
        return dataclasses.replace(probe, sigma_q=max(sigma_q, 1), sigma_shift=shift)

    def _actual_sigma(self, params: JobParams) -> float:
        """Per-step noise std in state units that the job's registers give, including the
        integrator's rounding noise (a uniform half-LSB error each step: variance LSB**2/12)."""
        c = self.config
        sigma = params.sigma_q * G_STD * 2.0 ** (params.sigma_shift - c.fa - c.fx - params.k)
        return math.sqrt(sigma**2 + 2.0 ** (-2 * c.fx) / 12)

    def _progress_bar(self, steps: int, n: int):
        """A context manager yielding a callable ``bar(steps_done)`` (or None)."""
        import contextlib
        import sys

        show = self.progress
        if show is None:
            show = steps * n > 10**6 and sys.stderr.isatty()
        if not show:
            return contextlib.nullcontext(None)
        from tqdm import tqdm

        bar = tqdm(total=steps, unit="step", unit_scale=True, desc=f"SPU {self.backend.name}",
                   leave=False)

        @contextlib.contextmanager
        def managed():
            try:
                yield bar.update
            finally:
                bar.close()

        return managed()

    def _seeds(self, seed, count) -> list[int]:
        ss = np.random.SeedSequence(inputs.seed(seed))
        words = ss.generate_state(2 * count, dtype=np.uint32).astype(np.uint64)
        return [int(words[2 * i]) | (int(words[2 * i + 1]) << 32) for i in range(count)]

    def _run(self, loaded: LoadedMatrix, columns: np.ndarray, n_samples: int, seed, *,
             moments: bool) -> tuple[np.ndarray, SolveDiagnostics]:
        """Range, run and reconstruct: one chain per row of ``columns`` (the right-hand sides,
        shape (chains, n)), or one chain with b = 0 and moments for an inverse."""
        started = time.perf_counter()
        chains = columns.shape[0]
        if seed is None:
            seed = int(np.random.SeedSequence().entropy) & _MASK64
        seeds = self._seeds(seed, 2 * chains)
        ranging = _Ranging.from_bounds(self.range_target, loaded.spectrum.lambda_min, moments)
        pilot_steps = 0
        if self.pilot_samples:
            ranging, pilot_steps = self._pilot(loaded, columns, ranging, seeds[:chains])
        run = self._main_run(loaded, columns, n_samples, ranging, seeds[chains:], moments)
        h = 2.0**-loaded.plan.k
        beta = 2 * h / self._actual_sigma(run.params) ** 2
        if moments:
            result, low_resolution = _inverse_from_moments(
                run.results[0], loaded, h, beta, self.config, self.discretization_correction)
        else:
            result, low_resolution = _solution_from_means(run.results, run.bias, loaded,
                                                          self.config), False
        if low_resolution:
            # stacklevel 4: the caller of solve/inv (_run <- _solve/_inv <- the public method).
            warnings.warn("the sampled variance is below 4 ADC LSB**2: out_bits is too small for "
                          "this matrix's spread of scales; the inverse is dominated by ADC "
                          "rounding", RuntimeWarning, stacklevel=4)
        std_error = _std_error(run.results, loaded.plan, self.config, run.bias.scales,
                               loaded.quantized.scale, moments, run.ranging.cell_std, beta)
        diagnostics = dataclasses.replace(
            self._no_run_diagnostics(loaded, seed),
            steps=run.steps + pilot_steps, pilot_steps=pilot_steps, samples=n_samples,
            chains=chains, beta_device=beta, sigma_q=run.params.sigma_q,
            sigma_shift=run.params.sigma_shift,
            scale_b=None if moments else tuple(run.bias.scales.tolist()),
            b_shift=run.bias.b_shift, saturations=run.saturations, retries=run.retries,
            range_target=run.ranging.target, adc_resolution_low=low_resolution,
            std_error=std_error, wall_s=time.perf_counter() - started)
        return result, diagnostics

    def _run_jobs(self, loaded, bias, params, seeds, progress=None):
        """The backend's jobs; an interrupt (Ctrl-C) aborts the device's job before it
        propagates, so the next call finds the device idle instead of BUSY."""
        try:
            return self.backend.run_jobs(loaded.quantized.codes, bias.codes, params, seeds,
                                         progress=progress)
        except KeyboardInterrupt:
            try:
                self.backend.reset()
            except SPUError as error:
                warnings.warn(f"the interrupted job could not be aborted ({error}); call "
                              f"reset() before the next job", RuntimeWarning, stacklevel=2)
            raise

    def _pilot(self, loaded, columns, ranging: _Ranging, seeds) -> tuple[_Ranging, int]:
        """A short run with moments that measures the busiest cell's |mean| + 5 std and scales
        noise and bias so that it fills ``ranging.target`` of the state range (growth capped at
        64x). Returns the new ranging and the pilot's Euler steps (summed over chains)."""
        bias = ranging.bias_vectors(columns, self.config)
        params = self._job(loaded, self.pilot_samples, burn_in=loaded.plan.burn_in,
                           b_shift=bias.b_shift, sigma=ranging.noise_sigma(2.0**-loaded.plan.k),
                           moments=True)
        results = self._run_jobs(loaded, bias, params, seeds)
        fill, cell_std = max(_range_fill(r, self.config) for r in results)
        ranging = dataclasses.replace(ranging, cell_std=cell_std)
        if fill > 0:
            ranging = ranging.grown(min(ranging.target / fill, 64.0))
        return ranging, sum(r.steps for r in results)

    def _main_run(self, loaded, columns, n_samples, ranging: _Ranging, seeds,
                  moments) -> _MainRun:
        """The sampling jobs, retried at half the range after saturation (at most
        ``max_retries`` times, then :class:`SaturationError`)."""
        config, chains = self.config, columns.shape[0]
        steps = retries = 0
        while True:
            bias = ranging.bias_vectors(columns, config)
            params = self._job(loaded, n_samples, burn_in=loaded.plan.burn_in,
                               b_shift=bias.b_shift, sigma=ranging.noise_sigma(2.0**-loaded.plan.k),
                               moments=moments)
            with self._progress_bar(params.steps * chains, loaded.n) as bar:
                results = self._run_jobs(loaded, bias, params, seeds, progress=bar)
            run_steps = sum(r.steps for r in results)
            steps += run_steps
            saturations = sum(r.saturations for r in results)
            # A clamp now and then (tails beyond 5 std) does not bias the statistics measurably;
            # more than one update in 10**5 does.
            if saturations <= 1e-5 * run_steps * loaded.n:
                return _MainRun(results, params, bias, ranging, steps, saturations, retries)
            retries += 1
            if retries > self.max_retries:
                raise SaturationError(
                    f"the SPU state saturated in {saturations} cell updates even at "
                    f"{ranging.target:.3g} of the range; the problem is too ill-conditioned for "
                    f"x_bits={config.x_bits} (condition estimate "
                    f"{loaded.spectrum.condition:.3g})")
            ranging = ranging.backed_off()

    def _no_run_diagnostics(self, loaded: LoadedMatrix, seed, *,
                            note: str = "") -> SolveDiagnostics:
        """The diagnostics of the plan alone (no job run); :meth:`_run` fills in the run."""
        plan, spectrum = loaded.plan, loaded.spectrum
        return SolveDiagnostics(
            transport=self.backend.name, steps=0, pilot_steps=0, samples=0, chains=0,
            burn_in=plan.burn_in, thin=plan.thin, k=plan.k, h=2.0**-plan.k, tau_steps=plan.tau,
            lambda_max=spectrum.lambda_max, lambda_min=spectrum.lambda_min,
            condition=spectrum.condition, beta_device=None, sigma_q=None, sigma_shift=None,
            scale_A=loaded.quantized.scale, scale_b=None, b_shift=None,
            diagonal_boost_max_codes=int(loaded.quantized.boost.max()),
            a_bits=self.config.a_bits, out_bits=self.config.out_bits, saturations=0, retries=0,
            range_target=None, adc_resolution_low=False, std_error=0.0, seed=seed, wall_s=0.0,
            note=note)


@dataclasses.dataclass(frozen=True)
class _Ranging:
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
    def from_bounds(cls, target: float, lambda_min: float, moments: bool) -> _Ranging:
        """Ranging from bounds: |mean| <= |b|_2 / lambda_min, var <= 1 / (beta lambda_min); a
        solve gives half the target to the mean and half to 5 std, an inverse all to 5 std."""
        mean_peak = 0.0 if moments else target / 2
        noise_std = (target - mean_peak) / 5
        b_device_peak = mean_peak * lambda_min if mean_peak else 0.0
        return cls(target=target, b_device_peak=b_device_peak,
                   beta=1.0 / (noise_std**2 * lambda_min), cell_std=noise_std)

    def grown(self, factor: float) -> _Ranging:
        """Mean and std scaled up by ``factor`` (the pilot found room)."""
        return dataclasses.replace(self, b_device_peak=self.b_device_peak * factor,
                                   beta=self.beta / factor**2, cell_std=self.cell_std * factor)

    def backed_off(self) -> _Ranging:
        """Mean, std and target halved (the state saturated)."""
        return _Ranging(target=self.target / 2, b_device_peak=self.b_device_peak / 2,
                        beta=self.beta * 4, cell_std=self.cell_std / 2)

    def noise_sigma(self, h: float) -> float:
        """Per-step noise std in state units at Euler step size ``h``: sqrt(2 h / beta)."""
        return math.sqrt(2 * h / self.beta)

    def bias_vectors(self, columns: np.ndarray, config: SPUConfig) -> QuantizedVectors:
        """The right-hand sides quantized with their largest entry at ``b_device_peak``."""
        if self.b_device_peak:
            return quantize_vectors(columns, self.b_device_peak, config)
        return quantize_vectors(np.zeros_like(columns), 1.0, config)


@dataclasses.dataclass(frozen=True)
class _MainRun:
    """The accepted sampling jobs of a run: their results, registers, bias vectors and ranging,
    with Euler steps (summed over chains and retries), saturations (accepted run) and retries."""

    results: list
    params: JobParams
    bias: QuantizedVectors
    ranging: _Ranging
    steps: int
    saturations: int
    retries: int


def _inverse_from_moments(result, loaded: LoadedMatrix, h: float, beta: float,
                          config: SPUConfig, correct: bool) -> tuple[np.ndarray, bool]:
    """A^-1 (original units) from one chain's moments: beta (I - h A_dev / 2) Cov(y) / scale_A
    (Euler--Maruyama correction when ``correct``), the ADC's rounding variance LSB**2/12
    (Sheppard) taken out. Also returns whether some variance fell below 4 LSB**2."""
    n, lsb_y = loaded.n, 2.0**-config.fy
    mean = result.sum_y / result.count * lsb_y
    second = _unpack_upper(result.sum_yy, n) / result.count * lsb_y**2
    cov = (second - np.outer(mean, mean)) * (result.count / (result.count - 1))
    cov -= np.eye(n) * lsb_y**2 / 12             # Sheppard: ADC rounding variance
    if correct:
        inv_dev = beta * (np.eye(n) - h * loaded.quantized.device_matrix / 2) @ cov
    else:
        inv_dev = beta * cov
    low_resolution = bool(np.min(np.diag(cov)) < 4 * lsb_y**2)
    return (inv_dev + inv_dev.T) / 2 / loaded.quantized.scale, low_resolution


def _solution_from_means(results, bias: QuantizedVectors, loaded: LoadedMatrix,
                         config: SPUConfig) -> np.ndarray:
    """x (original units, shape (chains, n)) from the chains' sample means."""
    means = np.stack([r.sum_y / r.count for r in results]) * 2.0**-config.fy
    # The device's b stands for b / scale_b and its A for A / scale_A, so
    # A^-1 b = mean * scale_b / scale_A.
    return means * bias.scales[:, None] / loaded.quantized.scale


def _unpack_upper(sum_yy: np.ndarray, n: int) -> np.ndarray:
    full = np.zeros((n, n))
    full[np.triu_indices(n)] = sum_yy
    return full + np.triu(full, 1).T


def _range_fill(result, config: SPUConfig) -> tuple[float, float]:
    """(max_i |mean_i| + 5 std_i, max_i std_i) of a pilot run, as fractions of the state range."""
    lsb = 2.0**-config.fy
    mean = result.sum_y / result.count
    second = np.diagonal(_unpack_upper(result.sum_yy, len(mean))) / result.count
    std = np.sqrt(np.maximum(second - mean**2, 0))
    return float(np.max(np.abs(mean) + 5 * std) * lsb), float(np.max(std) * lsb)


def _std_error(results, plan, config, b_scales, a_scale, moments, cell_std, beta) -> float:
    """Estimated standard error of the result (largest over coordinates, original units).

    ``cell_std`` is the largest per-cell state std in range units (from the pilot, or the
    ranging bound when there was no pilot)."""
    lsb = 2.0**-config.fy
    r = results[0]
    if moments:
        # Var of a sample covariance entry ~ (C_ii C_jj + C_ij^2)/ESS; report the diagonal's.
        mean = r.sum_y / r.count
        second = np.diagonal(_unpack_upper(r.sum_yy, len(mean))) / r.count
        var = np.maximum(second - mean**2, 0) * lsb**2
        se_cov = np.sqrt(2 * var**2 * plan.autocorrelation_time / r.count)
        return float(beta * np.max(se_cov) / a_scale)
    return float(cell_std * math.sqrt(plan.autocorrelation_time / r.count)
                 * np.max(b_scales) / a_scale)


def open(uri: str = "model", *, samples: int = 10_000, range_target: float = 0.7,
         pilot_samples: int = 256, check_spd: bool = True, discretization_correction: bool = True,
         progress: bool | None = None, **config) -> Device:
    """Open an SPU.

    Parameters
    ----------
    uri : str
        ``"model"`` (the emulated SPU in-process; ``"model?n=64&a_bits=8"`` also works).
    samples, range_target, pilot_samples, check_spd, discretization_correction, progress
        See :class:`Device`.
    **config
        :class:`~thermospu.rtl.spec.config.SPUConfig` fields for emulated devices (n, a_bits, b_bits,
        x_bits, out_bits, sigma_bits, max_samples_log2, lanes).
    """
    backend = open_backend(uri, **config)
    return Device(backend, samples=samples, range_target=range_target,
                  pilot_samples=pilot_samples, check_spd=check_spd,
                  discretization_correction=discretization_correction, progress=progress)
