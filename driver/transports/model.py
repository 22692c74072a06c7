"""The ``"model"`` transport: the emulated SPU in this process, reached through the wire protocol.

Every job goes through real frames: the host encodes requests, :class:`EmulatedDevice` parses
them byte by byte, runs the golden model and encodes its answers, and the host decodes those.
Nothing bypasses the protocol, so this transport exercises the same host code as a board.
"""

from __future__ import annotations

from thermospu.rtl.spec.config import SPUConfig

from thermospu.rtl.spec.emulator import EmulatedDevice
from .links import InProcessLink
from .protocol import FramedBackend

__all__ = ["ModelBackend"]


class ModelBackend(FramedBackend):
    """Emulated SPU: jobs run on the bit-exact golden model behind an in-process device.

    Parameters
    ----------
    config : SPUConfig
        The emulated machine.
    name : str
        The URI it was opened with.
    max_chains : int
        Chains the emulated device runs per job (see :class:`EmulatedDevice`).
    timeout, retries, deadline
        As :class:`FramedBackend`.
    """

    #: The golden model's slowest plausible rate (multiply-accumulates per second).
    cycles_per_s = 1e7
    seconds_per_byte = 1e-6

    def __init__(self, config: SPUConfig, name: str = "model", *, max_chains: int = 256,
                 timeout: float = 1.0, retries: int = 3, deadline: float | None = None):
        self.device = EmulatedDevice(config, max_chains=max_chains)
        super().__init__(InProcessLink(self.device), name,
                         "emulated SPU (golden model behind the wire protocol, in-process)",
                         expected_config=config, timeout=timeout, retries=retries,
                         deadline=deadline, poll_interval=0.002)
