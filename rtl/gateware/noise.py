"""Per-cell noise: one xorshift128 step and the spec's Gaussian approximation (combinational)."""

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import G_MAX

__all__ = ["NoiseStep", "GAUSSIAN_BITS", "gaussian_of"]

#: Signed width of g in [-510, 510].
GAUSSIAN_BITS = G_MAX.bit_length() + 1


def gaussian_of(word):
    """The spec's Gaussian approximation of a generator output ``word`` (a 32-bit value):
    the sum of its four bytes minus 510, an integer in [-510, 510] (an Amaranth expression)."""
    return word[0:8] + word[8:16] + word[16:24] + word[24:32] - G_MAX


class NoiseStep(wiring.Component):
    """One step of a cell's xorshift128 generator (Marsaglia 2003) and the spec's Gaussian
    approximation of its output, exactly as :class:`~thermospu.rtl.spec.golden.XorShift128Bank` and
    :func:`~thermospu.rtl.spec.golden.gaussian_from_words`. Purely combinational; one ``NoiseStep``
    serves all cells in turn.

    A generator's state (x, y, z, w) is a queue of four 32-bit words: a step computes
    ``w' = w ^ (w >> 19) ^ t ^ (t >> 8)`` with ``t = x ^ (x << 11)`` and the state becomes
    (y, z, w, w'). Only the oldest word x and the newest word w are read, and w' replaces x, so
    the core keeps each cell's state as four words in a ring whose head moves one place per step
    for all cells at once (``docs/gateware.md``, "Generator state").

    Members
    -------
    x : In(32)
        The oldest word of the state.
    w : In(32)
        The newest word of the state.
    word : Out(32)
        The new word w' (the step's output; it replaces x).
    gaussian : Out(signed(11))
        g = byte0 + byte1 + byte2 + byte3 of w' minus 510: integer in [-510, 510], variance 21845.
    """

    x: In(32)
    w: In(32)
    word: Out(32)
    gaussian: Out(signed(GAUSSIAN_BITS))

    def elaborate(self, platform):
        m = Module()
        t = (self.x ^ (self.x << 11))[:32]
        new_w = (self.w ^ (self.w >> 19) ^ t ^ (t >> 8))[:32]
        m.d.comb += [
            self.word.eq(new_w),
            self.gaussian.eq(gaussian_of(new_w)),
        ]
        return m
