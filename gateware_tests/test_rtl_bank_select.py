"""registered_bank_select: words[index] exactly one cycle later, for every bank count the
cores build (one bank, one group, several groups), with a new index every cycle."""

import random

import pytest
from amaranth.hdl import Module, Signal, signed

from thermospu.rtl.gateware.bank_select import BANK_GROUP, registered_bank_select

from rtl_helpers import simulate


@pytest.mark.parametrize("count", [1, 2, BANK_GROUP, 4 * BANK_GROUP])
def test_selects_the_indexed_word_one_cycle_later(count):
    m = Module()
    words = [Signal(signed(12), name=f"word{k}") for k in range(count)]
    index = Signal(max(1, (count - 1).bit_length()))
    selected = registered_bank_select(m, words, index, "test")
    rng = random.Random(count)
    seen, expected = [], []

    async def tb(ctx):
        for _ in range(64):
            values = [rng.randrange(-2048, 2048) for _ in range(count)]
            pick = rng.randrange(count)
            for word, value in zip(words, values):
                ctx.set(word, value)
            ctx.set(index, pick)
            await ctx.tick()
            # After the clock edge: the word registered at it, whatever the inputs are now.
            for word in words:
                ctx.set(word, 0)
            ctx.set(index, rng.randrange(count))
            seen.append(ctx.get(selected))
            expected.append(values[pick])

    simulate(m, tb)
    assert seen == expected


def test_refuses_a_bank_count_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        registered_bank_select(Module(), [Signal(4) for _ in range(3)], Signal(2), "bad")
