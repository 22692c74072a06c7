"""Named profiles: digital machines, analog SPUs, and the FPGA emulation on our boards.

The digital and analog profiles are datasheet values, assumptions or our CPU's calibration (each
field's source says which). The FPGA profiles are read from the boards' records
(:func:`thermospu.boards.board.get_board`: default SPUConfig, clock and UART baud rate), so a
changed board default changes the cost model with it; what is written here is only what the
builds measured (docs/boards.md) and the assumed turnaround of the host link.
"""

from __future__ import annotations

from thermospu.boards.board import Board, get_board
from thermospu.rtl.spec.config import SPUConfig

from .hardware import AnalogSPU, DigitalHardware, EmulatedSPU

__all__ = ["GPU_A100", "CPU_THIS_MACHINE", "ANALOG_SPU_PROJECTED", "ANALOG_SPU_WHATIF",
           "FPGA_ICE40_EMULATION", "FPGA_ECP5_EMULATION", "FPGA_ECP5_CI_EMULATION"]


#: A GPU of the A100 class: the defaults of :class:`DigitalHardware` (datasheet peak and
#: bandwidth, assumed efficiencies and latencies).
GPU_A100 = DigitalHardware(name="GPU (A100-class, FP32)")

#: This machine's 2-core CPU with torch 2.13 float32, fitted by
#: bench/bench_costmodel_calibration.py (docs/costmodel_calibration.md); rerun the bench and pass
#: --calibration to use fresh numbers.
CPU_THIS_MACHINE = DigitalHardware(name="this CPU (2 threads, torch float32, measured)",
                                   matmul_flops_per_s=3.69e11, inverse_flops_per_s=1.47e11,
                                   eigh_flops_per_s=1.51e11, memory_bytes_per_s=3.54e10,
                                   op_latency_s=3.4e-6, factorization_latency_s=5.1e-5,
                                   bytes_per_element=4,
                                   source="measured by bench/bench_costmodel_calibration.py "
                                          "on 2026-12-02 (machine idle, load 0.7)")

#: The projected analog SPU (defaults of :class:`AnalogSPU`).
ANALOG_SPU_PROJECTED = AnalogSPU(name="analog SPU (projected)")

#: A what-if SPU with nanosecond cells (integrated oscillators at ~GHz; assumed, no prototype
#: yet): how fast the cells must be for the advantage to reach today's layer widths.
ANALOG_SPU_WHATIF = AnalogSPU(name="analog SPU (what-if: 1 ns cells)", tau_relax_s=1e-9,
                              source="what-if, assumed")


#: Bits per byte on the boards' UART (8N1: start, 8 data, stop).
UART_BITS_PER_BYTE = 10
#: Assumed host-link turnaround of a board (s): USB-serial latency and the driver's round trip.
BOARD_LINK_LATENCY_S = 1e-3


def _uart(board: Board) -> str:
    """The host link of ``board`` in words, for a profile's source."""
    return (f"UART {board.baud / 1e6:g} Mbaud 8N1; {BOARD_LINK_LATENCY_S * 1e3:g} ms turnaround "
            f"assumed")


def fpga_emulation(board: Board, config: SPUConfig, *, build: str, status: str, source: str,
                   moment_lanes: int, steps_per_s: float | None = None) -> EmulatedSPU:
    """The :class:`EmulatedSPU` of ``config`` built for ``board`` at the board's clock, its host
    link the board's UART. ``build`` names the build ("iCEBreaker default"), ``status`` says
    whether its rate is the clock's or measured, ``source`` where the numbers come from;
    ``moment_lanes`` are the build's second-moment lanes, ``steps_per_s`` a measured rate (Euler
    steps/s), None for the clock's."""
    return EmulatedSPU(
        name=f"FPGA emulation, {build} (N={config.n}, P={config.lanes}, "
             f"{board.clock_hz / 1e6:g} MHz; {status})",
        cells=config.n, clock_hz=board.clock_hz, lanes=config.lanes,
        moment_lanes=moment_lanes, dac_bits=config.a_bits,
        adc_bits=config.out_bits, max_samples_log2=config.max_samples_log2,
        steps_per_s=steps_per_s, link_bytes_per_s=board.baud / UART_BITS_PER_BYTE,
        link_latency_s=BOARD_LINK_LATENCY_S, source=source)


def _timing_met_build(name: str, build: str, fmax_mhz: float, moment_lanes: int | None = None,
                      **changes) -> EmulatedSPU:
    """A build of board ``name``'s default SPU (with ``changes`` to its config, as
    :meth:`~thermospu.boards.board.Board.config_with` takes them, and ``moment_lanes``
    second-moment lanes, None: the board's default) that meets the board's clock (Fmax from
    docs/boards.md), so its rate is the clock's."""
    board = get_board(name)
    c = board.config_with(**changes)
    if moment_lanes is None:
        moment_lanes = board.moment_lanes_for(c)
    else:
        changes["moment_lanes"] = moment_lanes
    changed = "".join(f", {field}={value}" for field, value in changes.items())
    return fpga_emulation(
        board, c, build=build, status="built, timing met", moment_lanes=moment_lanes,
        source=f"boards/{name}.py default{changed}: N={c.n}, P={c.lanes}, "
               f"M={moment_lanes}, a_bits={c.a_bits}, out_bits={c.out_bits}, "
               f"2**{c.max_samples_log2} samples, "
               f"{board.clock_hz / 1e6:g} MHz clock, met by the build (Fmax {fmax_mhz:g} MHz, "
               f"docs/boards.md); {_uart(board)}")


#: The iCEBreaker's default build (N = 32 cells, P = 2 lanes, 36 MHz, UART 3 Mbaud), built and
#: timing met (docs/boards.md: Fmax 37.9 MHz at seed 1, met with 4 of seeds 1-5, gateware of
#: 2026-12-04 late night), so its rate is the clock's: 512 cycles per step
#: (rtl.gateware.core.step_cycles), 7.03e4 Euler steps/s.
FPGA_ICE40_EMULATION = _timing_met_build("icebreaker", "iCEBreaker default", fmax_mhz=37.9)

#: The ULX3S's default build (N = 128 cells, P = 64 lanes, M = 32 second-moment lanes, 60 MHz,
#: UART 3 Mbaud), built and timing met (docs/boards.md: Fmax 78.1 MHz, gateware of 2026-12-04
#: late night, nextpnr's static placer), so its rate is the clock's: 256 cycles per step,
#: 2.34e5 Euler steps/s (a sample with second moments 320 cycles).
FPGA_ECP5_EMULATION = _timing_met_build("ulx3s", "ULX3S default", fmax_mhz=78.1)

#: The ULX3S build that CI makes (gateware_tests/test_board_build.py: the board's default with
#: N = 16, P = 4, two second-moment lanes), built and meeting the board's clock (docs/boards.md:
#: Fmax 85.6 MHz at 60 MHz), so its rate is the clock's: 64 cycles per step, 9.38e5 Euler steps/s.
FPGA_ECP5_CI_EMULATION = _timing_met_build("ulx3s", "ULX3S CI build", fmax_mhz=85.6,
                                           moment_lanes=2, n=16, lanes=4)
