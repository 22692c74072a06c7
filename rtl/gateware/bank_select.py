"""A word out of many block RAM banks in two levels: within groups of neighbouring banks, then
among the groups a cycle later.

The host reads one word of P (or M) banks. Selected in one cycle, that is the bank's block RAM
clock-to-out, a P-input multiplexer spread over the banks and whatever follows: on the ECP5 with
P = 32 the path that limited the clock (18.9 ns, docs/boards.md). :func:`group_words` is the
first level, each group of :data:`BANK_GROUP` banks' word next to its block RAMs; the
:class:`~.read_path.ReadPath` registers the group words and selects among them
(:func:`group_index`) in its next stage. With at most :data:`BANK_GROUP` banks there is one
group and no second level.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

__all__ = ["BANK_GROUP", "bank_groups", "group_words", "group_index"]

#: Banks per first-level group: an 8-input multiplexer is two LUT levels on the ECP5 and iCE40.
BANK_GROUP = 8


def bank_groups(banks: int) -> int:
    """First-level groups of ``banks`` banks (a power of two)."""
    if banks < 1 or banks & (banks - 1):
        raise ValueError(f"bank count must be a power of two, got {banks}")
    return max(1, banks // BANK_GROUP)


def group_words(m: Module, words: list[Value], bank: Value, name: str) -> list[Value]:
    """The first level: for each group of :data:`BANK_GROUP` neighbouring banks, the word of the
    bank within the group that ``bank``'s low bits name (combinational, in ``m``).

    Parameters
    ----------
    words : list of Value
        The banks' words, all of one shape; ``len(words)`` a power of two.
    bank : Value
        The bank to read (unsigned, at least ``log2(len(words))`` bits).
    name : str
        Prefix of the group words' names.
    """
    groups = bank_groups(len(words))
    shape = Value.cast(words[0]).shape()
    low_bits = min(len(words), BANK_GROUP).bit_length() - 1
    selected = []
    for g in range(groups):
        word = Signal(shape, name=f"{name}_group{g}")
        members = words[g * BANK_GROUP:(g + 1) * BANK_GROUP]
        if low_bits == 0:
            m.d.comb += word.eq(members[0])
        else:
            with m.Switch(bank[:low_bits]):
                for k, member in enumerate(members):
                    with m.Case(k):
                        m.d.comb += word.eq(member)
        selected.append(word)
    return selected


def group_index(bank: Value, banks: int) -> Value:
    """The group of bank number ``bank`` among ``banks`` banks (0 when there is one group)."""
    groups = bank_groups(banks)
    if groups == 1:
        return Value.cast(0)
    low_bits = BANK_GROUP.bit_length() - 1
    return bank[low_bits:low_bits + groups.bit_length() - 1]
