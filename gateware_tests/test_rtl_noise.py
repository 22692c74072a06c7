"""NoiseStep against the golden model's XorShift128Bank and gaussian_from_words."""

import numpy as np

from thermospu.rtl.spec.config import G_STD
from thermospu.rtl.spec.golden import XorShift128Bank, cell_seeds, gaussian_from_words
from thermospu.rtl.gateware.noise import NoiseStep

from rtl_helpers import simulate


def run_noise(states: np.ndarray, steps: int):
    """Iterate NoiseStep ``steps`` times from each state, keeping the four-word queue in Python
    the way the core's ring does; returns (words, gaussians, final states)."""
    dut = NoiseStep()
    words = np.zeros((steps, len(states)), dtype=np.uint32)
    gaussians = np.zeros((steps, len(states)), dtype=np.int64)
    finals = []

    async def tb(ctx):
        for c, state in enumerate(states):
            queue = [int(w) for w in state]
            for t in range(steps):
                ctx.set(dut.x, queue[0])
                ctx.set(dut.w, queue[3])
                words[t, c] = ctx.get(dut.word)
                gaussians[t, c] = ctx.get(dut.gaussian)
                queue = queue[1:] + [int(words[t, c])]
            finals.append(queue)

    simulate(dut, tb, clock=False)
    return words, gaussians, np.array(finals, dtype=np.uint32)


def test_words_and_gaussians_equal_golden():
    states = np.concatenate([cell_seeds(2024, 5), cell_seeds(0, 2),
                             np.array([[1, 0, 0, 0], [0xFFFFFFFF] * 4], dtype=np.uint32)])
    steps = 40
    words, gaussians, finals = run_noise(states, steps)
    bank = XorShift128Bank(states)
    for t in range(steps):
        expected = bank.next_words().copy()
        np.testing.assert_array_equal(words[t], expected, err_msg=f"word of step {t}")
        np.testing.assert_array_equal(gaussians[t], gaussian_from_words(expected))
    np.testing.assert_array_equal(finals, bank.states)


def test_gaussian_statistics():
    """4000 draws of one cell: mean 0 and std G_STD within 5 standard errors; range [-510, 510]."""
    _, gaussians, _ = run_noise(cell_seeds(7, 1), 4000)
    g = gaussians[:, 0].astype(float)
    n = g.size
    assert abs(g.mean()) < 5 * G_STD / np.sqrt(n)
    # Standard error of the sample variance of Irwin-Hall(4) (excess kurtosis -0.3).
    var_se = G_STD**2 * np.sqrt((2 - 0.3) / n)
    assert abs(g.var() - G_STD**2) < 5 * var_se
    assert g.min() >= -510 and g.max() <= 510
    # Successive draws uncorrelated: |r| < 5/sqrt(n).
    r = np.corrcoef(g[:-1], g[1:])[0, 1]
    assert abs(r) < 5 / np.sqrt(n)


def test_cells_independent():
    """Two neighbouring cells' draws (seeds from one job seed) are uncorrelated: |r| < 5/sqrt(n)
    at lags 0 and 1 over 3000 steps."""
    _, gaussians, _ = run_noise(cell_seeds(99, 2), 3000)
    a, b = gaussians[:, 0].astype(float), gaussians[:, 1].astype(float)
    bound = 5 / np.sqrt(len(a))
    assert abs(np.corrcoef(a, b)[0, 1]) < bound
    assert abs(np.corrcoef(a[1:], b[:-1])[0, 1]) < bound
