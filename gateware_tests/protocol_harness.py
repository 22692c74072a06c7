"""Drive ``StreamSPU`` (protocol engine + core) in the Amaranth simulator with byte chunks and
compare its answers with the emulated device's, which implements the same protocol in Python."""

from __future__ import annotations

from amaranth.sim import Simulator

from thermospu.rtl.spec.emulator import EmulatedDevice
from thermospu.rtl.spec import wire
from thermospu.rtl.gateware.protocol import StreamSPU

#: Idle timeout of the engine under test (cycles): short, so that truncated frames are cheap.
IDLE_TIMEOUT = 64



class EngineSession:
    """Feeds byte chunks to a simulated StreamSPU inside an Amaranth async testbench.

    Use from a testbench: ``frames = await session.exchange(ctx, data)`` sends ``data`` (one byte
    per cycle the engine is ready), runs until the engine has taken every byte and is hunting
    for the next frame again (a frame left incomplete is answered TRUNCATED after the idle
    timeout first), and returns the frames it sent back, decoded by the host's decoder (a frame
    failing the host's CRC check would count in ``decoder.rejected``).
    """

    def __init__(self, dut: StreamSPU):
        self.dut = dut
        self.decoder = wire.FrameDecoder()
        self.cycles = 0

    async def exchange(self, ctx, data: bytes, max_cycles: int = 200_000) -> list[wire.Frame]:
        rx, tx = self.dut.rx_bytes, self.dut.tx_bytes
        pending = bytearray(data)
        received = bytearray()
        ctx.set(tx.ready, 1)
        for _ in range(max_cycles):
            if pending:
                ctx.set(rx.valid, 1)
                ctx.set(rx.payload, pending[0])
            else:
                ctx.set(rx.valid, 0)
                if ctx.get(self.dut.hunting):
                    return self.decoder.feed(bytes(received))
            took = pending and ctx.get(rx.ready)
            if ctx.get(tx.valid):
                received.append(ctx.get(tx.payload))
            await ctx.tick()
            self.cycles += 1
            if took:
                del pending[0]
        raise AssertionError(f"the engine did not finish within {max_cycles} cycles "
                             f"({len(pending)} bytes not taken)")


class Oracle:
    """The emulated device fed the same chunks; its job thread is waited for after each chunk,
    so that its answers do not depend on timing."""

    def __init__(self, config, max_request_payload):
        self.device = EmulatedDevice(config, max_chains=1, max_request_payload=max_request_payload)
        self.decoder = wire.FrameDecoder()

    def exchange(self, data: bytes) -> list[wire.Frame]:
        self.device.receive(data)
        if self.device.mid_frame:
            self.device.line_idle()
        self.device.wait_for_job()
        return self.decoder.feed(self.device.take_output())

    def close(self):
        self.device.close()


def simulate(dut: StreamSPU, testbench) -> None:
    """Run ``testbench(ctx)`` against ``dut`` with a clock (the period is arbitrary)."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def make_dut(config, max_request_payload=64) -> StreamSPU:
    return StreamSPU(config, board="amaranth-sim", max_request_payload=max_request_payload,
                     idle_timeout=IDLE_TIMEOUT)
