"""Copies of a register that synthesis keeps apart, one next to each group of its consumers.

A register broadcast to many lanes is one flip-flop per bit driving every lane's multiplier
across the die; on the ULX3S (P = 32) that routing was the critical path (docs/boards.md). A copy
per group of lanes shortens it, but Yosys's ``opt_merge`` merges flip-flops with the same data,
clock and enable into one, ``keep`` attributes on the registers notwithstanding. It merges only
Yosys's own cell types, so on an ECP5 (``platform.family == "ecp5"``) each bit of a copy is an
instance of Lattice's ``FD1S3AX`` flip-flop (power-up value 0, no reset; what Amaranth's own
ECP5 platform instantiates for its flip-flops), which survives. Elsewhere (simulation, the
Verilog the cocotb tests run, the iCE40) the copies are ordinary registers: there the iCE40's
P <= 8 lanes take one copy anyway.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Signal, Value

__all__ = ["replicated_register"]


def replicated_register(m: Module, platform, value: Value, copies: int,
                        name: str) -> list[Signal]:
    """``copies`` registers (``sync`` domain, no reset, power-up 0) that each hold ``value`` of
    the previous cycle.

    Parameters
    ----------
    m : Module
        Where the registers go.
    platform : Platform or None
        The elaborating platform; an ECP5 gets flip-flop instances (module docstring).
    value : Value
        The data, any shape; each copy has its shape.
    copies : int
        At least 1. One copy is named ``name``; several ``name0``, ``name1``, ...
    name : str
        The registers' name.
    """
    if copies < 1:
        raise ValueError(f"a register needs at least one copy, got {copies}")
    value = Value.cast(value)
    names = [name] if copies == 1 else [f"{name}{c}" for c in range(copies)]
    registers = [Signal(value.shape(), name=n, reset_less=True) for n in names]
    ecp5 = copies > 1 and getattr(platform, "family", None) == "ecp5"
    for c, register in enumerate(registers):
        if not ecp5:
            m.d.sync += register.eq(value)
            continue
        for bit in range(len(value)):
            m.submodules[f"{register.name}_ff{bit}"] = Instance(
                "FD1S3AX", p_GSR="DISABLED",
                i_CK=ClockSignal("sync"), i_D=value[bit], o_Q=register[bit])
    return registers
