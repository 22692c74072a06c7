"""A word out of many block RAM banks in two levels with a register between them.

The host reads one word of P (or M) banks. Selected in one cycle, that is the bank's block RAM
clock-to-out, a P-input multiplexer spread over the banks and whatever follows: on the ECP5 with
P = 32 the path that limited the clock (18.9 ns, docs/boards.md). :func:`registered_bank_select`
selects within groups of :data:`BANK_GROUP` neighbouring banks, registers each group's word,
and selects the group a cycle later.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

__all__ = ["BANK_GROUP", "registered_bank_select"]

#: Banks per first-level group: an 8-input multiplexer is two LUT levels on the ECP5 and iCE40.
BANK_GROUP = 8


def registered_bank_select(m: Module, words: list[Value], index: Value, name: str) -> Value:
    """``words[index]`` one cycle later.

    Parameters
    ----------
    m : Module
        Gets the registers (``sync``) and the second level's multiplexer (``comb``).
    words : list of Value
        The banks' words in this cycle, all of one shape; ``len(words)`` a power of two.
    index : Value
        The bank to read, in this cycle (unsigned, at least ``log2(len(words))`` bits).
    name : str
        Prefix of the registers' names.

    Returns
    -------
    Value
        The word, valid in the next cycle (a combinational select of the group registers).
    """
    count = len(words)
    if count < 1 or count & (count - 1):
        raise ValueError(f"bank count must be a power of two, got {count}")
    shape = Value.cast(words[0]).shape()
    low_bits = min(count, BANK_GROUP).bit_length() - 1
    groups = []
    for g in range(0, count, BANK_GROUP):
        group = Signal(shape, name=f"{name}_group{g // BANK_GROUP}")
        if low_bits == 0:
            m.d.sync += group.eq(words[g])
        else:
            with m.Switch(index[:low_bits]):
                for k, word in enumerate(words[g:g + BANK_GROUP]):
                    with m.Case(k):
                        m.d.sync += group.eq(word)
        groups.append(group)
    if len(groups) == 1:
        return groups[0]
    group_index = Signal(len(groups).bit_length() - 1, name=f"{name}_group_index")
    m.d.sync += group_index.eq(index[low_bits:low_bits + len(group_index)])
    selected = Signal(shape, name=f"{name}_selected")
    with m.Switch(group_index):
        for g, group in enumerate(groups):
            with m.Case(g):
                m.d.comb += selected.eq(group)
    return selected
