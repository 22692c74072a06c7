"""Typed errors of the host driver. Every one says what is wrong in its message."""

from __future__ import annotations

from thermospu.rtl.spec.config import ConfigError

__all__ = [
    "SPUError", "ConfigError", "InvalidInputError", "NonFiniteError", "ShapeError",
    "NotSymmetricError", "NotPositiveDefiniteError", "DeviceCapacityError", "SaturationError",
    "DeviceError", "TransportError", "LinkError", "ProtocolError", "DeviceTimeoutError",
    "CommandError", "DeviceRejectedError", "DeviceBusyError", "DeviceNotReadyError",
]


class SPUError(Exception):
    """Base class of every error the driver raises on purpose."""


class InvalidInputError(SPUError, ValueError):
    """The problem handed to the SPU is not one it can take; nothing was sent."""


class NonFiniteError(InvalidInputError):
    """An input holds NaN or infinity."""


class ShapeError(InvalidInputError):
    """An input has the wrong shape (not square, mismatched right-hand side, ...)."""


class NotSymmetricError(InvalidInputError):
    """A matrix that must be symmetric is not (beyond rounding)."""


class NotPositiveDefiniteError(InvalidInputError):
    """A matrix that must be symmetric positive definite is not."""


class DeviceCapacityError(InvalidInputError):
    """The problem is larger than the device holds (more cells than N, too many samples)."""


class SaturationError(SPUError):
    """The state kept hitting the fixed-point rails even after auto-ranging backed off; the
    result would be wrong, so none is returned."""


class DeviceError(SPUError):
    """The device reported an error or stopped answering."""


class TransportError(DeviceError):
    """The transport could not be opened or failed (bad URI, lost link, CRC errors)."""


class _CommandContext:
    """Mixin: which transport, command and device status an error is about."""

    def __init__(self, message: str, *, transport: str = "", command: str = "",
                 status: str | None = None):
        super().__init__(message)
        self.transport, self.command, self.status = transport, command, status


class ProtocolError(_CommandContext, TransportError):
    """The link kept corrupting or losing frames (bounded retries exhausted) or the device sent
    a response that does not follow the wire protocol.

    Attributes
    ----------
    transport : str
        The URI of the transport, e.g. ``"sim:icarus"``.
    command : str
        The protocol command that failed, e.g. ``"LOAD_A"``.
    status : str or None
        The device's last status for it (e.g. ``"BAD_CRC"``), None if it never answered.
    """


class LinkError(_CommandContext, TransportError):
    """The link itself failed under a request: the operating system or pyserial raised (an
    ``OSError`` such as ``ConnectionResetError`` or ``BrokenPipeError``, a ``SerialException``).
    Not retried; reopen the device (or ``reset()`` it once the link works). Attributes as
    :class:`ProtocolError`; the original exception is the ``__cause__``."""


class DeviceTimeoutError(ProtocolError):
    """The device did not answer within the timeout, on every retry, or a device call ran past
    its overall deadline (a job still RUNNING is aborted first). ``reset()`` on the device (or
    reopening it) brings it back once the link works again."""


class CommandError(_CommandContext, DeviceError):
    """The device received a request intact and answered it with an error status; attributes
    as :class:`ProtocolError`. Retrying the same request cannot help."""


class DeviceRejectedError(CommandError):
    """Unknown command, bad length or argument, other protocol version: a host/device mismatch."""


class DeviceBusyError(CommandError):
    """The device is running a job and refused a command that needs it idle (an interrupted
    call can leave it so: ``Device.reset()`` aborts the job)."""

    def __init__(self, message: str, **context):
        if "reset()" not in message:
            message += "; if an earlier call was interrupted, Device.reset() aborts its job"
        super().__init__(message, **context)


class DeviceNotReadyError(CommandError):
    """A precondition is unmet: RUN before the job registers were set, results read before a
    job finished."""
