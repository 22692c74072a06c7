"""Input conditioning (driver/quantize.py): Jacobi equilibration with nearest rounding and an
exact positive-definiteness check, against the conservative scheme it may replace."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from thermospu.driver.quantize import (condition_matrix, is_positive_definite,
                                       quantize_matrix, quantize_matrix_nearest,
                                       smallest_pd_shift)
from thermospu.rtl.spec.config import SPUConfig


def badly_scaled(rng, n, spread=3.0):
    """SPD with a wide diagonal (features of very different scales), as K-FAC factors are."""
    G = rng.standard_normal((n, 2 * n))
    scales = np.logspace(0, -spread / 2, n)
    return scales[:, None] * (G @ G.T / (2 * n) + 0.05 * np.eye(n)) * scales[None, :]


def test_is_positive_definite_is_exact_at_the_boundary():
    # [[1, 1], [1, 1]] is singular (PSD, not PD); a float Cholesky with rounding could pass
    # M + tiny, the exact check cannot be fooled.
    assert not is_positive_definite(np.array([[1, 1], [1, 1]]))
    assert is_positive_definite(np.array([[2, 1], [1, 1]]))
    assert not is_positive_definite(np.array([[1, 2], [2, 1]]))
    big = 2**40
    assert not is_positive_definite(np.array([[big, big - 1], [big - 1, big - 2]]))  # det = -1
    assert is_positive_definite(np.array([[big, big - 1], [big - 1, big - 1]]))      # det = big - 1
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 12))
        m = rng.integers(-50, 50, (n, n))
        m = m + m.T
        want = bool(np.linalg.eigvalsh(m.astype(float))[0] > 1e-9)
        assert is_positive_definite(m) == want


def test_smallest_shift_is_smallest():
    rng = np.random.default_rng(2)
    m = rng.integers(-30, 30, (9, 9))
    m = m + m.T
    s = smallest_pd_shift(m)
    assert is_positive_definite(m + s * np.eye(9, dtype=np.int64))
    assert s == 0 or not is_positive_definite(m + (s - 1) * np.eye(9, dtype=np.int64))


@pytest.mark.parametrize("bits", [4, 6, 8, 16])
@pytest.mark.parametrize("seed", range(4))
def test_equilibrated_codes_are_positive_definite_and_in_range(bits, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    config = SPUConfig(n=64, a_bits=bits, b_bits=bits, out_bits=min(bits, 16))
    c = condition_matrix(badly_scaled(rng, n, spread=4.0), config)
    codes = c.quantized.codes
    assert is_positive_definite(codes)
    assert codes.min() >= -(1 << config.fa) and codes.max() <= config.a_max_code
    assert np.array_equal(codes, codes.T)


def test_nearest_rounding_adds_no_shift_when_not_needed():
    config = SPUConfig(n=8, a_bits=16)
    q = quantize_matrix_nearest(np.eye(5) + 0.1, config)
    assert not q.boost.any()
    assert np.array_equal(q.codes, np.rint((np.eye(5) + 0.1) / 1.1 * config.a_max_code))


def test_back_transform_is_exact_on_exact_input():
    rng = np.random.default_rng(3)
    A = badly_scaled(rng, 12)
    b = rng.standard_normal(12)
    c = condition_matrix(A, SPUConfig(n=16))
    S = c.d_inv_sqrt[:, None] * A * c.d_inv_sqrt[None, :]
    assert np.allclose(np.diag(S), 1.0, rtol=0, atol=1e-15)
    y = np.linalg.solve(S, c.scale_rhs(b))
    x = np.linalg.solve(A, b)
    assert np.allclose(c.solution(y), x, rtol=1e-11, atol=0)
    assert np.allclose(c.inverse(np.linalg.inv(S)), np.linalg.inv(A), rtol=1e-11, atol=0)


def test_equilibration_beats_the_conservative_floor_on_a_badly_scaled_matrix():
    rng = np.random.default_rng(4)
    A = badly_scaled(rng, 24, spread=3.0)
    config = SPUConfig(n=32, a_bits=8, b_bits=8, out_bits=8)
    exact = np.linalg.inv(A)
    err = {}
    for scheme in ("conservative", "equilibrated"):
        held = condition_matrix(A, config, scheme).held_matrix
        err[scheme] = np.linalg.norm(np.linalg.inv(held) - exact) / np.linalg.norm(exact)
    assert err["equilibrated"] < err["conservative"] / 10, err


def test_conservative_scheme_is_unchanged_bit_for_bit():
    rng = np.random.default_rng(5)
    A = badly_scaled(rng, 20)
    config = SPUConfig(n=32, a_bits=10)
    q = quantize_matrix(A, config)
    c = condition_matrix(A, config, "conservative")
    assert np.array_equal(c.quantized.codes, q.codes) and c.quantized.scale == q.scale
    assert np.array_equal(c.d_inv_sqrt, np.ones(20))
    # Pinned: the codes the old scheme produced before conditioning existed.
    digest = hashlib.sha256(q.codes.astype("<i8").tobytes()).hexdigest()[:16]
    assert (digest, q.scale.hex(), q.boost.tolist()[:4]) == PINNED


def test_unknown_scheme_and_non_positive_diagonal_are_refused():
    with pytest.raises(ValueError, match="quantization must be one of"):
        condition_matrix(np.eye(3), SPUConfig(n=4), "dithered")
    with pytest.raises(ValueError, match="non-positive diagonal"):
        condition_matrix(-np.eye(3), SPUConfig(n=4))


#: sha256 prefix of the codes, scale (hex) and first boosts of the conservative scheme on the
#: matrix of test_conservative_scheme_is_unchanged_bit_for_bit, computed before this module grew.
PINNED = ("6f8c80b049166b83", "0x1.af4b975ff3674p-1", [5, 6, 5, 5])


def test_the_certificates_never_contradict_the_exact_elimination():
    """The float certificates are proofs or silent: on matrices at the boundary (smallest
    eigenvalue within a few codes of 0, on both sides) each may only decide where the exact
    elimination agrees, and between them they decide most cases."""
    from thermospu.driver.quantize import (_certified_not_positive_definite,
                                           _certified_positive_definite,
                                           _exactly_positive_definite)

    rng = np.random.default_rng(12)
    decided = 0
    for trial in range(60):
        n = int(rng.integers(2, 24))
        g = rng.integers(-200, 200, (n, n))
        a = g @ g.T
        lam = np.linalg.eigvalsh(a.astype(np.float64))[0]
        a = a - int(np.floor(lam)) * np.eye(n, dtype=np.int64) + int(rng.integers(-3, 4)) \
            * np.eye(n, dtype=np.int64)
        w, v = np.linalg.eigh(a.astype(np.float64))
        exact = _exactly_positive_definite(a)
        if _certified_positive_definite(a, float(w[0])):
            assert exact
            decided += 1
        elif _certified_not_positive_definite(a, v[:, 0]):
            assert not exact
            decided += 1
    assert decided >= 45
    assert _certified_positive_definite(np.diag([5, 7, 9]), 5.0)
    assert not _certified_positive_definite(np.array([[1, 2], [2, 1]]), 3.0)
    assert _certified_not_positive_definite(np.array([[1, 2], [2, 1]]), np.array([1.0, -1.0]))
