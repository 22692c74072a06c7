"""The ``"serial:PORT"`` transport: an SPU board's UART through pyserial."""

from __future__ import annotations

from .links import SerialLink
from .protocol import FramedBackend

__all__ = ["SerialBackend", "DEFAULT_BAUD"]

#: The boards' default UART rate (boards/icebreaker.py, boards/ulx3s.py).
DEFAULT_BAUD = 3_000_000


class SerialBackend(FramedBackend):
    """A board on a serial port; its configuration comes from its INFO answer.

    Parameters
    ----------
    port : str
        ``/dev/ttyUSB1``, ``COM3`` or any pyserial URL.
    baud : int
        Must match the gateware's UART.
    timeout, retries, deadline
        As :class:`FramedBackend`; the default deadline counts 10 bits per byte at ``baud``
        and the clock the board reports in INFO.
    """

    def __init__(self, port: str, *, name: str | None = None, baud: int = DEFAULT_BAUD,
                 timeout: float = 1.0, retries: int = 3, deadline: float | None = None):
        self.seconds_per_byte = 10 / baud
        super().__init__(SerialLink(port, baud), name or f"serial:{port}",
                         f"SPU board on {port} at {baud} baud", timeout=timeout, retries=retries,
                         deadline=deadline)
        self.description = (f"SPU board '{self.device_info.board}' on {port} at {baud} baud, "
                            f"N={self.config.n}")
