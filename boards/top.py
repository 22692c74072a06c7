"""The SPU on a board: the board-independent system and the one parametrised board top.

:class:`SPUBoardTop` is the system: UART pins <-> protocol engine <-> SPU core, status lights.
Having no platform in it, it is also exactly what the cocotb tests simulate at the UART pins
(gateware_tests/test_board*.py). :class:`BoardTop` puts it on any board described by a
:class:`~thermospu.boards.board.Board` record: the board's PLL makes the ``sync`` clock from its
oscillator, and the record's pin table says which pin each light drives.

Data path::

    uart_rx pin -> UARTReceiver -> 512-byte FIFO -> register -> StreamSPU.rx_bytes
                                   (StreamSPU: ProtocolEngine.bus <-> SPUCore.bus)
    uart_tx pin <- UARTTransmitter <- StreamSPU.tx_bytes

A line **break** (the host holding RX low for a character time or more, pyserial's
``send_break``) resets the protocol engine and the core, abandoning any frame half received and
any job running, and clears the error light: the host's way to resynchronise a wedged link
without a reset button. The memories keep their contents (as after the protocol's RESET).
"""

import functools
import math
import operator

from amaranth import Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from thermospu.rtl.spec.config import SPUConfig

from .board import Board
from .clocking import PLLS, connect_pins
from .uart import UARTReceiver, UARTTransmitter, divisor_for

__all__ = ["SPUBoardTop", "BoardTop", "board_top", "HEARTBEAT_HZ", "RX_FIFO_DEPTH",
           "heartbeat_bits"]

#: Blink rate of the busy light (Hz), slow enough to see; the light divides the clock by a power
#: of two, so the rate is within a factor sqrt(2) of this (:func:`heartbeat_bits`).
HEARTBEAT_HZ = 4


def heartbeat_bits(clock_hz: float) -> int:
    """Width of the free-running counter whose top bit blinks at about :data:`HEARTBEAT_HZ`:
    the light toggles every 2**(width - 1) cycles."""
    return max(2, round(math.log2(clock_hz / (2 * HEARTBEAT_HZ))) + 1)

#: Bytes buffered between the UART receiver and the protocol engine: one iCE40 block RAM
#: (512 x 8), as many as the engine's largest request payload. A host may have this many bytes
#: in flight beyond the request being answered without losing any (beyond that: overrun, the
#: error light, and the frame's CRC or the idle timeout reject it).
RX_FIFO_DEPTH = 512


class SPUBoardTop(wiring.Component):
    """UART, protocol engine and SPU core (a
    :class:`~thermospu.rtl.gateware.protocol.StreamSPU`) on one clock.

    Parameters
    ----------
    config : SPUConfig
        The machine built.
    clock_hz : float
        Frequency of the ``sync`` clock (Hz): sets the UART divisor, the busy light's blink rate
        and the clock the device reports in INFO.
    baud : int
        UART baud rate (8N1); must be reachable from ``clock_hz`` (:func:`divisor_for`).
    board : str
        Board name the device reports in INFO (ASCII).
    moment_lanes : int or None
        Second-moment lanes of the core (None: P; fewer save block RAM and logic, and a sampled
        step with moments on then takes ``max(thin * step_cycles, moment_pass_cycles)``).

    Members
    -------
    uart_rx : In(1)
        Serial data from the host, idle high (asynchronous; synchronised inside).
    uart_tx : Out(1)
        Serial data to the host, idle high.
    led_idle : Out(1)
        High while no job runs.
    led_busy : Out(1)
        Blinks at about :data:`HEARTBEAT_HZ` while a job runs.
    led_error : Out(1)
        Sticky: a framing error or overrun on the UART, or a protocol error the engine reported,
        since the last break.
    led_rx, led_tx : Out(1)
        High while a character is being received / sent (activity lights).
    """

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    led_idle: Out(1)
    led_busy: Out(1)
    led_error: Out(1)
    led_rx: Out(1)
    led_tx: Out(1)

    def __new__(cls, config: SPUConfig, clock_hz: float, baud: int, board: str,
                moment_lanes: int | None = None):
        # Refused before Amaranth makes the object, so no "created but never used" warning.
        if not isinstance(config, SPUConfig):
            raise TypeError(f"config must be an SPUConfig, got {config!r}")
        divisor_for(clock_hz, baud)      # ValueError when the baud rate is not reachable
        from thermospu.rtl.gateware.core import check_buildable
        check_buildable(config, moment_lanes)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, config: SPUConfig, clock_hz: float, baud: int, board: str,
                 moment_lanes: int | None = None):
        self.config = config
        self.moment_lanes = config.lanes if moment_lanes is None else moment_lanes
        self.clock_hz = clock_hz
        self.baud = baud
        self.board = board
        self.divisor = divisor_for(clock_hz, baud)
        self.rx_fifo_depth = RX_FIFO_DEPTH
        super().__init__()

    @property
    def cycles_per_step(self) -> int:
        """Clock cycles per Euler step at n_active = N, steady state (no sampling stalls: moments
        off, or thin long enough to hide the second-moment pass); see ``rtl.core.step_cycles``."""
        from thermospu.rtl.gateware.core import step_cycles
        return step_cycles(self.config, self.config.n)

    def elaborate(self, platform):
        from thermospu.rtl.gateware.protocol import StreamSPU

        m = Module()
        m.submodules.uart_rx = rx = UARTReceiver(self.divisor)
        m.submodules.uart_tx = tx = UARTTransmitter(self.divisor)
        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx)]

        # Registered: the reset reaches every flip-flop of the engine and the core, so the
        # receiver's decision logic must not lie in front of that net (on the iCE40 it was the
        # longest path, 35 ns, mostly routing).
        line_break = Signal()
        m.d.sync += line_break.eq(rx.break_detected)
        spu = StreamSPU(self.config, clock_hz=int(round(self.clock_hz)), board=self.board,
                        moment_lanes=self.moment_lanes)
        m.submodules.spu = ResetInserter(line_break)(spu)
        # The engine takes no request bytes while it answers; the FIFO holds what the host sends
        # meanwhile (a pipelining host, or a request right after garbage answered BAD_VERSION).
        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=self.rx_fifo_depth)
        wiring.connect(m, rx.stream, rx_fifo.w_stream)
        # A register after the FIFO: its block RAM's read data (slow out of an ECP5 DP16KD) meets
        # the engine's frame logic and CRC only one cycle later.
        fifo_out = rx_fifo.r_stream
        with m.If(~spu.rx_bytes.valid | spu.rx_bytes.ready):
            m.d.sync += [spu.rx_bytes.valid.eq(fifo_out.valid),
                         spu.rx_bytes.payload.eq(fifo_out.payload)]
        m.d.comb += fifo_out.ready.eq(~spu.rx_bytes.valid | spu.rx_bytes.ready)
        wiring.connect(m, spu.tx_bytes, tx.stream)

        # The error strobes registered first: on the iCE40 the engine's decision logic in front
        # of the light's enable was a 28 ns path (placement seed 1, 36 MHz build).
        error_seen = Signal()
        m.d.sync += error_seen.eq(rx.framing_error | rx.overrun | spu.protocol_error)
        with m.If(error_seen):
            m.d.sync += self.led_error.eq(1)
        with m.If(line_break):
            m.d.sync += self.led_error.eq(0)

        # A free-running counter whose top bit blinks: a reloaded counter would give its bits
        # different sync set/reset nets, which split its carry chain across tiles on iCE40.
        heartbeat = Signal(heartbeat_bits(self.clock_hz))
        blink = heartbeat[-1]
        m.d.sync += heartbeat.eq(heartbeat + 1)
        m.d.comb += [
            self.led_idle.eq(~spu.busy),
            self.led_busy.eq(spu.busy & blink),
            self.led_rx.eq(~rx.rx),
            self.led_tx.eq(tx.busy),
        ]
        return m


def board_top(board: Board, config: SPUConfig, clock_hz: float, baud: int,
              moment_lanes: int | None = None) -> "BoardTop":
    """The :class:`BoardTop` of ``board`` for SPU ``config`` (with ``moment_lanes``
    second-moment lanes, None: P). The PLL setting nearest
    ``clock_hz`` (Hz) and the UART divisor for ``baud`` are found first: a ValueError for either
    leaves no Amaranth object behind."""
    solver, _ = PLLS[board.pll]
    pll = solver(board.oscillator_hz, clock_hz)
    return BoardTop(board, pll, SPUBoardTop(config, pll.f_out, baud, board=board.name,
                                            moment_lanes=moment_lanes))


class BoardTop(Elaboratable):
    """The SPU system on a board (make it with :meth:`Board.top` or :func:`board_top`).

    Parameters
    ----------
    board : Board
        The board record: PLL family, oscillator, output pins, extra resources.
    pll : ICE40PLL or ECP5PLL
        The PLL setting (``clocking``), making ``system.clock_hz`` from the oscillator.
    system : SPUBoardTop
        The system it runs; its UART goes to the platform's ``uart`` 0, its lights to
        ``board.outputs``.

    Attributes
    ----------
    clock_hz : float
        The system clock the PLL makes (Hz).
    baud : int
        UART baud rate.
    config : SPUConfig
        The SPU built.
    """

    def __init__(self, board: Board, pll, system: SPUBoardTop):
        self.board = board
        self.pll = pll
        self.system = system
        self.clock_hz = pll.f_out
        self.baud = system.baud
        self.config = system.config

    @property
    def cycles_per_step(self) -> int:
        """Of the system: see :attr:`SPUBoardTop.cycles_per_step`."""
        return self.system.cycles_per_step

    def elaborate(self, platform):
        board = self.board
        m = Module()
        _, add_sync_domain = PLLS[board.pll]
        add_sync_domain(m, platform, self.pll, board.oscillator)
        m.submodules.system = system = self.system
        for resources in board.extra_resources:
            platform.add_resources(getattr(platform, resources))
        uart = platform.request("uart", 0, dir="-")
        # (pin, direction, system signal); active-low pins are inverted by their buffers.
        plan = [(uart.rx, "i", system.uart_rx), (uart.tx, "o", system.uart_tx)]
        for resource, number, driver in board.outputs:
            value = (driver if isinstance(driver, int)
                     else functools.reduce(operator.or_, (getattr(system, n) for n in driver)))
            plan.append((platform.request(resource, number, dir="-"), "o", value))
        connect_pins(m, plan)
        return m
