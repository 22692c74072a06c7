"""Host side of the SPU: open a device, solve linear systems and invert matrices on it.

``thermospu.driver.open(uri="model", **config)`` returns a :class:`Device`; see
:mod:`thermospu.driver.device` for what a call does and :mod:`thermospu.driver.errors` for the
typed errors.
"""

from .device import Device, LoadedMatrix, open
from .diagnostics import SolveDiagnostics
from .errors import *  # noqa: F401,F403  (the typed errors are part of the API)

__all__ = ["Device", "LoadedMatrix", "SolveDiagnostics", "open"]
