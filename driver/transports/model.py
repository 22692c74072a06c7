"""The in-process transport: the golden model answering jobs directly."""

from __future__ import annotations

from thermospu.rtl import golden
from thermospu.rtl.config import SPUConfig

from .base import Backend


class ModelBackend(Backend):
    """Emulated SPU: jobs run on the bit-exact golden model in this process."""

    def __init__(self, config: SPUConfig, name: str = "model"):
        self.name = name
        self.config = config
        self.description = f"emulated SPU (golden model, in-process), N={config.n}"

    def run_jobs(self, a_q, b_q, params, seeds, progress=None):
        return golden.run_jobs(self.config, a_q, b_q, params, seeds, progress=progress)
