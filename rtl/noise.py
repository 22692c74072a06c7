"""Per-cell noise: one xorshift128 step and the spec's Gaussian approximation (combinational)."""


from amaranth.hdl import Cat, Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import G_MAX

__all__ = ["NoiseStep", "GAUSSIAN_BITS"]

#: Signed width of g in [-510, 510].
GAUSSIAN_BITS = G_MAX.bit_length() + 1


class NoiseStep(wiring.Component):
    """Advance one cell's xorshift128 generator (Marsaglia 2003) by one step and map the new word
    to the spec's Gaussian approximation, exactly as :class:`~thermospu.rtl.golden.XorShift128Bank`
    and :func:`~thermospu.rtl.golden.gaussian_from_words` do. Purely combinational; the state
    lives in the core's generator memory (128 bits per cell), so one ``NoiseStep`` serves all cells.

    Members
    -------
    state : In(128)
        Current generator state, words x, y, z, w at bits [0:32], [32:64], [64:96], [96:128]
        (the layout of the seeds region: word k of cell i at host offset 4*i + k).
    next_state : Out(128)
        State after one step: (y, z, w, w') with w' = w ^ (w >> 19) ^ t ^ (t >> 8),
        t = x ^ (x << 11) (32-bit words).
    word : Out(32)
        The step's output w'.
    gaussian : Out(signed(11))
        g = byte0 + byte1 + byte2 + byte3 of w' minus 510: integer in [-510, 510], variance 21845.
    """

    state: In(128)
    next_state: Out(128)
    word: Out(32)
    gaussian: Out(signed(GAUSSIAN_BITS))

    def elaborate(self, platform):
        m = Module()
        x, y, z, w = (self.state[32 * k:32 * (k + 1)] for k in range(4))
        t = (x ^ (x << 11))[:32]
        new_w = (w ^ (w >> 19) ^ t ^ (t >> 8))[:32]
        m.d.comb += [
            self.word.eq(new_w),
            self.next_state.eq(Cat(y, z, w, new_w)),
            self.gaussian.eq(new_w[0:8] + new_w[8:16] + new_w[16:24] + new_w[24:32] - G_MAX),
        ]
        return m
