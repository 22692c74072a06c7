"""BlockRAM: reads of the row being written are undefined (the complement of the old word in
simulation, so the bit-exact tests catch any use of them); every other read is exact; the
iCEBreaker's build tells Yosys the same (no read-first emulation), the ULX3S's keeps it."""

import pytest
from amaranth.hdl import Fragment, signed

from thermospu.boards.board import get_board
from thermospu.rtl.gateware.block_ram import UNDEFINED_COLLISIONS, BlockRAM

from rtl_helpers import simulate


def test_collision_reads_the_complement_of_the_old_word_and_other_reads_are_exact():
    ram = BlockRAM(shape=8, depth=16)
    wr, rd = ram.write_port(), ram.read_port()
    seen = {}

    async def write(ctx, addr, value, read_addr=None, read=True):
        ctx.set(wr.addr, addr)
        ctx.set(wr.data, value)
        ctx.set(wr.en, 1)
        if read_addr is not None:
            ctx.set(rd.addr, read_addr)
        ctx.set(rd.en, int(read))
        await ctx.tick()
        ctx.set(wr.en, 0)

    async def tb(ctx):
        await write(ctx, 3, 0x5A)
        await write(ctx, 3, 0x11, read_addr=3)          # reads row 3 while writing it
        seen["collision"] = ctx.get(rd.data)
        await ctx.tick()
        seen["after"] = ctx.get(rd.data)                 # the word written the cycle before
        await write(ctx, 4, 0x22, read_addr=3)          # another row written: exact
        seen["other row"] = ctx.get(rd.data)
        await write(ctx, 3, 0x33, read_addr=3)
        ctx.set(rd.en, 0)
        await ctx.tick()
        seen["held"] = ctx.get(rd.data)                  # disabled: the undefined word holds

    simulate(ram, tb)
    assert seen == {"collision": 0xA5, "after": 0x11, "other row": 0x11, "held": 0xEE}


def test_signed_words():
    ram = BlockRAM(shape=signed(6), depth=4)
    wr, rd = ram.write_port(), ram.read_port()
    seen = []

    async def tb(ctx):
        ctx.set(wr.addr, 1)
        ctx.set(wr.data, -5)
        ctx.set(wr.en, 1)
        ctx.set(rd.addr, 1)
        await ctx.tick()
        ctx.set(wr.en, 0)
        await ctx.tick()
        seen.append(ctx.get(rd.data))
        ctx.set(wr.data, 7)
        ctx.set(wr.en, 1)
        await ctx.tick()
        seen.append(ctx.get(rd.data))

    simulate(ram, tb)
    assert seen == [-5, ~-5]


def test_one_write_port():
    ram = BlockRAM(shape=8, depth=4)
    ram.write_port()
    with pytest.raises(ValueError, match="one write port"):
        ram.write_port()
    Fragment.get(ram, platform=None)     # still a working memory


def test_for_a_platform_the_read_data_is_the_memory_s():
    """Elaborated for hardware, no simulation model: the read ports are wired through."""
    ram = BlockRAM(shape=8, depth=4)
    ram.write_port()
    ram.read_port()
    fragment = Fragment.get(ram, platform=object())
    assert "sync" not in fragment.statements


def test_icebreaker_builds_have_no_read_first_emulation():
    record = get_board("icebreaker")
    script = record.toolchain_options(record.config)["script_after_read"]
    assert UNDEFINED_COLLISIONS in script.splitlines()


def test_ulx3s_builds_keep_the_emulation():
    """The ULX3S default routes with Yosys's read-first emulation and stalls without it
    (boards/ulx3s.py)."""
    record = get_board("ulx3s")
    assert UNDEFINED_COLLISIONS not in record.toolchain_options(record.config).get(
        "script_after_read", "")
