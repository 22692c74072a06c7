"""bank_select: each group's word is the indexed bank's within the group, and group_index names
the group of the indexed bank, for every bank count the cores build (one bank, one group,
several groups)."""

import random

import pytest
from amaranth.hdl import Fragment, Module, Signal, signed

from thermospu.rtl.gateware.bank_select import BANK_GROUP, bank_groups, group_index, group_words

from rtl_helpers import simulate


@pytest.mark.parametrize("count", [1, 2, BANK_GROUP, 4 * BANK_GROUP])
def test_group_words_and_index_select_the_indexed_bank(count):
    m = Module()
    words = [Signal(signed(12), name=f"word{k}") for k in range(count)]
    bank = Signal(max(1, (count - 1).bit_length()))
    groups = group_words(m, words, bank, "test")
    index = Signal(4)
    m.d.comb += index.eq(group_index(bank, count))
    assert len(groups) == bank_groups(count) == max(1, count // BANK_GROUP)
    rng = random.Random(count)
    seen, expected = [], []

    async def tb(ctx):
        for _ in range(64):
            values = [rng.randrange(-2048, 2048) for _ in range(count)]
            pick = rng.randrange(count)
            for word, value in zip(words, values):
                ctx.set(word, value)
            ctx.set(bank, pick)
            got = [ctx.get(g) for g in groups]
            seen.append((ctx.get(index), got[ctx.get(index)]))
            expected.append((pick // BANK_GROUP, values[pick]))
            # Every group holds its own member at the bank's position within the group.
            low = pick % min(count, BANK_GROUP)
            assert got == [values[g * BANK_GROUP + low] for g in range(len(groups))]
            await ctx.delay(1e-6)

    simulate(m, tb, clock=False)
    assert seen == expected


def test_refuses_a_bank_count_that_is_not_a_power_of_two():
    m = Module()
    with pytest.raises(ValueError, match="power of two"):
        group_words(m, [Signal(4) for _ in range(3)], Signal(2), "bad")
    Fragment.get(m, None)
