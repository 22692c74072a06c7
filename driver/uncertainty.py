"""Honest error bars: the noise of the sampled estimate and the bias of the quantized problem.

The SPU solves the problem it holds, ``A_held`` (A after equilibration, rounding to ``a_bits``
codes and any positive-definiteness shift, back in A's units: ``ConditionedMatrix.held_matrix``)
with a right-hand side rounded to ``b_bits`` codes. Both roundings are known exactly on the host,
so their effect on the answer can be estimated to first order without knowing the answer:

* solve: with dA = A_held - A and db = r - r_q (the rounding of the right-hand side r the last
  round sent), the answer is off by ``beta = A_held**-1 (dA d + db)`` (d: that round's answer),
  to first order in dA. Its 2-norm is bounded by ``max D**-1/2 * |D**-1/2 (dA d + db)|_2 /
  lambda_min(S_held)`` (:attr:`Bias.bound`); a few Lanczos steps on the equilibrated held matrix
  estimate it (Gauss quadrature of u**T S**-2 u, exact after n steps), spread evenly over the
  equilibrated coordinates (:attr:`Bias.per_coordinate`).
* inverse: ``A**-1 - A_held**-1 = A_held**-1 dA A**-1 ~ H dA H`` with H the SPU's estimate, per
  entry; bounded by ``|H|_2**2 |dA|_2``.

The total error bar of a coordinate is ``Z * sqrt(se**2 + bias**2)`` with the noise standard error
se and :data:`Z` = 1.645 (a two-sided 90 % interval for Gaussian noise).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Z", "Bias", "inverse_norm", "solve_bias", "inverse_bias", "error_bars"]

#: Multiplier of the total error bar: a two-sided 90 % interval of a Gaussian.
Z = 1.645


@dataclasses.dataclass(frozen=True)
class Bias:
    """The quantization bias of an answer (original units).

    Attributes
    ----------
    per_coordinate : ndarray
        Estimated |bias| of each coordinate (shape of the answer).
    bound : float
        First-order bound on the 2-norm of the bias vector (of the matrix, for an inverse).
    """

    per_coordinate: np.ndarray
    bound: float


def inverse_norm(M: np.ndarray, u: np.ndarray, steps: int = 24) -> float:
    """|M**-1 u|_2 for symmetric positive definite M by Lanczos quadrature started at u:
    |u|**2 (T**-2)_11 with T the Lanczos tridiagonal (exact after n steps; converges in about
    sqrt(condition) steps). Cost: O(n**2 steps)."""
    norm = float(np.linalg.norm(u))
    if norm == 0.0:
        return 0.0
    m = min(M.shape[0], steps)
    basis = np.zeros((m, len(u)))
    v = u / norm
    alphas, betas = [], []
    for j in range(m):
        basis[j] = v
        w = M @ v
        alphas.append(float(v @ w))
        w -= basis[: j + 1].T @ (basis[: j + 1] @ w)        # full reorthogonalization
        beta = float(np.linalg.norm(w))
        if j == m - 1 or beta < 1e-12 * abs(alphas[-1]):
            break
        betas.append(beta)
        v = w / beta
    k = len(alphas)
    T = np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
    e1 = np.linalg.solve(T, np.eye(k)[0])
    return norm * float(np.linalg.norm(e1))


def solve_bias(held_equilibrated: np.ndarray, d_inv_sqrt: np.ndarray, dA: np.ndarray,
               d: np.ndarray, db: np.ndarray, lambda_min: float) -> Bias:
    """Bias of one right-hand side's answer (module docstring).

    Parameters
    ----------
    held_equilibrated : ndarray (n, n)
        S_held = D**-1/2 A_held D**-1/2, the equilibrated held matrix (``device_matrix * scale``).
    d_inv_sqrt : ndarray (n,)
        D**-1/2 of the conditioning.
    dA : ndarray (n, n)
        A_held - A (A's units).
    d, db : ndarray (n,)
        The last round's answer and the rounding error of its right-hand side (r - r_q).
    lambda_min : float
        A lower estimate of the smallest eigenvalue of S_held (equilibrated units).
    """
    u = d_inv_sqrt * (dA @ d + db)
    n = len(u)
    typical = inverse_norm(held_equilibrated, u) / math.sqrt(n)
    bound = float(np.max(d_inv_sqrt) * np.linalg.norm(u) / lambda_min)
    return Bias(per_coordinate=d_inv_sqrt * typical, bound=bound)


def inverse_bias(H: np.ndarray, dA: np.ndarray) -> Bias:
    """Bias of an inverse estimate H of A**-1 (module docstring); O(n**3) on the host."""
    first_order = H @ dA @ H
    bound = float(np.linalg.norm(H, 2) ** 2 * np.linalg.norm(dA, 2))
    return Bias(per_coordinate=np.abs(first_order), bound=bound)


def error_bars(std_errors: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Total error bar per coordinate: Z * sqrt(se**2 + bias**2) (original units)."""
    return Z * np.sqrt(np.square(std_errors) + np.square(bias))
