"""Auto-ranging: choosing the step size, noise amplitude, b-scale, burn-in and sample counts.

Everything here works on the *device matrix* (the quantized coupling matrix in device units, whose
largest entry is about 1) and costs O(n**2 m) for m Lanczos steps -- no factorization.

* Step size: the largest h = 2**-k with h * lambda_max <= ``step_limit`` (:data:`STEP_LIMIT` =
  1.5 by default, so h * lambda_max lies in (0.75, 1.5]). Euler--Maruyama is stable for
  h * lambda_max < 2, and its bias costs no accuracy at any stable h: the mean's fixed point is
  A^-1 b exactly and the inverse undoes the stationary covariance's (I - h A / 2) factor exactly
  (docs/spu.md). So h is limited by stability alone, with a margin: the fastest mode's
  stationary variance grows as 1 / (h lambda (2 - h lambda)) and the (I - hA/2) factor shrinks
  its share of the inverse to 1 - h lambda / 2, both harmless at 1.5 (4/3 and 1/4) and ruinous
  near 2; the margin also covers a Lanczos lambda_max that errs low. The slowest mode relaxes at
  rate h * lambda_min per step, so every step count scales as 1/h: 1.5 instead of the old 1
  (``step_limit=1``) halves the steps in most cases.
* Mixing: the slowest mode's relaxation time is tau = 1 / (h * lambda_min) steps. Burn-in is
  ``burn_in_tau * tau`` (the initial distance, at most the state range, decays as exp(-t/tau)).
  Samples are thinned to about tau/2 steps apart, so successive samples of the slowest mode
  correlate by at most rho = exp(-1/2).
* Range: noise and bias are scaled so that |mean| + 5 std stays inside the state range (a pilot
  run measures it); see :mod:`thermospu.driver.device`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from thermospu.rtl.spec.config import K_MAX

__all__ = ["SpectrumEstimate", "estimate_spectrum", "STEP_LIMIT", "step_exponent", "StepPlan",
           "plan_steps", "samples_for_tolerance"]

#: Default largest h * lambda_max (see the module docstring).
STEP_LIMIT = 1.5


@dataclasses.dataclass(frozen=True)
class SpectrumEstimate:
    """Extreme eigenvalues of a symmetric positive definite matrix (device units).

    ``lambda_max`` is never below the true value's Lanczos estimate and never above the
    Gershgorin bound; ``lambda_min`` is a Lanczos (Ritz) estimate, which approaches the true
    smallest eigenvalue from above -- exact when the Lanczos run spans the whole space (n <= m).
    """

    lambda_max: float
    lambda_min: float
    lanczos_steps: int

    @property
    def condition(self) -> float:
        return self.lambda_max / self.lambda_min


def estimate_spectrum(M: np.ndarray, steps: int = 40, seed: int = 0x5EED) -> SpectrumEstimate:
    """Lanczos with full reorthogonalization, ``min(n, steps)`` matrix-vector products.

    Cost O(n**2 * steps) for the products plus O(n * steps**2) for reorthogonalization.
    """
    n = M.shape[0]
    m = min(n, steps)
    rng = np.random.default_rng(seed)
    basis = np.zeros((m, n))
    v = rng.standard_normal(n)
    v /= np.linalg.norm(v)
    alphas, betas = [], []
    for j in range(m):
        basis[j] = v
        w = M @ v
        alpha = float(v @ w)
        w -= alpha * v
        if j:
            w -= betas[-1] * basis[j - 1]
        w -= basis[: j + 1].T @ (basis[: j + 1] @ w)   # full reorthogonalization
        alphas.append(alpha)
        beta = float(np.linalg.norm(w))
        if j == m - 1 or beta < 1e-12 * max(1.0, abs(alpha)):
            break
        betas.append(beta)
        v = w / beta
    tridiagonal = np.diag(alphas) + np.diag(betas[: len(alphas) - 1], 1) + np.diag(betas[: len(alphas) - 1], -1)
    ritz = np.linalg.eigvalsh(tridiagonal)
    gershgorin = float(np.max(np.abs(M).sum(axis=1)))
    return SpectrumEstimate(lambda_max=min(float(ritz[-1]), gershgorin),
                            lambda_min=float(ritz[0]), lanczos_steps=len(alphas))


def step_exponent(lambda_max: float, step_limit: float = STEP_LIMIT) -> int:
    """The smallest k >= 0 (largest h = 2**-k) with h * lambda_max <= ``step_limit``, which puts
    h * lambda_max in (step_limit / 2, step_limit] unless k = 0 or K_MAX binds."""
    k = math.ceil(math.log2(lambda_max / step_limit)) if lambda_max > 0 else 0
    return int(min(max(k, 0), K_MAX))


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """Step counts of a run.

    Attributes
    ----------
    k : int
        h = 2**-k.
    tau : float
        Relaxation time of the slowest mode, 1 / (h * lambda_min), in steps.
    burn_in : int
        Steps before the first sample.
    thin : int
        Steps between samples.
    rho : float
        Correlation of successive samples of the slowest mode, (1 - h*lambda_min)**thin.
    """

    k: int
    tau: float
    burn_in: int
    thin: int
    rho: float

    @property
    def h(self) -> float:
        """Euler step size in device time units, 2**-k."""
        return 2.0**-self.k

    @property
    def autocorrelation_time(self) -> float:
        """Integrated autocorrelation time of the slowest mode, in samples: (1+rho)/(1-rho)."""
        return (1 + self.rho) / (1 - self.rho)


def plan_steps(spectrum: SpectrumEstimate, *, burn_in_tau: float = 8.0, thin: int | None = None,
               lambda_min_safety: float = 0.8, step_limit: float = STEP_LIMIT) -> StepPlan:
    """Step size (:func:`step_exponent` with ``step_limit``), burn-in and thinning from the
    spectrum estimate.

    ``lambda_min_safety`` (< 1) shrinks the Lanczos estimate of lambda_min, which errs high, so
    the mixing time is not underestimated.
    """
    k = step_exponent(spectrum.lambda_max, step_limit)
    h = 2.0**-k
    rate = min(h * spectrum.lambda_min * lambda_min_safety, 1.0)
    tau = 1.0 / rate
    if thin is None:
        thin = max(1, int(round(tau / 2)))
    thin = min(thin, (1 << 16) - 1)
    rho = (1.0 - rate) ** thin
    return StepPlan(k=k, tau=tau, burn_in=int(math.ceil(burn_in_tau * tau)), thin=thin, rho=rho)


def samples_for_tolerance(tol: float, plan: StepPlan, *, dimension: int) -> int:
    """Samples for a relative standard error ``tol`` of the estimate.

    A sample covariance of a d-dimensional Gaussian has relative Frobenius error about
    sqrt((d + 1) / ESS) (for a well-spread spectrum), a sample mean has relative error about
    1 / sqrt(ESS) (at the ranging's mean-to-noise ratio); ESS = samples / autocorrelation time.
    ``dimension`` is d for a covariance and 0 for a mean.
    """
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    return int(math.ceil((dimension + 1) / tol**2 * plan.autocorrelation_time))
