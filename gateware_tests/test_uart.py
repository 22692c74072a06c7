"""UART receiver and transmitter against a bit-level line model (Amaranth simulator).

The line model drives and samples the pin one clock at a time, so bit timing (including a baud
rate mismatch between the two ends) is exact to the cycle.
"""

import random

import pytest
from amaranth import Module
from amaranth.sim import Simulator

from thermospu.boards.uart import (MAX_BAUD_ERROR, UARTReceiver, UARTTransmitter, divisor_for)

DIVISOR = 8


def line_bits(byte, stop_bits=1):
    """Levels of one 8N1 character, start bit first."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1] * stop_bits


async def drive_levels(ctx, pin, levels, cycles_per_bit):
    """Hold each level for ``cycles_per_bit`` clocks (a float gives a mismatched baud rate: the
    edges fall at round(i * cycles_per_bit))."""
    elapsed = 0
    for i, level in enumerate(levels):
        ctx.set(pin, level)
        end = round((i + 1) * cycles_per_bit)
        await ctx.tick().repeat(end - elapsed)
        elapsed = end


def run_receiver(stimulus, divisor=DIVISOR, always_ready=True, tail_cycles=None):
    """Simulate a receiver driven by ``stimulus(ctx, rx)``; returns (bytes, events) where
    events counts the framing_error / break_detected / overrun strobes."""
    dut = UARTReceiver(divisor)
    received, events = [], {"framing_error": 0, "break_detected": 0, "overrun": 0}
    done = []

    async def line(ctx):
        await stimulus(ctx, dut.rx)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(tail_cycles or 4 * divisor)
        done.append(True)

    async def monitor(ctx):
        ctx.set(dut.stream.ready, 1 if always_ready else 0)
        async for clk_edge, rst, valid, payload, fe, brk, ovr in ctx.tick().sample(
                dut.stream.valid, dut.stream.payload, dut.framing_error, dut.break_detected,
                dut.overrun):
            if valid and always_ready:
                received.append(payload)
            events["framing_error"] += fe
            events["break_detected"] += brk
            events["overrun"] += ovr
            if done:
                if valid and not always_ready:
                    received.append(payload)
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_testbench(monitor)
    sim.run()
    return received, events


@pytest.mark.parametrize("cycles_per_bit", [DIVISOR, DIVISOR * (1 - MAX_BAUD_ERROR),
                                            DIVISOR * (1 + MAX_BAUD_ERROR)])
def test_receiver_takes_back_to_back_bytes_with_baud_mismatch(cycles_per_bit):
    rng = random.Random(1)
    data = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80] + [rng.randrange(256) for _ in range(20)]

    async def stimulus(ctx, rx):
        await drive_levels(ctx, rx, [1, 1], DIVISOR)
        await drive_levels(ctx, rx, [lvl for b in data for lvl in line_bits(b)], cycles_per_bit)

    received, events = run_receiver(stimulus)
    assert received == data
    assert events == {"framing_error": 0, "break_detected": 0, "overrun": 0}


def test_receiver_drops_character_with_low_stop_bit_and_recovers():
    async def stimulus(ctx, rx):
        await drive_levels(ctx, rx, [1] + line_bits(0x41), DIVISOR)
        # 0x5A with its stop bit low, then the line stays low for 3 more bits before idling.
        await drive_levels(ctx, rx, line_bits(0x5A)[:-1] + [0, 0, 0, 0, 1, 1], DIVISOR)
        await drive_levels(ctx, rx, line_bits(0x42), DIVISOR)

    received, events = run_receiver(stimulus)
    assert received == [0x41, 0x42]
    assert events == {"framing_error": 1, "break_detected": 0, "overrun": 0}


@pytest.mark.parametrize("break_bits", [10, 37])
def test_receiver_reports_one_break_then_resumes(break_bits):
    async def stimulus(ctx, rx):
        await drive_levels(ctx, rx, [1] + line_bits(0x33), DIVISOR)
        await drive_levels(ctx, rx, [0] * break_bits + [1], DIVISOR)
        await drive_levels(ctx, rx, line_bits(0x00) + line_bits(0x34), DIVISOR)

    received, events = run_receiver(stimulus)
    assert received == [0x33, 0x00, 0x34]   # a 0x00 character is not a break: its stop bit is high
    assert events == {"framing_error": 0, "break_detected": 1, "overrun": 0}


def test_receiver_ignores_glitch_shorter_than_half_a_bit():
    async def stimulus(ctx, rx):
        await drive_levels(ctx, rx, [1, 0, 1, 1], DIVISOR // 4)    # a 2-cycle low pulse
        await drive_levels(ctx, rx, [1] + line_bits(0x96), DIVISOR)

    received, events = run_receiver(stimulus)
    assert received == [0x96]
    assert events == {"framing_error": 0, "break_detected": 0, "overrun": 0}


def test_receiver_keeps_first_byte_and_flags_overrun_when_not_read():
    async def stimulus(ctx, rx):
        await drive_levels(ctx, rx, [1] + line_bits(0x11) + line_bits(0x22), DIVISOR)

    received, events = run_receiver(stimulus, always_ready=False)
    assert received == [0x11]
    assert events["overrun"] == 1


def test_transmitter_bit_timing_back_to_back():
    """Every bit lasts exactly `divisor` cycles and consecutive characters are not spaced."""
    data = [0xA5, 0x00, 0xFF, 0x3C]
    dut = UARTTransmitter(DIVISOR)
    levels = []

    async def source(ctx):
        for byte in data:
            ctx.set(dut.stream.valid, 1)
            ctx.set(dut.stream.payload, byte)
            await ctx.tick().until(dut.stream.ready)
        ctx.set(dut.stream.valid, 0)

    async def line(ctx):
        # One sample per clock edge, from the first start bit on.
        async for _, _, tx in ctx.tick().sample(dut.tx):
            if levels or not tx:
                levels.append(tx)
            if len(levels) == (len(data) * 10 + 3) * DIVISOR:
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(line)
    sim.run()
    expected = [lvl for b in data for lvl in line_bits(b) for _ in range(DIVISOR)]
    assert levels[:len(expected)] == expected
    assert set(levels[len(expected):]) == {1}


def test_transmitter_into_receiver_loopback():
    rng = random.Random(7)
    data = [rng.randrange(256) for _ in range(64)]
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(5)
    m.submodules.rx = rx = UARTReceiver(5)
    m.d.comb += rx.rx.eq(tx.tx)
    received = []

    async def source(ctx):
        for byte in data:
            ctx.set(tx.stream.valid, 1)
            ctx.set(tx.stream.payload, byte)
            await ctx.tick().until(tx.stream.ready)
        ctx.set(tx.stream.valid, 0)

    async def sink(ctx):
        ctx.set(rx.stream.ready, 1)
        while len(received) < len(data):
            _, _, valid, payload = await ctx.tick().sample(rx.stream.valid, rx.stream.payload)
            if valid:
                received.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert received == data


def test_divisor_for_rejects_unreachable_rates():
    assert divisor_for(36e6, 3_000_000) == 12
    assert divisor_for(25e6, 1_000_000) == 25
    with pytest.raises(ValueError, match="at least"):
        divisor_for(12e6, 6_000_000)
    with pytest.raises(ValueError, match="not reachable"):
        divisor_for(10e6, 1_800_000)      # 5.56 cycles per bit: 6 gives 1.67 Mbaud, 7 % off
