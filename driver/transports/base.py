"""What every transport provides to :class:`thermospu.driver.device.Device`: run jobs."""

from __future__ import annotations

import abc

import numpy as np

from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.golden import JobResult


class Backend(abc.ABC):
    """A way of reaching an SPU (emulated, simulated or on a board).

    Attributes
    ----------
    name : str
        The URI it was opened with, e.g. ``"model"``, ``"sim:icarus"``, ``"serial:/dev/ttyUSB1"``.
    config : SPUConfig
        The machine's configuration (a board reports its own).
    description : str
        One line for people: what is answering, e.g. "emulated SPU (golden model, in-process)".
    """

    name: str
    config: SPUConfig
    description: str

    @abc.abstractmethod
    def run_jobs(self, a_q: np.ndarray, b_q: np.ndarray, params: JobParams, seeds: list[int],
                 progress=None) -> list[JobResult]:
        """Run one job per row of ``b_q`` (shape (C, n)), all with coupling codes ``a_q``
        (shape (n, n), loaded once) and ``params`` (its ``seed`` replaced by ``seeds[c]``).
        Returns the accumulator contents of each job, bit-identical to the golden model.
        ``progress(steps)`` is called as Euler steps complete, where the transport can tell."""

    def reset(self) -> None:
        """Bring the device back to idle (abort any job); the next job starts cleanly."""

    def close(self) -> None:
        """Release the transport."""

    def info(self) -> dict:
        """What the device says about itself (config, version, board)."""
        return {"transport": self.name, "description": self.description, "config": self.config.to_dict()}
