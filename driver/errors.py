"""Typed errors of the host driver. Every one says what is wrong in its message."""

from __future__ import annotations

from thermospu.rtl.config import ConfigError

__all__ = [
    "SPUError", "ConfigError", "InvalidInputError", "NonFiniteError", "ShapeError",
    "NotSymmetricError", "NotPositiveDefiniteError", "DeviceCapacityError", "SaturationError",
    "DeviceError", "TransportError",
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
