"""What ``thermospu build`` needs to know about each board, in one record per board."""

import dataclasses
from typing import Callable

from thermospu.rtl.spec.config import SPUConfig

__all__ = ["Board", "get_board"]


@dataclasses.dataclass(frozen=True)
class Board:
    """A supported FPGA board.

    Attributes
    ----------
    name : str
        Command-line name (``--board``).
    title : str
        For people: board and FPGA.
    platform : callable
        The amaranth-boards platform class.
    top : callable
        ``top(config, clock_hz=..., baud=...)`` -> the board's top-level Elaboratable, which has
        ``clock_hz`` (the clock the PLL really makes), ``baud`` and ``cycles_per_step``.
    config : SPUConfig
        Default SPU parameters, chosen to fill the device (docs/boards.md says how).
    clock_hz : float
        Default system clock (Hz).
    baud : int
        Default UART baud rate.
    toolchain_options : callable
        ``toolchain_options(config)`` -> extra Amaranth build overrides for that SPU (e.g.
        ``synth_opts="-dsp"`` and the DSP assignment on iCE40).
    resource_map : dict
        Report row -> ("pnr", [nextpnr utilization names]) counted after placement, or
        ("netlist", ([cell type prefixes], nextpnr name giving the available count)).
    bitstream : str
        File name of the bitstream in the build directory.
    programmer : str
        Programming tool; ``programmer_env`` names the variable that overrides it.
    programmer_hint : str
        How to get the programmer when it is missing.
    program_arguments : str
        Arguments before the bitstream path.
    """

    name: str
    title: str
    platform: Callable
    top: Callable
    config: SPUConfig
    clock_hz: float
    baud: int
    toolchain_options: Callable
    resource_map: dict
    bitstream: str
    programmer: str
    programmer_env: str
    programmer_hint: str
    program_arguments: str

    def config_with(self, **overrides) -> SPUConfig:
        """The board's default config with the given fields replaced (None keeps the default).
        Lowering N below the default lanes lowers the lanes with it."""
        fields = self.config.to_dict()
        fields.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("lanes") is None:
            fields["lanes"] = min(fields["lanes"], fields["n"])
        return SPUConfig.from_dict(fields)

    def program_command(self, tool: str, bitstream: str) -> str:
        return f"{tool} {self.program_arguments} {bitstream}".replace("  ", " ")


def get_board(name: str) -> Board:
    """The :class:`Board` called ``name`` (imports its module, hence Amaranth)."""
    if name == "icebreaker":
        from .icebreaker import ICEBREAKER
        return ICEBREAKER
    if name == "ulx3s":
        from .ulx3s import ULX3S
        return ULX3S
    raise ValueError(f"unknown board {name!r}; known: icebreaker, ulx3s")
