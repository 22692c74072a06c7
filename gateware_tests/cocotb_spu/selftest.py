"""cocotb module of gateware_tests/test_simulate.py: checks of the simulation flow itself on a
tiny design (``RegisterReadMux`` there), not of the SPU."""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge


@cocotb.test()
async def mux_defined_from_time_zero(dut):
    """The combinational read mux is defined although its select never changes (Icarus needs
    the time-zero trigger of rtl/sim/runner.py for this)."""
    Clock(dut.clk, 10, unit="ns").start()
    await FallingEdge(dut.clk)
    assert dut.data.value.is_resolvable, f"data is {dut.data.value}"
    assert int(dut.data.value) == 0xA5


@cocotb.test()
async def deliberately_failing(dut):
    """Fails on purpose: the flow must turn it into SimulationFailedError."""
    assert False, "this test fails on purpose"
