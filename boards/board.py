"""What the board top and ``thermospu build`` need to know about each board, one record per board.

A board is data, not a class: its oscillator and PLL, the pins the SPU system drives, its default
SPU and clock, the toolchain options and the programmer. One parametrised top
(:class:`thermospu.boards.top.BoardTop`) turns any record into gateware. This module and the
records (``icebreaker.py``, ``ulx3s.py``) are pure Python: reading a board's default SPUConfig and
clock (e.g. for the cost model) imports neither Amaranth nor amaranth-boards.
"""

import dataclasses
import importlib
from typing import Callable

from thermospu.rtl.spec.config import SPUConfig

__all__ = ["Board", "BOARD_MODULES", "get_board"]

#: Board name -> (module of ``thermospu.boards``, name of its :class:`Board` record).
BOARD_MODULES = {"icebreaker": ("icebreaker", "ICEBREAKER"), "ulx3s": ("ulx3s", "ULX3S")}


@dataclasses.dataclass(frozen=True)
class Board:
    """A supported FPGA board.

    Attributes
    ----------
    name : str
        Command-line name (``--board``); also what the device reports in INFO.
    title : str
        For people: board and FPGA.
    platform_class : str
        The amaranth-boards platform, ``"module:Class"`` (imported by :meth:`platform`).
    pll : str
        PLL family, a key of ``clocking.PLLS``: ``"ice40"`` (SB_PLL40_PAD) or ``"ecp5"``
        (EHXPLLL).
    oscillator_hz : float
        Frequency of the board's oscillator, the PLL's input (Hz).
    oscillator : str
        The platform resource of the oscillator pin (e.g. ``"clk12"``).
    outputs : tuple
        Output pins besides the UART's, in order: (resource, number, driver), the driver being
        a tuple of :class:`~thermospu.boards.top.SPUBoardTop` light names OR'ed together, or a
        constant level (0/1). The UART (resource ``"uart"`` 0) is every board's.
    extra_resources : tuple of str
        Attributes of the platform class holding resources to add before requesting pins (e.g.
        the iCEBreaker's break-off PMOD).
    config : SPUConfig
        Default SPU parameters, chosen to fill the device (docs/boards.md says how).
    clock_hz : float
        Default system clock (Hz).
    baud : int
        Default UART baud rate.
    moment_lanes : int or None
        Default second-moment lanes M of a build with P lanes: ``min(P, moment_lanes)``; None:
        P (:meth:`moment_lanes_for`).
    toolchain_options : callable
        ``toolchain_options(config)`` -> extra Amaranth build overrides for that SPU (e.g.
        ``synth_opts="-dsp"`` and the DSP assignment on iCE40).
    placer : str
        nextpnr's placer (``--placer``): ``"heap"`` (nextpnr's default) or ``"static"``.
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
    platform_class: str
    pll: str
    oscillator_hz: float
    oscillator: str
    outputs: tuple
    extra_resources: tuple
    config: SPUConfig
    clock_hz: float
    baud: int
    moment_lanes: int | None
    toolchain_options: Callable
    placer: str
    resource_map: dict
    bitstream: str
    programmer: str
    programmer_env: str
    programmer_hint: str
    program_arguments: str

    def platform(self):
        """A new instance of the board's amaranth-boards platform (imports amaranth-boards)."""
        module, _, cls = self.platform_class.partition(":")
        return getattr(importlib.import_module(module), cls)()

    def top(self, config: SPUConfig | None = None, clock_hz: float | None = None,
            baud: int | None = None, moment_lanes: int | None = None):
        """The board's top-level Elaboratable (:class:`~thermospu.boards.top.BoardTop`) for SPU
        ``config`` at ``clock_hz`` (Hz; the PLL's nearest within 1 %) and ``baud``, with
        ``moment_lanes`` second-moment lanes; None takes the board's defaults (for the lanes,
        :meth:`moment_lanes_for`). Raises ValueError for a clock the PLL cannot make or a baud
        rate the clock cannot divide down to, before any Amaranth object is made."""
        from .top import board_top
        config = self.config if config is None else config
        return board_top(self, config, self.clock_hz if clock_hz is None else clock_hz,
                         self.baud if baud is None else baud,
                         self.moment_lanes_for(config) if moment_lanes is None else moment_lanes)

    def moment_lanes_for(self, config: SPUConfig) -> int:
        """The board's default second-moment lanes M for SPU ``config``: ``min(P,
        moment_lanes)``, or P when the record sets none."""
        if self.moment_lanes is None:
            return config.lanes
        return min(config.lanes, self.moment_lanes)

    def config_with(self, **overrides) -> SPUConfig:
        """The board's default config with the given fields replaced (None keeps the default).
        Lowering N below the default lanes lowers the lanes with it."""
        fields = self.config.to_dict()
        fields.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("lanes") is None:
            fields["lanes"] = min(fields["lanes"], fields["n"])
        return SPUConfig.from_dict(fields)

    def program_command(self, tool: str, bitstream: str) -> str:
        """The shell command that loads ``bitstream`` with programmer ``tool``."""
        return f"{tool} {self.program_arguments} {bitstream}".replace("  ", " ")


def get_board(name: str) -> Board:
    """The :class:`Board` called ``name`` (pure data: imports no Amaranth)."""
    if name not in BOARD_MODULES:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARD_MODULES)}")
    module, record = BOARD_MODULES[name]
    return getattr(importlib.import_module(f"{__package__}.{module}"), record)
