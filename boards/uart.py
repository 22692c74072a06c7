"""8N1 UART with ``amaranth.lib.stream`` byte interfaces (amaranth-stdio is not on PyPI).

Line format: idle high, one start bit (low), eight data bits LSB first, one stop bit (high), no
parity, no flow control. Both directions run from one integer clock divisor, the system clock
cycles per bit (:func:`divisor_for` chooses it and refuses a baud rate the clock cannot make
within :data:`MAX_BAUD_ERROR`). At 3 Mbaud the divisor is 12 on the iCEBreaker's default clock
(36 MHz) and 20 on the ULX3S's (60 MHz; 8 at 24 MHz); the smallest divisor accepted is 4 (the
receiver samples the middle of each bit, so it needs at least a half-bit of two cycles to find
it).

The receiver reports, as one-cycle strobes, the three ways a character can go wrong:

* **framing error** -- the stop bit sampled low while some data bit was high: the character is
  dropped and the receiver waits for the line to return high before looking for a new start bit,
  so it never mistakes the rest of a bad character for a start bit;
* **break** -- the line held low through a whole character time, start, data and stop bits all
  sampled low (the condition RS-232 calls a *break*, which hosts send on purpose, e.g. pyserial's
  ``send_break``); reported once per break, after which the receiver waits for the line to go high;
* **overrun** -- a good character arrived while the previous one was still waiting to be taken
  from the output stream: the newer character is dropped.
"""


from amaranth import Cat, Const, Module, Signal
from amaranth.lib import cdc, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MAX_BAUD_ERROR", "MIN_DIVISOR", "divisor_for", "UARTReceiver", "UARTTransmitter"]

#: Largest relative error allowed between the requested baud rate and clock / divisor. A receiver
#: sampling mid-bit tolerates about +-5 % over a ten-bit character in total for both ends; 2 % on
#: our side leaves the rest to the host's baud generator.
MAX_BAUD_ERROR = 0.02

#: Smallest clock cycles per bit: the receiver waits divisor // 2 cycles from the start edge to
#: the middle of the start bit and needs that to be at least two.
MIN_DIVISOR = 4


def divisor_for(clk_hz: float, baud: int) -> int:
    """Clock cycles per bit for ``baud`` at ``clk_hz``, rounded to the nearest integer.

    Raises
    ------
    ValueError
        If the divisor is below :data:`MIN_DIVISOR` or clk_hz / divisor misses ``baud`` by more
        than :data:`MAX_BAUD_ERROR`.
    """
    if baud <= 0 or clk_hz <= 0:
        raise ValueError(f"clock {clk_hz} Hz and baud rate {baud} must be positive")
    divisor = round(clk_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(
            f"{baud} baud needs {clk_hz / baud:.2f} clock cycles per bit at {clk_hz / 1e6:g} MHz; "
            f"the UART needs at least {MIN_DIVISOR}")
    error = abs(clk_hz / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(
            f"{baud} baud is not reachable from a {clk_hz / 1e6:g} MHz clock: the nearest divisor "
            f"{divisor} gives {clk_hz / divisor:.0f} baud ({error:.1%} off, limit "
            f"{MAX_BAUD_ERROR:.0%})")
    return divisor


def _check_divisor(divisor) -> None:
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be an int >= {MIN_DIVISOR} (clock cycles per bit), "
                         f"got {divisor!r}")


class UARTReceiver(wiring.Component):
    """Receives 8N1 characters from a pin and offers them as a byte stream.

    Parameters
    ----------
    divisor : int
        System clock cycles per bit (>= :data:`MIN_DIVISOR`); see :func:`divisor_for`.

    Members
    -------
    rx : In(1)
        The line, asynchronous to the clock (synchronised here); idle high.
    stream : Out(stream.Signature(8))
        Received bytes. One byte is buffered: ``valid`` stays high with a stable ``payload``
        until ``ready``; a byte completing meanwhile is dropped and flagged by ``overrun``.
    framing_error : Out(1)
        One-cycle strobe: a character's stop bit was low (character dropped).
    break_detected : Out(1)
        One-cycle strobe: the line was held low for a whole character (once per break).
    overrun : Out(1)
        One-cycle strobe: a good character was dropped because ``stream`` was still full.
    """

    rx: In(1, init=1)
    stream: Out(stream.Signature(8))
    framing_error: Out(1)
    break_detected: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.rx_synchronizer = cdc.FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(self.divisor))
        bits_left = Signal(range(9))
        shift = Signal(8)

        with m.If(self.stream.ready):
            m.d.sync += self.stream.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"       # a glitch shorter than half a bit: not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bits_left.eq(8)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1),
                                 shift.eq(Cat(shift[1:], rx)),
                                 bits_left.eq(bits_left - 1)]
                    with m.If(bits_left == 1):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(rx):
                        with m.If(self.stream.valid & ~self.stream.ready):
                            m.d.comb += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.stream.payload.eq(shift), self.stream.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Elif(shift == 0):
                        m.d.comb += self.break_detected.eq(1)
                        m.next = "WAIT_IDLE"
                    with m.Else():
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "WAIT_IDLE"
            with m.State("WAIT_IDLE"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """Sends the bytes of a stream as 8N1 characters on a pin.

    Parameters
    ----------
    divisor : int
        System clock cycles per bit (>= :data:`MIN_DIVISOR`); see :func:`divisor_for`.

    Members
    -------
    stream : In(stream.Signature(8))
        Bytes to send. ``ready`` is high while the line is idle and in the last cycle of a stop
        bit, so back-to-back bytes leave with exactly one stop bit between them.
    tx : Out(1)
        The line, driven from a register (glitch-free); idle high.
    busy : Out(1)
        High while a character is on the line.
    """

    stream: In(stream.Signature(8))
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits_left = Signal(range(11))           # start, eight data and stop bits
        shift = Signal(9)                       # data bits then the stop bit, LSB first

        bit_done = Signal()
        m.d.comb += [bit_done.eq(timer == 0), self.busy.eq(bits_left != 0)]
        with m.If(self.busy):
            m.d.sync += timer.eq(timer - 1)
            with m.If(bit_done):
                m.d.sync += [timer.eq(self.divisor - 1), self.tx.eq(shift[0]),
                             shift.eq(Cat(shift[1:], Const(1, 1))),
                             bits_left.eq(bits_left - 1)]

        m.d.comb += self.stream.ready.eq(~self.busy | ((bits_left == 1) & bit_done))
        with m.If(self.stream.valid & self.stream.ready):
            m.d.sync += [self.tx.eq(0), shift.eq(Cat(self.stream.payload, Const(1, 1))),
                         timer.eq(self.divisor - 1), bits_left.eq(10)]
        return m
