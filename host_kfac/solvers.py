"""Second-order solvers: damped Kronecker factors in, preconditioned gradients out.

Every solver answers the same two calls, made by
:class:`~thermospu.host_kfac.preconditioner.KFACPreconditioner`:

- :meth:`Solver.update` (every inverse-update interval) with a layer's damped factors
  ``A_d = A + λ_A I`` (size ``in + 1``) and ``G_d = G + λ_G I`` (size ``out``);
- :meth:`Solver.precondition` (every step) with the layer's gradient matrix ``V = [∇W | ∇b]``
  (shape ``(out, in + 1)``), returning ``U = G_d⁻¹ V A_d⁻¹``, i.e.
  ``vec(U) = (A_d ⊗ G_d)⁻¹ vec(V)`` (column-major vec).

Solvers:

- :class:`DigitalSolver`: Cholesky (retried in float64 when the factor's precision fails) or a
  symmetric eigendecomposition, O(n³) per factor at each inverse update, O(out·in·(out + in))
  per step.
- :class:`ThermodynamicSolver` (the base of the SPU solvers: device, seeds, counters, fallback):
  the SPU does the linear algebra, by the paper's two methods, one class each.
  :class:`ThermodynamicInverseSolver` (**Method 1**, ``"inverse"``) estimates ``A_d⁻¹`` and
  ``G_d⁻¹`` from the sample covariance of the SPU at equilibrium (one device inversion per
  factor per inverse update); the host multiplies, as :class:`DigitalSolver` does (both are
  :class:`FactorInverseSolver`). :class:`ThermodynamicLinsolveSolver` (**Method 2**,
  ``"linsolve"``) solves ``G_d Y = V`` and then ``A_d Uᵀ = Yᵀ`` on the SPU every step, one chain
  per right-hand side column (the device's sample means), so no inverse is ever formed.
  :func:`thermodynamic_solver` picks one by its name.

With ``measure_error=True`` the SPU solvers also log the **device error** of every answer
against the exact float64 answer of the same system (:class:`DeviceErrorRecord`, summarised by
:func:`device_error_summary`): an extra O(n³) host solve per factor, so it is off by default.

Quantization (input DAC ``a_bits``/``b_bits``, output ADC ``out_bits``), the host-side
conditioning of each factor (diagonal equilibration, nearest rounding, an exact positive-
definiteness check; docs/spu.md) and the sample counts are the device's; the solver only
chooses how many samples to ask for.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import warnings

import numpy as np
import torch

__all__ = ["Solver", "FactorInverseSolver", "DigitalSolver", "ThermodynamicSolver",
           "ThermodynamicInverseSolver", "ThermodynamicLinsolveSolver", "THERMODYNAMIC_METHODS",
           "thermodynamic_solver", "block_ranges", "DeviceErrorRecord",
           "device_error_summary"]


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


class Solver(abc.ABC):
    """A way of applying ``(A_d ⊗ G_d)⁻¹`` to layer gradients.

    Attributes
    ----------
    name : str
        Short label for reports ("digital-cholesky", "spu-inverse", ...).
    metrics : dict
        Counters (ints) kept across steps and checkpoints: failures, fallbacks, SPU steps...
    """

    name: str

    def __init__(self):
        self.metrics: dict[str, int] = {}

    def prepare(self, layer_sizes: dict[str, tuple[int, int]]) -> None:
        """Called once with each layer's (A size, G size) before training; raises if a layer
        cannot be handled."""

    @abc.abstractmethod
    def update(self, layer: str, a_damped: torch.Tensor, g_damped: torch.Tensor) -> None:
        """Take a layer's new damped factors (symmetric positive definite)."""

    @abc.abstractmethod
    def precondition(self, layer: str, grad: torch.Tensor) -> torch.Tensor:
        """``G_d⁻¹ grad A_d⁻¹`` with the factors of the last :meth:`update` (``grad`` unchanged
        before the first update)."""

    def _count(self, key: str, amount: int = 1) -> None:
        self.metrics[key] = self.metrics.get(key, 0) + amount

    def state_dict(self) -> dict:
        return {"metrics": dict(self.metrics)}

    def load_state_dict(self, state: dict) -> None:
        self.metrics = dict(state["metrics"])


class FactorInverseSolver(Solver):
    """A solver that inverts each damped factor at an inverse update and multiplies every step.

    Keeps each layer's ``[A_d⁻¹, G_d⁻¹]``; :meth:`precondition` forms ``G_d⁻¹ V A_d⁻¹`` (two
    matrix products, O(out·in·(out + in)) per step). A subclass says how one factor is inverted
    (:meth:`_invert_factor`) and what happens when that fails. The inverses are part of
    :meth:`state_dict`.
    """

    def __init__(self):
        super().__init__()
        self._inverses: dict[str, list[torch.Tensor | None]] = {}

    @abc.abstractmethod
    def _invert_factor(self, layer: str, kind: str, matrix: torch.Tensor,
                       previous: torch.Tensor | None) -> torch.Tensor | None:
        """The inverse of one damped factor (``kind`` "A" or "G") in the factor's dtype; on
        failure the ``previous`` inverse (None before the first). Warnings it issues use
        ``stacklevel=3``, pointing at the caller of :meth:`update`."""

    def update(self, layer, a_damped, g_damped):
        self._count("inverse_updates")
        previous = self._inverses.get(layer, [None, None])
        new = []
        for kind, matrix, old in (("A", a_damped, previous[0]), ("G", g_damped, previous[1])):
            new.append(self._invert_factor(layer, kind, matrix, old))
        self._inverses[layer] = new

    def precondition(self, layer, grad):
        a_inv, g_inv = self._inverses.get(layer, [None, None])
        out = grad
        if g_inv is not None:
            out = g_inv.to(grad.dtype) @ out
        if a_inv is not None:
            out = out @ a_inv.to(grad.dtype)
        return out

    def state_dict(self):
        return {**super().state_dict(), "inverses": {k: list(v) for k, v in self._inverses.items()}}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._inverses = {k: [None if t is None else t.clone() for t in v]
                          for k, v in state["inverses"].items()}


class DigitalSolver(FactorInverseSolver):
    """Exact inverses of the damped factors on the host CPU.

    Parameters
    ----------
    method : {"cholesky", "eigen"}
        ``"cholesky"``: ``torch.linalg.cholesky_ex`` in the factor's dtype, retried in float64
        when it reports a non-positive pivot, then ``cholesky_inverse``. ``"eigen"``:
        ``torch.linalg.eigh`` in float64 and ``Q diag(1/d) Qᵀ`` (fails on a non-positive
        eigenvalue). Both give the same maths (factored Tikhonov damping); eigen is slower and
        more robust to near-singular factors.

    A factor that is not finite, or whose inversion fails or gives a non-finite result, keeps the
    layer's previous inverse; a ``RuntimeWarning`` is issued and ``metrics["inverse_failures"]``
    counts it.
    """

    def __init__(self, method: str = "cholesky"):
        super().__init__()
        if method not in ("cholesky", "eigen"):
            raise ValueError(f"DigitalSolver method must be 'cholesky' or 'eigen', got {method!r}")
        self.method = method
        self.name = f"digital-{method}"
        self.metrics = {"inverse_updates": 0, "inverse_failures": 0, "float64_retries": 0}

    def invert(self, matrix: torch.Tensor) -> torch.Tensor | None:
        """Inverse of a symmetric positive definite matrix in its own dtype, or None on failure."""
        if not _finite(matrix):
            return None
        if self.method == "cholesky":
            chol, info = torch.linalg.cholesky_ex(matrix)
            if info.item() != 0 and matrix.dtype != torch.float64:
                self._count("float64_retries")
                chol, info = torch.linalg.cholesky_ex(matrix.to(torch.float64))
            if info.item() != 0:
                return None
            inverse = torch.cholesky_inverse(chol)
        else:
            eigenvalues, vectors = torch.linalg.eigh(matrix.to(torch.float64))
            if eigenvalues.min() <= 0:
                return None
            inverse = (vectors / eigenvalues) @ vectors.T
        inverse = inverse.to(matrix.dtype)
        return inverse if _finite(inverse) else None

    def _invert_factor(self, layer, kind, matrix, previous):
        inverse = self.invert(matrix)
        if inverse is None:
            self._count("inverse_failures")
            warnings.warn(f"K-FAC digital solver: could not invert the damped {kind} factor of "
                          f"layer {layer!r}; keeping the previous preconditioner",
                          RuntimeWarning, stacklevel=3)
            return previous
        return inverse


def block_ranges(size: int, capacity: int) -> list[tuple[int, int]]:
    """Split ``range(size)`` into ``ceil(size / capacity)`` contiguous blocks of near-equal
    length, none longer than ``capacity``. Returns (start, stop) pairs."""
    count = math.ceil(size / capacity)
    edges = [round(i * size / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:]))


@dataclasses.dataclass(frozen=True)
class DeviceErrorRecord:
    """The measured error of one device answer (``ThermodynamicSolver(measure_error=True)``).

    Attributes
    ----------
    index : int
        The layer's inverse update (Method 1) or preconditioning step (Method 2), from 0.
    layer : str
        The layer's qualified name.
    kind : str
        ``"A"`` or ``"G"``: the damped factor inverted (Method 1) or solved against (Method 2).
    n : int
        The factor's size (rows).
    relative_error : float
        Method 1: ``||inv_dev - inv||_F / ||inv||_F``; Method 2: ``||X_dev - X||_F / ||X||_F``
        over the solve's right-hand side columns. The exact answer is float64 on the host, of
        the same (block-diagonal part of the) damped factor and the same right-hand sides the
        device was given; dimensionless.
    euler_steps : int
        Euler steps the device reported for this answer (summed over chains and blocks).
    """

    index: int
    layer: str
    kind: str
    n: int
    relative_error: float
    euler_steps: int


def device_error_summary(records) -> dict:
    """``count``, ``median``, ``p90`` and ``max`` of the relative errors of ``records``
    (:class:`DeviceErrorRecord` or their ``dataclasses.asdict`` dicts), overall and per kind
    (``"A"``, ``"G"`` keys, each a dict of the same statistics); empty dict without records."""
    rows = [r if isinstance(r, dict) else dataclasses.asdict(r) for r in records]

    def stats(errors):
        errors = np.asarray(errors, dtype=np.float64)
        return {"count": int(errors.size), "median": float(np.median(errors)),
                "p90": float(np.percentile(errors, 90)), "max": float(errors.max())}

    if not rows:
        return {}
    out = stats([r["relative_error"] for r in rows])
    for kind in ("A", "G"):
        errors = [r["relative_error"] for r in rows if r["kind"] == kind]
        if errors:
            out[kind] = stats(errors)
    return out


def _relative_error(answer: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(answer - exact) / np.linalg.norm(exact))


class ThermodynamicSolver(Solver):
    """K-FAC's linear algebra on an SPU (emulated, simulated or a board) through a driver handle:
    the base of the paper's two methods, :class:`ThermodynamicInverseSolver` (Method 1) and
    :class:`ThermodynamicLinsolveSolver` (Method 2); :func:`thermodynamic_solver` picks one by
    name.

    Parameters
    ----------
    device : thermospu.driver Device
        From ``thermospu.driver.open(uri, n=..., a_bits=..., out_bits=...)``; its configuration
        fixes the largest factor it holds (``device.config.n``) and the quantization.
    samples : int or None
        Samples per device job; None lets the device choose (its default, or ``tol``). The
        estimate's statistical error falls as ``1/sqrt(samples)`` until the quantization floor
        set by the bit widths.
    tol : float or None
        Accuracy target instead of a sample count: the relative standard error the device aims
        for in each job (it sets the samples from the matrix's mixing time).
    split_blocks : bool
        A factor larger than ``device.config.n`` is an error (``DeviceCapacityError``) unless
        this is set; then it is split into ``ceil(size / N)`` diagonal blocks, each solved on
        the device, and the off-block-diagonal couplings are dropped -- an approximation on top
        of K-FAC's own (the factor is replaced by its block-diagonal part).
    fallback : bool
        When the device fails (any ``SPUError`` except a capacity error), solve that update on
        the host instead, warn, and count it in ``metrics["fallbacks"]``. When False the error
        propagates.
    seed : int
        Base of the device job seeds: job j runs with a 64-bit seed derived from (seed, j) by
        ``numpy.random.SeedSequence``; the job counter is part of :meth:`state_dict`, so a
        resumed run sends the device the same seeds and gets the same answers.
    measure_error : bool
        Log the relative error of every device answer against the exact float64 answer
        (:class:`DeviceErrorRecord`, in :attr:`error_records` and :meth:`state_dict`). Costs an
        O(n³) host inverse or solve per factor per answer; off by default.

    Metrics: ``device_jobs`` (calls to solve/inv), ``spu_steps`` (Euler steps run, summed over
    chains as the device reports them), ``spu_samples``, ``saturations``, ``fallbacks``,
    ``inverse_updates``.
    """

    def __init__(self, device, *, samples: int | None = None, tol: float | None = None,
                 split_blocks: bool = False, fallback: bool = True, seed: int = 0,
                 measure_error: bool = False):
        super().__init__()
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                    or samples < 1):
            raise ValueError(f"samples must be a positive int or None, got {samples!r}")
        if tol is not None and not (0 < tol < 1):
            raise ValueError(f"tol must lie in (0, 1), got {tol!r}")
        if samples is not None and tol is not None:
            raise ValueError("give samples or tol, not both")
        self.device = device
        self.samples = samples
        self.tol = tol
        self.split_blocks = split_blocks
        self.fallback = fallback
        self.seed = int(seed)
        self.measure_error = bool(measure_error)
        self.error_records: list[DeviceErrorRecord] = []
        self._calls: dict[str, int] = {}       # per layer: inverse updates or steps, from 0
        self._jobs = 0
        self.metrics = {"device_jobs": 0, "spu_steps": 0, "spu_samples": 0, "saturations": 0,
                        "fallbacks": 0, "inverse_updates": 0}

    @property
    def capacity(self) -> int:
        return self.device.config.n

    def prepare(self, layer_sizes):
        from thermospu.driver.errors import DeviceCapacityError
        too_big = {name: sizes for name, sizes in layer_sizes.items()
                   if max(sizes) > self.capacity}
        if too_big and not self.split_blocks:
            listing = ", ".join(f"{name!r} (A {a}x{a}, G {g}x{g})" for name, (a, g) in too_big.items())
            raise DeviceCapacityError(
                f"K-FAC factors larger than the device's N={self.capacity}: {listing}. Open a "
                f"device with n >= {max(max(s) for s in too_big.values())}, or pass "
                f"split_blocks=True to solve block-diagonal parts (an extra approximation)")

    def _next_seed(self) -> int:
        seed = int(np.random.SeedSequence([self.seed, self._jobs]).generate_state(1, np.uint64)[0])
        self._jobs += 1
        return seed

    def _record(self, diagnostics) -> None:
        """Count one device job and what its :class:`~thermospu.driver.SolveDiagnostics` report."""
        self._count("device_jobs")
        self._count("spu_steps", int(diagnostics.steps))
        self._count("spu_samples", int(diagnostics.samples))
        self._count("saturations", int(diagnostics.saturations))

    def _tick(self, layer: str) -> None:
        """Count one inverse update (Method 1) or step (Method 2) of ``layer``."""
        self._calls[layer] = self._calls.get(layer, -1) + 1

    def _log_error(self, layer: str, kind: str, answer: np.ndarray, exact: np.ndarray,
                   steps: int) -> None:
        self.error_records.append(DeviceErrorRecord(
            index=self._calls.get(layer, 0), layer=layer, kind=kind, n=int(answer.shape[0]),
            relative_error=_relative_error(answer, exact), euler_steps=int(steps)))

    def _fall_back(self, error: Exception, what: str, *, stacklevel: int) -> None:
        """Re-raise ``error`` unless falling back is allowed; else count and warn (``stacklevel``
        counted from the caller of this method, as ``warnings.warn`` counts)."""
        from thermospu.driver.errors import DeviceCapacityError
        if not self.fallback or isinstance(error, DeviceCapacityError):
            raise error
        self._count("fallbacks")
        self._count(f"fallbacks_{type(error).__name__}")
        warnings.warn(f"K-FAC thermodynamic solver: device failed on {what} "
                      f"({type(error).__name__}: {error}); solved on the host for this update",
                      RuntimeWarning, stacklevel=stacklevel + 1)

    def state_dict(self):
        return {**super().state_dict(), "seed": self.seed, "jobs": self._jobs,
                "calls": dict(self._calls),
                "error_records": [dataclasses.asdict(r) for r in self.error_records]}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.seed, self._jobs = state["seed"], state["jobs"]
        self._calls = dict(state.get("calls", {}))
        self.error_records = [DeviceErrorRecord(**r) for r in state.get("error_records", [])]


class ThermodynamicInverseSolver(ThermodynamicSolver, FactorInverseSolver):
    """**Method 1**: at each inverse update the SPU estimates ``A_d⁻¹`` and ``G_d⁻¹`` from the
    sample covariance of its state at equilibrium (``device.inv_with_info``; 2 device jobs per
    layer, more with ``split_blocks``); each step the host forms ``G_d⁻¹ V A_d⁻¹``.

    Parameters as :class:`ThermodynamicSolver`. A non-finite factor keeps the previous inverse
    (a ``RuntimeWarning``, ``metrics["inverse_failures"]``); a device failure falls back to a
    Cholesky inverse on the host (:class:`DigitalSolver`).
    """

    name = "spu-inverse"

    def __init__(self, device, **options):
        super().__init__(device, **options)
        self._digital = DigitalSolver("cholesky")

    def update(self, layer, a_damped, g_damped):
        self._tick(layer)
        super().update(layer, a_damped, g_damped)

    def _device_inv(self, matrix: np.ndarray, layer: str, kind: str) -> np.ndarray:
        out = np.zeros_like(matrix)
        exact = np.zeros_like(matrix) if self.measure_error else None
        steps = 0
        for start, stop in block_ranges(len(matrix), self.capacity):
            block = matrix[start:stop, start:stop]
            out[start:stop, start:stop], info = self.device.inv_with_info(
                block, samples=self.samples, tol=self.tol, seed=self._next_seed())
            self._record(info)
            steps += int(info.steps)
            if exact is not None:
                exact[start:stop, start:stop] = np.linalg.inv(block)
        out = (out + out.T) / 2
        if exact is not None and np.isfinite(out).all():
            self._log_error(layer, kind, out, exact, steps)
        return out

    def _invert_factor(self, layer, kind, matrix, previous):
        from thermospu.driver.errors import SPUError
        if not _finite(matrix):
            warnings.warn(f"K-FAC: non-finite damped {kind} factor of layer {layer!r}; keeping "
                          f"the previous preconditioner", RuntimeWarning, stacklevel=3)
            self._count("inverse_failures")
            return previous
        try:
            factor = matrix.detach().to(torch.float64).numpy()
            inverse = torch.from_numpy(self._device_inv(factor, layer, kind))
            if not _finite(inverse):
                raise FloatingPointError("device returned a non-finite inverse")
        except (SPUError, FloatingPointError) as error:
            if isinstance(error, FloatingPointError):
                error = _as_device_error(error)
            self._fall_back(error, f"the {kind} factor of layer {layer!r}", stacklevel=3)
            inverse = self._digital.invert(matrix.to(torch.float64))
            if inverse is None:
                inverse = previous
        return None if inverse is None else inverse.to(matrix.dtype)


class ThermodynamicLinsolveSolver(ThermodynamicSolver):
    """**Method 2**: each step the SPU solves ``G_d Y = V`` (``in + 1`` right-hand sides) and
    then ``A_d Uᵀ = Yᵀ`` (``out`` right-hand sides) with ``device.solve_with_info``, one chain
    per column (the device's sample means); 2 device jobs per layer per step, no inverse formed.

    Parameters as :class:`ThermodynamicSolver`. Each damped factor is loaded on the device
    (``device.load``: validated, quantized, ranged) once per inverse update and reused every
    step. A device failure solves that step's systems on the host (``torch.linalg.solve``).
    """

    name = "spu-linsolve"

    def __init__(self, device, **options):
        super().__init__(device, **options)
        self._factors: dict[str, list[np.ndarray]] = {}
        self._loaded: dict[str, list] = {}     # device.load of each factor's blocks

    def _load_blocks(self, matrix: np.ndarray) -> list:
        """Validate, quantize and range each diagonal block once (``device.load``); the solver
        then solves against the loaded blocks every step until the next inverse update."""
        return [(start, stop, self.device.load(matrix[start:stop, start:stop]))
                for start, stop in block_ranges(len(matrix), self.capacity)]

    def _device_solve(self, blocks: list, rhs: np.ndarray, factor: np.ndarray, layer: str,
                      kind: str) -> np.ndarray:
        """Solve ``factor X = rhs`` block by block on the device; with ``measure_error`` log
        the answer's error against the exact blockwise solution."""
        out = np.empty_like(rhs)
        exact = np.empty_like(rhs) if self.measure_error else None
        steps = 0
        for start, stop, loaded in blocks:
            out[start:stop], info = self.device.solve_with_info(
                loaded, rhs[start:stop], samples=self.samples, tol=self.tol,
                seed=self._next_seed())
            self._record(info)
            steps += int(info.steps)
            if exact is not None:
                exact[start:stop] = np.linalg.solve(factor[start:stop, start:stop],
                                                    rhs[start:stop])
        if exact is not None and np.isfinite(out).all():
            self._log_error(layer, kind, out, exact, steps)
        return out

    def update(self, layer, a_damped, g_damped):
        self._count("inverse_updates")
        self._factors[layer] = [a_damped.detach().to(torch.float64).numpy(),
                                g_damped.detach().to(torch.float64).numpy()]
        self._loaded.pop(layer, None)

    def precondition(self, layer, grad):
        if layer not in self._factors:
            return grad
        from thermospu.driver.errors import SPUError
        a_d, g_d = self._factors[layer]
        self._tick(layer)
        v = grad.detach().to(torch.float64).numpy()
        try:
            if layer not in self._loaded:
                self._loaded[layer] = [self._load_blocks(a_d), self._load_blocks(g_d)]
            a_blocks, g_blocks = self._loaded[layer]
            y = self._device_solve(g_blocks, v, g_d, layer, "G")     # G_d Y = V: in+1 rhs
            u = self._device_solve(a_blocks, y.T, a_d, layer, "A").T  # A_d Uᵀ = Yᵀ: out rhs
            if not np.isfinite(u).all():
                raise FloatingPointError("device returned a non-finite solution")
        except (SPUError, FloatingPointError) as error:
            if isinstance(error, FloatingPointError):
                error = _as_device_error(error)
            self._fall_back(error, f"the linear systems of layer {layer!r}", stacklevel=2)
            g_t, a_t = torch.from_numpy(g_d), torch.from_numpy(a_d)
            y = torch.linalg.solve(g_t, torch.from_numpy(v))
            u = torch.linalg.solve(a_t, y.T).T.numpy()
        return torch.from_numpy(np.ascontiguousarray(u)).to(grad.dtype)

    def state_dict(self):
        return {**super().state_dict(),
                "factors": {k: [torch.from_numpy(a.copy()), torch.from_numpy(g.copy())]
                            for k, (a, g) in self._factors.items()}}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._factors = {k: [torch.as_tensor(m, dtype=torch.float64).numpy().copy()
                             for m in factors] for k, factors in state["factors"].items()}
        self._loaded = {}      # re-loaded on first use; loading is deterministic


THERMODYNAMIC_METHODS: dict[str, type[ThermodynamicSolver]] = {
    "inverse": ThermodynamicInverseSolver, "linsolve": ThermodynamicLinsolveSolver}


def thermodynamic_solver(device, method: str = "inverse", **options) -> ThermodynamicSolver:
    """The thermodynamic solver of a method named by string (as configurations and the CLI give
    it): ``"inverse"`` (Method 1, :class:`ThermodynamicInverseSolver`) or ``"linsolve"``
    (Method 2, :class:`ThermodynamicLinsolveSolver`); ``options`` as :class:`ThermodynamicSolver`.
    """
    if method not in THERMODYNAMIC_METHODS:
        raise ValueError(f"the thermodynamic method must be 'inverse' (Method 1) or 'linsolve' "
                         f"(Method 2), got {method!r}")
    return THERMODYNAMIC_METHODS[method](device, **options)


def _as_device_error(error: Exception):
    from thermospu.driver.errors import DeviceError
    return DeviceError(str(error))
