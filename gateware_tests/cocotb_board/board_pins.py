"""cocotb tests of :class:`~thermospu.boards.top.SPUBoardTop` at its UART pins.

Everything goes through the pins with real bit timing: a line driver puts 8N1 characters (or
deliberately broken ones) on ``uart_rx`` one bit per ``DIVISOR`` clock cycles, and a line monitor
decodes ``uart_tx`` the way a host UART would, checking every stop bit. Frames are built and
parsed with the host's own code (:mod:`thermospu.rtl.spec.wire`).

Environment (set by gateware_tests/test_board_pins.py):

``BOARD_DIVISOR``   clock cycles per bit of the design under test
``BOARD_CLOCK_HZ``  its clock (to check what INFO reports)
``BOARD_NAME``      the board name it reports
``BOARD_PTY_FILE``  (pty bridge test only) where to write the pseudo-terminal's path
``BOARD_DONE_FILE`` (pty bridge test only) appears when the host is finished
"""

import os
import pty
import time
import tty

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from thermospu.rtl.spec import wire
from thermospu.rtl.spec.wire import Command, Status

DIVISOR = int(os.environ.get("BOARD_DIVISOR", "8"))
#: Whole picoseconds (the simulator precision), even as cocotb's Clock needs; only the cycle
#: counts matter to the design.
CLOCK_PERIOD_PS = 2 * round(1e12 / float(os.environ.get("BOARD_CLOCK_HZ", "24e6")) / 2)


def char_levels(byte: int) -> list[int]:
    """Line levels of one 8N1 character, start bit first."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


class LineDriver:
    """Drives ``uart_rx`` like a host UART; ``send`` queues characters back to back."""

    def __init__(self, dut):
        self.dut = dut
        dut.uart_rx.value = 1

    async def levels(self, levels, cycles_per_level=DIVISOR):
        for level in levels:
            self.dut.uart_rx.value = level
            await ClockCycles(self.dut.clk, cycles_per_level)

    async def send(self, data: bytes):
        for byte in data:
            await self.levels(char_levels(byte))

    async def send_break(self, bit_times=25):
        await self.levels([0] * bit_times + [1] * 2)


class LineMonitor:
    """Decodes ``uart_tx`` as a host UART does (mid-bit sampling) into ``received``; a low stop
    bit fails the test. ``frames`` returns the response frames parsed so far."""

    def __init__(self, dut):
        self.dut = dut
        self.received = bytearray()
        self.decoder = wire.FrameDecoder()
        self._frames = []
        cocotb.start_soon(self._run())

    async def _run(self):
        dut = self.dut
        while True:
            await FallingEdge(dut.uart_tx)
            await ClockCycles(dut.clk, DIVISOR // 2)
            assert int(dut.uart_tx.value) == 0, "start bit shorter than half a bit"
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, DIVISOR)
                byte |= int(dut.uart_tx.value) << i
            await ClockCycles(dut.clk, DIVISOR)
            assert int(dut.uart_tx.value) == 1, f"framing error on uart_tx after byte {byte:#04x}"
            self.received.append(byte)
            self._frames += self.decoder.feed(bytes([byte]))

    async def wait_frames(self, count: int, timeout_chars: int = 2000):
        for _ in range(timeout_chars):
            if len(self._frames) >= count:
                break
            await ClockCycles(self.dut.clk, 10 * DIVISOR)
        assert len(self._frames) >= count, \
            f"{len(self._frames)} response frames after {timeout_chars} character times, " \
            f"expected {count}; raw bytes {bytes(self.received).hex()}"
        return self._frames[:count]


async def start(dut):
    Clock(dut.clk, CLOCK_PERIOD_PS, unit="ps").start()
    line = LineDriver(dut)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    return line, LineMonitor(dut)


def info_request(seq: int) -> bytes:
    return wire.encode_frame(Command.INFO, seq)


def check_info(frame, seq: int):
    assert frame.code == Command.INFO | wire.RESPONSE_FLAG and frame.seq == seq, frame
    assert frame.status == Status.OK, f"INFO answered {Status(frame.status).name}"
    info = wire.decode_info(frame.payload[1:])
    assert info.board == os.environ.get("BOARD_NAME", info.board)
    assert info.clock_hz == round(float(os.environ["BOARD_CLOCK_HZ"])), info
    return info


@cocotb.test()
async def answers_info_after_garbage(dut):
    """Bytes that are not a frame are skipped silently; a SYNC followed by a wrong version byte
    is answered BAD_VERSION (and lights the error LED); the frame sent right behind it, while
    that answer is going out, is answered too."""
    line, monitor = await start(dut)
    assert int(dut.led_idle.value) == 1 and int(dut.led_error.value) == 0
    garbage = bytes(b for b in range(0, 256, 7) if b != wire.SYNC)
    await line.send(garbage)
    await ClockCycles(dut.clk, 10 * DIVISOR)
    assert int(dut.led_error.value) == 0, "bytes outside frames must not light the error LED"
    assert not monitor.received, "the device answered bytes that were not a frame"
    await line.send(bytes([wire.SYNC, wire.PROTOCOL_VERSION + 1, 0x01, 0x00, 0x00, 0x00]))
    await line.send(info_request(seq=0x31))
    bad_version, info = await monitor.wait_frames(2)
    assert bad_version.status == Status.BAD_VERSION, bad_version
    check_info(info, 0x31)
    assert int(dut.led_error.value) == 1, "the BAD_VERSION answer must light the error LED"


@cocotb.test()
async def back_to_back_frames(dut):
    """Frames with no idle time between them (one stop bit) are each answered, in order."""
    line, monitor = await start(dut)
    requests = b"".join(info_request(seq) for seq in (1, 2, 3))
    requests += wire.encode_frame(Command.STATUS, 4)
    await line.send(requests)
    frames = await monitor.wait_frames(4)
    for seq, frame in zip((1, 2, 3), frames):
        check_info(frame, seq)
    status = frames[3]
    assert status.seq == 4 and status.status == Status.OK, status
    assert wire.decode_status(status.payload[1:]).state == wire.JobState.IDLE


@cocotb.test()
async def framing_error_lights_error_and_frame_after_is_answered(dut):
    """A character with a low stop bit is dropped and lights the error LED; the line
    recovers at the next start bit."""
    line, monitor = await start(dut)
    await line.levels(char_levels(0x3C)[:-1] + [0, 0, 1, 1])     # stop bit low
    await ClockCycles(dut.clk, 2)
    assert int(dut.led_error.value) == 1, "framing error did not light the error LED"
    await line.send(info_request(seq=9))
    (frame,) = await monitor.wait_frames(1)
    check_info(frame, 9)


@cocotb.test()
async def break_abandons_half_frame_and_clears_error(dut):
    """A break in the middle of a frame resets the engine: the half frame is forgotten (no
    TRUNCATED or BAD_CRC answer for it), the error LED is cleared, the next frame is answered."""
    line, monitor = await start(dut)
    await line.levels(char_levels(0x5A)[:-1] + [0, 1])             # framing error: LED on
    half = info_request(seq=5)[:4]
    await line.send(half)
    await line.send_break()
    await ClockCycles(dut.clk, 4)
    assert int(dut.led_error.value) == 0, "break did not clear the error LED"
    await line.send(info_request(seq=6))
    (frame,) = await monitor.wait_frames(1)
    check_info(frame, 6)
    assert monitor.decoder.rejected == 0


@cocotb.test(skip="BOARD_PTY_FILE" not in os.environ)
async def pty_bridge(dut):
    """Bridges a pseudo-terminal to the UART pins until BOARD_DONE_FILE appears: the host
    (the driver's ``serial:`` transport, in the pytest process) writes requests to the
    pseudo-terminal; each byte goes onto ``uart_rx`` with real bit timing, and every character
    decoded from ``uart_tx`` is written back to it."""
    line, monitor = await start(dut)
    master, slave = pty.openpty()
    tty.setraw(slave)                       # no echo, no line editing: a clean byte pipe
    os.set_blocking(master, False)
    with open(os.environ["BOARD_PTY_FILE"] + ".tmp", "w") as f:
        f.write(os.ttyname(slave))
    os.replace(os.environ["BOARD_PTY_FILE"] + ".tmp", os.environ["BOARD_PTY_FILE"])
    done_file = os.environ["BOARD_DONE_FILE"]
    sent_to_host = 0
    deadline = time.monotonic() + float(os.environ.get("BOARD_BRIDGE_TIMEOUT_S", "600"))
    while not os.path.exists(done_file):
        assert time.monotonic() < deadline, "host did not finish before the bridge timeout"
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            data = b""
        if data:
            await line.send(data)
        else:
            await ClockCycles(dut.clk, 10 * DIVISOR)
        if len(monitor.received) > sent_to_host:
            os.write(master, bytes(monitor.received[sent_to_host:]))
            sent_to_host = len(monitor.received)
    os.close(master)
    os.close(slave)
