"""SPUCore's host bus: info words, job registers, memories, error flags (Amaranth simulator)."""

import pytest

from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.gateware.core import CoreBuildError, SPUCore

from rtl_helpers import (bus_read, bus_write, read_reg, simulate, to_signed64, wait_done,
                         write_reg)
from unused_warnings import no_unused_elaboratable_warning

CONFIG = SPUConfig(n=6, lanes=2, a_bits=8, b_bits=10, x_bits=12, out_bits=8, sigma_bits=6,
                   max_samples_log2=10)


def test_refuses_lanes_not_power_of_two():
    with pytest.raises(CoreBuildError, match="power of two"):
        SPUCore(SPUConfig(n=6, lanes=3))


def test_refuses_bad_moment_lanes():
    with pytest.raises(CoreBuildError, match="moment_lanes"):
        SPUCore(SPUConfig(n=8, lanes=4), moment_lanes=8)
    with pytest.raises(CoreBuildError, match="moment_lanes"):
        SPUCore(SPUConfig(n=8, lanes=4), moment_lanes=3)


def test_refuses_non_config():
    with pytest.raises(TypeError, match="SPUConfig"):
        SPUCore({"n": 4})


def test_refused_core_warns_nothing():
    # A refused construction must leave no Elaboratable behind to warn "created but never used"
    # when it is collected (the check runs in SPUCore.__new__, before Amaranth makes the object).
    with no_unused_elaboratable_warning():
        for config, moment_lanes in [({"n": 4}, None), (SPUConfig(n=6, lanes=3), None),
                                     (SPUConfig(n=8, lanes=4), 3)]:
            with pytest.raises((TypeError, ValueError)):
                SPUCore(config, moment_lanes)


def test_info_registers_rebuild_config():
    core = SPUCore(CONFIG)

    async def tb(ctx):
        info = {reg: await read_reg(ctx, core.bus, reg)
                for reg in [rm.REG_ID, rm.REG_VERSION, *rm.INFO_REGISTERS]}
        assert info[rm.REG_VERSION] == rm.GATEWARE_VERSION
        assert rm.config_from_info(info) == CONFIG

    simulate(core, tb)


def test_memories_and_registers_read_back_and_errors():
    core = SPUCore(CONFIG)
    bus = core.bus

    async def tb(ctx):
        await bus_write(ctx, bus, rm.a_address(5, 4, CONFIG.n), -128)
        await bus_write(ctx, bus, rm.a_address(2, 3, CONFIG.n), 127)
        await bus_write(ctx, bus, rm.b_address(5), -512)
        await bus_write(ctx, bus, rm.seed_address(4, 2), 0xDEADBEEF)
        await write_reg(ctx, bus, rm.REG_K, 7)
        assert to_signed64(await bus_read(ctx, bus, rm.a_address(5, 4, CONFIG.n))) == -128
        assert to_signed64(await bus_read(ctx, bus, rm.a_address(2, 3, CONFIG.n))) == 127
        assert to_signed64(await bus_read(ctx, bus, rm.b_address(5))) == -512
        assert await bus_read(ctx, bus, rm.seed_address(4, 2)) == 0xDEADBEEF
        assert await bus_read(ctx, bus, rm.seed_address(4, 1)) == 0
        assert await read_reg(ctx, bus, rm.REG_K) == 7
        assert await read_reg(ctx, bus, rm.REG_STATUS) == 0
        # Out-of-range values are refused and flagged; the old value stays.
        await bus_write(ctx, bus, rm.a_address(5, 4, CONFIG.n), 128)
        await write_reg(ctx, bus, rm.REG_K, 25)
        await write_reg(ctx, bus, rm.REG_N_ACTIVE, 0)
        assert to_signed64(await bus_read(ctx, bus, rm.a_address(5, 4, CONFIG.n))) == -128
        assert await read_reg(ctx, bus, rm.REG_K) == 7
        assert await read_reg(ctx, bus, rm.REG_N_ACTIVE) == CONFIG.n
        status = await read_reg(ctx, bus, rm.REG_STATUS)
        assert status == rm.STATUS_ERROR | rm.STATUS_BAD_VALUE, rm.decode_status(status)
        # Unmapped addresses: reads give 0 and flag, clear resets the flags.
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_CLEAR)
        assert await bus_read(ctx, bus, rm.address(rm.REGION_A, (6 << 3) | 0)) == 0
        assert await bus_read(ctx, bus, rm.address(0x7F, 0)) == 0
        await bus_write(ctx, bus, rm.address(rm.REGION_REGS, rm.REG_STATUS), 1)
        status = await read_reg(ctx, bus, rm.REG_STATUS)
        assert status == rm.STATUS_ERROR | rm.STATUS_BAD_ADDRESS, rm.decode_status(status)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_CLEAR)
        assert await read_reg(ctx, bus, rm.REG_STATUS) == 0

    simulate(core, tb)


def test_a_job_register_written_just_before_start_is_the_jobs():
    """Back-to-back host writes: a job register written in the cycle before START is the job's,
    STATUS is busy right after START, and an ABORT written in the cycle after START stops that
    job (it does not overtake it)."""
    core = SPUCore(CONFIG)
    bus = core.bus
    seen = {}

    async def tb(ctx):
        await write_reg(ctx, bus, rm.REG_BURN_IN, 0)
        for samples in (2, 5):
            await write_reg(ctx, bus, rm.REG_SAMPLES, samples)
            await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_START)
            seen[f"busy after start {samples}"] = await read_reg(ctx, bus, rm.REG_STATUS)
            await wait_done(ctx, core, 100_000)
            seen[samples] = (await read_reg(ctx, bus, rm.REG_COUNT),
                             await read_reg(ctx, bus, rm.REG_STATUS))
        await write_reg(ctx, bus, rm.REG_SAMPLES, 1000)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_START)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_ABORT)
        await wait_done(ctx, core, 100_000)
        seen["aborted"] = (await read_reg(ctx, bus, rm.REG_COUNT),
                           await read_reg(ctx, bus, rm.REG_STATUS))

    simulate(core, tb)
    for samples in (2, 5):
        assert seen[f"busy after start {samples}"] & rm.STATUS_BUSY
        assert seen[samples] == (samples, rm.STATUS_DONE), rm.decode_status(seen[samples][1])
    count, status = seen["aborted"]
    assert status == rm.STATUS_DONE | rm.STATUS_ABORTED, rm.decode_status(status)
    assert count < 1000
