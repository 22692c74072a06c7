"""An independent, deliberately plain re-implementation of the SPU spec (docs/spu.md) for tests.

It shares no code with rtl/spec/golden.py except the seed derivation's published constants: per step it
loops over cells with Python integers, so it is slow but obviously right. ``rounding="floor"``
replaces round-to-nearest by truncation, the error the rounding-bias test shows the spec avoids.
"""

from __future__ import annotations

import numpy as np

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1


def splitmix64_words(seed: int, n: int) -> list[list[int]]:
    state, cells = seed, []
    for _ in range(n):
        outs = []
        for _ in range(2):
            state = (state + 0x9E3779B97F4A7C15) & M64
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            outs.append(z ^ (z >> 31))
        words = [outs[0] & M32, outs[0] >> 32, outs[1] & M32, outs[1] >> 32]
        if not any(words):
            words[0] = 1
        cells.append(words)
    return cells


def xorshift128(state: list[int]) -> int:
    x, y, z, w = state
    t = (x ^ (x << 11)) & M32
    new_w = (w ^ (w >> 19) ^ t ^ (t >> 8)) & M32
    state[:] = [y, z, w, new_w]
    return new_w


def run_reference(config, a_q, b_q, params, rounding="nearest"):
    """Returns (sum_y list, sum_yy dict {(i, j): value}, saturations, final x)."""
    n = params.n_active
    a = [[int(v) for v in row] for row in np.asarray(a_q)]
    b = [int(v) for v in np.asarray(b_q)]
    gens = splitmix64_words(params.seed, n)
    x = [0] * n
    shift = config.fa + params.k
    lo, hi = -(1 << config.fx), (1 << config.fx) - 1
    ylo, yhi = -(1 << config.fy), (1 << config.fy) - 1
    d = config.x_bits - config.out_bits
    sum_y = [0] * n
    sum_yy = {}
    saturations = 0
    taken = 0
    t = 0
    while taken < params.samples:
        t += 1
        new = []
        for i in range(n):
            acc = sum(a[i][j] * x[j] for j in range(n))
            word = xorshift128(gens[i])
            g = sum((word >> (8 * k)) & 0xFF for k in range(4)) - 510
            fine = (b[i] << params.b_shift) - acc + ((params.sigma_q * g) << params.sigma_shift)
            if rounding == "nearest":
                inc = (fine + (1 << (shift - 1))) >> shift
            else:
                inc = fine >> shift
            v = x[i] + inc
            if v > hi or v < lo:
                saturations += 1
                v = min(max(v, lo), hi)
            new.append(v)
        x = new
        if t > params.burn_in and (t - params.burn_in) % params.thin == 0:
            taken += 1
            y = [min(max((v + (1 << (d - 1))) >> d, ylo), yhi) if d else v for v in x]
            for i in range(n):
                sum_y[i] += y[i]
                if params.moments:
                    for j in range(i, n):
                        sum_yy[(i, j)] = sum_yy.get((i, j), 0) + y[i] * y[j]
    return sum_y, sum_yy, saturations, x
