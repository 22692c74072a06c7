"""The host solver API: solve A x = b and invert A on an SPU.

>>> import numpy as np, thermospu.driver as spu
>>> dev = spu.open("model", n=16)                 # the emulated SPU, 16 cells
>>> A = np.array([[2.0, 0.5], [0.5, 1.0]]); b = np.array([1.0, 0.0])
>>> x = dev.solve(A, b, seed=1)                    # ~ A^-1 b
>>> Ainv = dev.inv(A, seed=1)                      # ~ A^-1
>>> x, info = dev.solve_with_info(A, b, seed=1)    # the same x and a SolveDiagnostics
>>> info.error_bars                                # per coordinate: noise and quantization bias

What happens in a call (docs/spu.md, "Host side"):

1. validation (finite, square, symmetric, positive definite, n <= N) -- typed errors, nothing sent;
2. conditioning (:func:`~thermospu.driver.quantize.condition_matrix`): Jacobi equilibration
   S = D^-1/2 A D^-1/2, nearest rounding, exact positive-definiteness check, the smallest shift
   only when needed (``quantization="conservative"`` keeps the old Gershgorin scheme);
3. auto-ranging on the device matrix (:mod:`~thermospu.driver.autorange`), once per loaded matrix:
   step size h = 2^-k (h lambda_max <= ``step_limit``), mixing time, burn-in, thinning; a short
   pilot run sets the noise amplitude (and, for a solve, the b-scale, which depends on b) so that
   |mean| + 5 std of every cell fills ``range_target`` of the state range; the inverse's pilot is
   cached with the :class:`LoadedMatrix`;
4. the run: each right-hand side (or the inverse) as K independent jobs (:mod:`.jobs`), retried
   at a smaller range if the state saturated; for a solve, rounds of mixed-precision iterative
   refinement (the host forms r = b - A x in float64, the SPU solves A d = r, x += d);
5. reconstruction: y = (s_b / s_A) * mean for a solve; for inv, the exact inverse of the
   Euler--Maruyama chain, S_dev^-1 = beta (I - h S_dev / 2) Cov(y), with the ADC's quantization
   variance (LSB**2/12, Sheppard) taken out; then the exact back-transform x = D^-1/2 y,
   A^-1 = D^-1/2 S^-1 D^-1/2;
6. uncertainty (:mod:`.uncertainty`): per coordinate a noise standard error (batch means over the
   K jobs) and the first-order quantization bias, a ``RuntimeWarning`` when the bias dominates.

Statistics: the error of x and of A^-1 falls as 1/sqrt(samples) (times the autocorrelation time of
the slowest mode, which thinning keeps near 1.5 samples); each refinement round multiplies a solve's
error by about (quantization floor + that round's relative noise). Cost: per job burn_in +
samples * thin Euler steps of O(n**2) multiply-accumulates each; on the host O(n**3) once per
matrix (exact positive-definiteness check) and O(n**2) per round (residual).
"""

from __future__ import annotations

import dataclasses
import hashlib
import numbers
import time
import warnings

import numpy as np

from thermospu.rtl.spec.config import SPUConfig

from . import autorange, blas, inputs, jobs as jobs_module, runner, uncertainty
from .errors import (DeviceCapacityError, InvalidInputError, NotPositiveDefiniteError,
                     NotSymmetricError, ShapeError)
from .diagnostics import SolveDiagnostics
from .quantize import QUANTIZATIONS, ConditionedMatrix, QuantizedMatrix, condition_matrix
from .ranging import Ranging
from .reconstruct import (inverse_from_moments, inverse_std_errors, solution_from_means,
                          solution_std_errors)
from .transports import Backend, open_backend

__all__ = ["Device", "LoadedMatrix", "open", "REFINE_SAMPLES_PER_ROUND", "MAX_AUTO_REFINE"]

_MASK64 = (1 << 64) - 1
#: Automatic refinement gives each round at least this many samples per right-hand side...
REFINE_SAMPLES_PER_ROUND = 1000
#: ...and runs at most this many correction rounds after the first solve.
MAX_AUTO_REFINE = 2
#: Below this many samples per dimension an inverse's covariance estimate is mostly noise
#: (relative Frobenius error ~ sqrt(n / samples)): inv warns; at or below n samples it refuses.
MEANINGFUL_INV_SAMPLES_PER_DIMENSION = 10


@dataclasses.dataclass(frozen=True)
class LoadedMatrix:
    """A matrix prepared for the SPU: validated, conditioned and quantized, its spectrum
    estimated and the step plan made; the inverse's ranging pilot is cached with it on first
    use. Reuse it across calls to skip that work (thermox's ProcessedDriftMatrix).

    Attributes
    ----------
    matrix : ndarray (n, n), float64
        The validated, symmetrized A (original units): residuals and the bias use it.
    conditioned : ConditionedMatrix
        The equilibration and the quantized matrix the device holds.
    spectrum : SpectrumEstimate
        Lanczos estimates of the device matrix's extreme eigenvalues (device units).
    plan : StepPlan
        Step size, burn-in, thinning.
    """

    matrix: np.ndarray
    conditioned: ConditionedMatrix
    spectrum: autorange.SpectrumEstimate
    plan: autorange.StepPlan
    #: The device configuration the codes were made for (a LoadedMatrix serves only that one).
    config: SPUConfig
    cache: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return self.matrix.shape[0]

    @property
    def quantized(self) -> QuantizedMatrix:
        """The quantized (equilibrated) matrix the device holds."""
        return self.conditioned.quantized

    @property
    def held_difference(self) -> np.ndarray:
        """dA = A_held - A (original units): what quantization changed, known exactly."""
        if "dA" not in self.cache:
            self.cache["dA"] = self.conditioned.held_matrix - self.matrix
        return self.cache["dA"]

    @property
    def pilot_seed(self) -> int:
        """The inverse pilot's 64-bit seed, derived from the codes: a cached pilot then gives
        the same ranging whichever call runs it first, so results stay reproducible per seed."""
        digest = hashlib.blake2b(np.ascontiguousarray(self.quantized.codes, np.int64).tobytes(),
                                 digest_size=8).digest()
        return int.from_bytes(digest, "little")


class Device:
    """A handle on an SPU reached through a transport (see :func:`open`).

    Parameters
    ----------
    backend : Backend
        The transport.
    samples : int
        Default sample count per right-hand side (or inverse) and call when neither
        ``samples`` nor ``tol`` is given; split over refinement rounds and jobs.
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
    quantization : str
        ``"equilibrated"`` (default: Jacobi scaling, nearest rounding, exact PD check) or
        ``"conservative"`` (the old Gershgorin-boosted rounding, kept for comparison).
    refine : int or None
        Correction rounds of iterative refinement after a solve's first round (0: off). None
        (default) chooses ``min(MAX_AUTO_REFINE, samples // REFINE_SAMPLES_PER_ROUND - 1)``: a
        round pays whenever it gets enough samples to be accurate to much better than 1, because
        the SPU's error is relative to the right-hand side it is given and the next round's
        right-hand side, the float64 residual, is as small as the previous round's error
        (quantization floor and noise alike). The call's samples are shared among the rounds.
    jobs : int or None
        Independent jobs per right-hand side (or inverse); None chooses by
        :func:`~thermospu.driver.jobs.job_count` (up to 16, burn-ins below 1/8 of the sampling).
    step_limit : float
        Largest h lambda_max of the step size h = 2**-k (in (0, 2): Euler--Maruyama is stable
        below 2); see :func:`~thermospu.driver.autorange.step_exponent`. 1.5 by default, 1.0 the
        old rule.
    """

    def __init__(self, backend: Backend, *, samples: int = 10_000, range_target: float = 0.7,
                 pilot_samples: int = 256, check_spd: bool = True,
                 discretization_correction: bool = True, max_retries: int = 3,
                 progress: bool | None = None, quantization: str = "equilibrated",
                 refine: int | None = None, jobs: int | None = None,
                 step_limit: float = autorange.STEP_LIMIT):
        if not 0 < range_target < 1:
            raise ValueError(f"range_target must lie in (0, 1), got {range_target}")
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
        if refine is not None and (int(refine) != refine or refine < 0):
            raise ValueError(f"refine must be a non-negative integer or None, got {refine!r}")
        if jobs is not None and (int(jobs) != jobs or jobs < 1):
            raise ValueError(f"jobs must be a positive integer or None, got {jobs!r}")
        if not 0 < step_limit < 2:
            raise ValueError(f"step_limit must lie in (0, 2) (Euler--Maruyama stability), "
                             f"got {step_limit}")
        self.backend = backend
        # Checked against the device's limit per call (a board of 2**10 samples still opens).
        self.default_samples = inputs.integer(samples, "samples", 2, 1 << 64)
        self.range_target = range_target
        self.pilot_samples = int(pilot_samples)
        self.check_spd = check_spd
        self.discretization_correction = discretization_correction
        self.max_retries = max_retries
        self.progress = progress
        self.quantization = quantization
        self.refine = refine
        self.jobs = jobs
        self.step_limit = step_limit

    # --- public API --------------------------------------------------------------------------
    @property
    def config(self) -> SPUConfig:
        return self.backend.config

    @property
    def description(self) -> str:
        return self.backend.description

    @blas.one_blas_thread
    def load(self, A) -> LoadedMatrix:
        """Validate, condition, quantize and analyse ``A`` (symmetric positive definite,
        n <= N). Cost O(n**3) on the host (the exact positive-definiteness check)."""
        A = self._validate_matrix(A)
        conditioned = condition_matrix(A, self.config, self.quantization)
        spectrum = autorange.estimate_spectrum(conditioned.quantized.device_matrix)
        if spectrum.lambda_min <= 0:
            raise NotPositiveDefiniteError(
                f"the quantized matrix has a non-positive eigenvalue estimate "
                f"{spectrum.lambda_min:.3g}; the input is not positive definite")
        plan = autorange.plan_steps(spectrum, step_limit=self.step_limit)
        return LoadedMatrix(A, conditioned, spectrum, plan, self.config)

    def solve(self, A, b, *, samples: int | None = None, tol: float | None = None,
              seed: int | None = None) -> np.ndarray:
        """Estimate x = A^-1 b by the time average of the SPU's state.

        Parameters
        ----------
        A : array (n, n) or LoadedMatrix
            Symmetric positive definite.
        b : array (n,) or (n, m)
            Right-hand side(s); m columns run as m groups of jobs with A loaded once.
        samples : int, optional
            Samples per right-hand side, all rounds and jobs together (default: ``tol`` or
            the device default).
        tol : float, optional
            Target relative standard error of one round; sets ``samples`` from the mixing time.
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
        device settings, saturations, error bars; see :class:`SolveDiagnostics`)."""
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

    def solve_many(self, problems, *, samples: int | None = None, tol: float | None = None,
                   seed: int | None = None) -> list[tuple[np.ndarray, SolveDiagnostics]]:
        """:meth:`solve_with_info` of each ``(A, b)`` in ``problems`` (A an array or a
        :class:`LoadedMatrix`), in order, with seeds drawn from ``seed``: the batch K-FAC sends
        for one update. Each matrix is loaded on the device once for all its jobs; the matrices
        run one after another (a job holds one coupling matrix)."""
        problems = list(problems)
        seeds = self._call_seeds(seed, len(problems))
        return [self._solve(A, b, samples, tol, s) for (A, b), s in zip(problems, seeds)]

    def inv_many(self, matrices, *, samples: int | None = None, tol: float | None = None,
                 seed: int | None = None) -> list[tuple[np.ndarray, SolveDiagnostics]]:
        """:meth:`inv_with_info` of each matrix in ``matrices``, in order, with seeds drawn
        from ``seed`` (see :meth:`solve_many`)."""
        matrices = list(matrices)
        seeds = self._call_seeds(seed, len(matrices))
        return [self._inv(A, samples, tol, s) for A, s in zip(matrices, seeds)]

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

    def _loaded(self, A) -> LoadedMatrix:
        """``A`` loaded for this device (a LoadedMatrix of another device is refused)."""
        if not isinstance(A, LoadedMatrix):
            return self.load(A)
        if A.config != self.config:
            raise InvalidInputError(
                f"this LoadedMatrix was quantized for another device configuration "
                f"({A.config}); load A again on this device ({self.config})")
        return A

    # --- the run ------------------------------------------------------------------------------
    def _seeds(self, seed, count) -> list[int]:
        ss = np.random.SeedSequence(inputs.seed(seed))
        words = ss.generate_state(2 * count, dtype=np.uint32).astype(np.uint64)
        return [int(words[2 * i]) | (int(words[2 * i + 1]) << 32) for i in range(count)]

    def _call_seeds(self, seed, count) -> list[int]:
        """``count`` 64-bit seeds for the parts of one call, drawn from ``seed`` (fresh entropy
        when it is None)."""
        return self._seeds(_fresh(seed), count)

    def _refine_rounds(self, n_samples: int) -> int:
        """Rounds of a solve: 1 + the correction rounds (see ``refine`` in the class docstring)."""
        if self.refine is not None:
            return 1 + int(self.refine)
        return 1 + max(0, min(MAX_AUTO_REFINE, n_samples // REFINE_SAMPLES_PER_ROUND - 1))

    def _job_count(self, loaded: LoadedMatrix, n_samples: int) -> int:
        return jobs_module.job_count(n_samples, loaded.plan.burn_in, loaded.plan.thin, self.jobs)

    # --- solve ---------------------------------------------------------------------------------
    @blas.one_blas_thread
    def _solve(self, A, b, samples, tol, seed) -> tuple[np.ndarray, SolveDiagnostics]:
        started = time.perf_counter()
        loaded = self._loaded(A)
        B = inputs.real_array(b, "b")
        if B.ndim not in (1, 2) or B.shape[0] != loaded.n:
            raise ShapeError(f"b must have shape ({loaded.n},) or ({loaded.n}, m), got {B.shape}")
        columns = B.reshape(loaded.n, -1).T                       # (m, n)
        nonzero = np.any(columns != 0, axis=1)
        x = np.zeros_like(columns)
        if not nonzero.any():
            return x.T.reshape(B.shape), self._no_run_diagnostics(
                loaded, seed, B.shape, note="b is zero: x = 0")
        seed = _fresh(seed)
        n_samples = self._sample_count(samples, tol, loaded.plan, dimension=0)
        rounds = self._refine_rounds(n_samples)
        rows, steps, pilot_steps = columns[nonzero], 0, 0
        estimate = np.zeros_like(rows)
        residual = rows
        for round_seed in self._seeds(seed, rounds):
            last = self._solve_round(loaded, residual, max(2, n_samples // rounds), round_seed)
            estimate = estimate + last.answer
            # Mixed precision: the residual in float64 against the caller's A, not the held one,
            # so the next round corrects the quantization bias as well as the noise.
            residual = rows - estimate @ loaded.matrix
            steps += last.run.steps + last.pilot_steps
            pilot_steps += last.pilot_steps
        x[nonzero] = estimate
        se, bias = np.zeros_like(columns), np.zeros_like(columns)
        se[nonzero] = last.std_errors
        S_held = loaded.quantized.device_matrix * loaded.quantized.scale
        lambda_min = loaded.spectrum.lambda_min * loaded.quantized.scale * LAMBDA_MIN_SAFETY
        biases = [uncertainty.solve_bias(S_held, loaded.conditioned.d_inv_sqrt,
                                         loaded.held_difference, d, db, lambda_min)
                  for d, db in zip(last.answer, last.rhs_rounding)]
        bias[nonzero] = np.stack([bb.per_coordinate for bb in biases])
        diagnostics = self._run_diagnostics(
            loaded, seed, last, steps=steps, pilot_steps=pilot_steps, rounds=rounds,
            std_errors=se.T.reshape(B.shape), bias_errors=bias.T.reshape(B.shape),
            bias_bound=max(bb.bound for bb in biases), moments=False, started=started)
        return x.T.reshape(B.shape), diagnostics

    def _solve_round(self, loaded: LoadedMatrix, rhs: np.ndarray, n_samples: int,
                     seed: int) -> _Round:
        """One round: S y = D**-1/2 r for each row r of ``rhs`` (original units) as K jobs;
        returns x = D**-1/2 y per row with its noise and the rounding of what was sent."""
        config, plan = self.config, loaded.plan
        conditioned, quantized = loaded.conditioned, loaded.quantized
        columns = conditioned.scale_rhs(rhs)
        m, k = columns.shape[0], self._job_count(loaded, n_samples)
        seeds = self._seeds(seed, m + m * k)
        ranging = Ranging.from_bounds(self.range_target, loaded.spectrum.lambda_min, False)
        pilot_steps = 0
        if self.pilot_samples:
            ranging, pilot_steps = runner.pilot(self.backend, quantized.codes, plan, columns,
                                                ranging, self.pilot_samples, seeds[:m])
        run = self._main_run(loaded, np.repeat(columns, k, axis=0),
                             jobs_module.samples_per_job(n_samples, k), ranging, seeds[m:],
                             moments=False)
        groups, scales = jobs_module.group(run.results, k), run.bias.scales[::k]
        y = np.stack([solution_from_means(jobs_module.combine(g), s, quantized, config)
                      for g, s in zip(groups, scales)])
        se_y = np.stack([solution_std_errors(g, s, quantized, config, cell_std=run.ranging.cell_std,
                                             autocorrelation_time=plan.autocorrelation_time)
                         for g, s in zip(groups, scales)])
        unit = 2.0 ** (run.bias.b_shift - config.fa - config.fx)
        sent = run.bias.codes[::k] * unit * scales[:, None]      # c as the DAC holds it
        return _Round(answer=conditioned.solution(y), std_errors=conditioned.solution(se_y),
                      rhs_rounding=(columns - sent) / conditioned.d_inv_sqrt, run=run,
                      pilot_steps=pilot_steps, jobs=k)

    # --- inverse -------------------------------------------------------------------------------
    @blas.one_blas_thread
    def _inv(self, A, samples, tol, seed) -> tuple[np.ndarray, SolveDiagnostics]:
        started = time.perf_counter()
        loaded = self._loaded(A)
        config, plan, quantized = self.config, loaded.plan, loaded.quantized
        n_samples = self._sample_count(samples, tol, plan, dimension=loaded.n)
        seed = _fresh(seed)
        k = self._job_count(loaded, n_samples)
        ranging, pilot_steps = self._inverse_ranging(loaded)
        run = self._main_run(loaded, np.zeros((k, loaded.n)),
                             jobs_module.samples_per_job(n_samples, k), ranging,
                             self._seeds(seed, k), moments=True)
        h = 2.0**-plan.k
        beta = 2 * h / runner.actual_sigma(config, run.params) ** 2
        s_inv, low_resolution = inverse_from_moments(
            jobs_module.combine(run.results), quantized, h, beta, config,
            self.discretization_correction)
        if low_resolution:
            # stacklevel 3: the caller of inv/inv_with_info (_inv <- the public method).
            warnings.warn("the sampled variance is below 4 ADC LSB**2: out_bits is too small for "
                          "this matrix's spread of scales; the inverse is dominated by ADC "
                          "rounding", RuntimeWarning, stacklevel=3)
        se = inverse_std_errors(run.results, quantized, h, beta, config,
                                self.discretization_correction,
                                autocorrelation_time=plan.autocorrelation_time)
        inverse = loaded.conditioned.inverse(s_inv)
        bias = uncertainty.inverse_bias(inverse, loaded.held_difference)
        last = _Round(answer=inverse, std_errors=None, rhs_rounding=None, run=run,
                      pilot_steps=pilot_steps, jobs=k)
        diagnostics = self._run_diagnostics(
            loaded, seed, last, steps=run.steps + pilot_steps, pilot_steps=pilot_steps,
            rounds=1, std_errors=loaded.conditioned.inverse(se), bias_errors=bias.per_coordinate,
            bias_bound=bias.bound, moments=True, started=started, low_resolution=low_resolution)
        return inverse, diagnostics

    def _inverse_ranging(self, loaded: LoadedMatrix) -> tuple[Ranging, int]:
        """The inverse's ranging, from a pilot run once per loaded matrix (and device
        settings), then cached with it. Returns it and the pilot steps this call ran."""
        key = ("inverse-ranging", self.config, self.range_target, self.pilot_samples)
        if key in loaded.cache:
            return loaded.cache[key], 0
        ranging = Ranging.from_bounds(self.range_target, loaded.spectrum.lambda_min, True)
        steps = 0
        if self.pilot_samples:
            ranging, steps = runner.pilot(self.backend, loaded.quantized.codes, loaded.plan,
                                          np.zeros((1, loaded.n)), ranging, self.pilot_samples,
                                          [loaded.pilot_seed])
        loaded.cache[key] = ranging
        return ranging, steps

    def _main_run(self, loaded, columns, n_samples, ranging, seeds, *, moments) -> runner.MainRun:
        return runner.main_run(self.backend, loaded.quantized.codes, loaded.plan, columns,
                               n_samples, ranging, seeds, moments=moments,
                               max_retries=self.max_retries,
                               condition=loaded.spectrum.condition, show_progress=self.progress)

    # --- diagnostics ---------------------------------------------------------------------------
    def _run_diagnostics(self, loaded, seed, last: _Round, *, steps, pilot_steps, rounds,
                         std_errors, bias_errors, bias_bound, moments, started,
                         low_resolution=False) -> SolveDiagnostics:
        """The diagnostics of a call that ran jobs (``last``: its last round), with the
        error bars; warns when the quantization bias dominates the noise."""
        run = last.run
        bars = uncertainty.error_bars(std_errors, bias_errors)
        noise, bias = float(np.max(std_errors)), float(np.max(bias_errors))
        if bias > noise:
            # stacklevel 4: the caller of the public method (_run_diagnostics <- _solve/_inv).
            warnings.warn(f"the quantization bias (up to {bias:.3g}) exceeds the noise standard "
                          f"error (up to {noise:.3g}) at a_bits={self.config.a_bits}, "
                          f"b_bits={self.config.b_bits}: more samples will not help"
                          + ("" if moments else f"; more refinement rounds would "
                             f"(refine={rounds} or more)"),
                          RuntimeWarning, stacklevel=4)
        beta = 2 * loaded.plan.h / runner.actual_sigma(self.config, run.params) ** 2
        return dataclasses.replace(
            self._no_run_diagnostics(loaded, seed, np.shape(std_errors)),
            steps=steps, pilot_steps=pilot_steps, samples=run.params.samples * last.jobs,
            chains=len(run.results), jobs=last.jobs, rounds=rounds, beta_device=beta,
            sigma_q=run.params.sigma_q, sigma_shift=run.params.sigma_shift,
            scale_b=None if moments else tuple(run.bias.scales[::last.jobs].tolist()),
            b_shift=run.bias.b_shift, saturations=run.saturations, retries=run.retries,
            range_target=run.ranging.target, adc_resolution_low=low_resolution,
            std_error=noise, std_errors=std_errors, bias_errors=bias_errors,
            bias_bound=bias_bound, error_bars=bars, wall_s=time.perf_counter() - started)

    def _no_run_diagnostics(self, loaded: LoadedMatrix, seed, shape, *,
                            note: str = "") -> SolveDiagnostics:
        """The diagnostics of the plan alone (no job run; the answer, of ``shape``, is exact);
        :meth:`_run_diagnostics` fills in the run."""
        plan, spectrum, zeros = loaded.plan, loaded.spectrum, np.zeros(shape)
        return SolveDiagnostics(
            transport=self.backend.name, steps=0, pilot_steps=0, samples=0, chains=0, jobs=0,
            rounds=0, burn_in=plan.burn_in, thin=plan.thin, k=plan.k, h=plan.h,
            tau_steps=plan.tau, lambda_max=spectrum.lambda_max, lambda_min=spectrum.lambda_min,
            condition=spectrum.condition, beta_device=None, sigma_q=None, sigma_shift=None,
            scale_A=loaded.quantized.scale, scale_b=None, b_shift=None,
            quantization=loaded.conditioned.quantization,
            diagonal_boost_max_codes=int(loaded.quantized.boost.max()),
            a_bits=self.config.a_bits, out_bits=self.config.out_bits, saturations=0, retries=0,
            range_target=None, adc_resolution_low=False, std_error=0.0, std_errors=zeros,
            bias_errors=zeros, bias_bound=0.0, error_bars=zeros, seed=seed, wall_s=0.0,
            note=note)


#: Lanczos estimates of lambda_min err high; the bias bound divides by 0.8 of it (as the plan).
LAMBDA_MIN_SAFETY = 0.8


@dataclasses.dataclass(frozen=True)
class _Round:
    """One round of a call: its answer (original units; rows per right-hand side for a solve),
    noise standard errors and the rounding of the right-hand sides sent (r - r_q, original
    units; None for an inverse), the accepted run, pilot steps and jobs per right-hand side."""

    answer: np.ndarray
    std_errors: np.ndarray | None
    rhs_rounding: np.ndarray | None
    run: runner.MainRun
    pilot_steps: int
    jobs: int


def _fresh(seed) -> int:
    """``seed``, or a fresh 64-bit seed from entropy when it is None."""
    return int(np.random.SeedSequence().entropy) & _MASK64 if seed is None else seed


def open(uri: str = "model", *, samples: int = 10_000, range_target: float = 0.7,
         pilot_samples: int = 256, check_spd: bool = True, discretization_correction: bool = True,
         progress: bool | None = None, quantization: str = "equilibrated",
         refine: int | None = None, jobs: int | None = None,
         step_limit: float | None = None, **config) -> Device:
    """Open an SPU.

    Parameters
    ----------
    uri : str
        ``"model"`` (the emulated SPU in-process; ``"model?n=64&a_bits=8"`` also works).
    samples, range_target, pilot_samples, check_spd, discretization_correction, progress
    quantization, refine, jobs, step_limit
        See :class:`Device` (``step_limit`` None: its default).
    **config
        SPUConfig fields for emulated devices (n, a_bits, ...), and any other option of
        :func:`~thermospu.driver.transports.open_backend`: link options and the analog
        impairments (``coupling_mismatch``, ...; docs/spu.md, "Analog impairments").
    """
    backend = open_backend(uri, **config)
    return Device(backend, samples=samples, range_target=range_target,
                  pilot_samples=pilot_samples, check_spd=check_spd,
                  discretization_correction=discretization_correction, progress=progress,
                  quantization=quantization, refine=refine, jobs=jobs,
                  step_limit=autorange.STEP_LIMIT if step_limit is None else step_limit)
