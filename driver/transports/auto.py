"""The ``"auto"`` transport: an attached board if there is one, else the emulated SPU.

Order: the URI in ``THERMOSPU_DEVICE`` if set; else the first serial port whose USB VID:PID is
one of :data:`KNOWN_BOARDS`, which answers INFO and whose configuration meets the requested
SPUConfig fields; else ``model`` built from those fields. The choice is logged
(logger ``thermospu.driver``), at INFO level, with the reason.
"""

from __future__ import annotations

import logging
import os

from ..errors import ConfigError, TransportError

__all__ = ["KNOWN_BOARDS", "ENV_VAR", "open_auto", "candidate_ports"]

log = logging.getLogger("thermospu.driver")

#: Environment variable naming the device URI ``auto`` opens.
ENV_VAR = "THERMOSPU_DEVICE"

#: USB (VID, PID) of the supported boards' USB-UARTs -> board. The iCEBreaker's FT2232H exposes
#: two interfaces; the UART is the second (``/dev/ttyUSB1``), the first programs the flash.
KNOWN_BOARDS = {
    (0x0403, 0x6010): "icebreaker (FTDI FT2232H)",
    (0x0403, 0x6015): "ulx3s (FTDI FT231X)",
}


def candidate_ports() -> list[tuple[str, str]]:
    """(device path, board) of attached serial ports with a known VID:PID, UART interfaces
    first."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return []
    found = []
    for port in list_ports.comports():
        board = KNOWN_BOARDS.get((port.vid, port.pid))
        if board is None:
            continue
        # FT2232H interface A (location ending ".0") is the programmer; B is the UART.
        programmer = "ft2232h" in board.lower() and (port.location or "").endswith(".0")
        found.append((programmer, port.device, board))
    return [(device, board) for _, device, board in sorted(found)]


def open_auto(**options):
    """Open the device ``auto`` stands for (see the module docstring)."""
    from . import open_backend

    uri = os.environ.get(ENV_VAR, "").strip()
    if uri:
        if uri == "auto":
            raise TransportError(f"{ENV_VAR}=auto would open itself; name a device URI")
        log.info("auto: opening %s (from %s)", uri, ENV_VAR)
        return open_backend(uri, **options)
    for device, board in candidate_ports():
        try:
            backend = open_backend(f"serial:{device}", **options)
        except TransportError as e:
            log.warning("auto: %s looks like %s but did not answer INFO: %s", device, board, e)
            continue
        except ConfigError as e:
            log.warning("auto: the board on %s does not fit this run: %s", device, e)
            continue
        log.info("auto: using the board on %s (%s)", device, board)
        return backend
    model_options = {k: v for k, v in options.items() if k != "baud"}
    log.info("auto: no SPU board attached (known USB ids: %s); using the emulated SPU (model)",
             ", ".join(f"{v:04x}:{p:04x}" for v, p in KNOWN_BOARDS))
    return open_backend("model", **model_options)
