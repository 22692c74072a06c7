"""The machines: a digital computer, an analog SPU, and an FPGA emulation of the SPU.

:class:`DigitalHardware` gives the sustained rates of the operations K-FAC and Adam use;
:class:`AnalogSPU` the cells, converters and host link of an analog SPU; :class:`EmulatedSPU`
an FPGA running thermospu's gateware, whose Euler step takes the cycles of the gateware's own
schedule (:func:`thermospu.rtl.gateware.core.step_cycles`, imported, not restated). Units:
seconds, bytes, FLOP, hertz, bits, cells; every field says its own.
"""

from __future__ import annotations

import dataclasses
import functools
import math

from thermospu.boards.icebreaker import ICEBREAKER
from thermospu.rtl.gateware.core import moment_pass_cycles, step_cycles
from thermospu.rtl.spec.config import SPUConfig

from .units import parameter, validate

__all__ = ["DigitalHardware", "AnalogSPU", "EmulatedSPU"]


@dataclasses.dataclass(frozen=True)
class DigitalHardware:
    """A digital machine: sustained rates of the operations K-FAC and Adam use.

    An operation of ``F`` FLOP touching ``B`` bytes takes ``latency + max(F / rate, B / bw)``;
    the latency of an inverse or eigendecomposition (several kernels, pivoting, host syncs) is
    ``factorization_latency_s``, that of a product or elementwise pass ``op_latency_s``.
    Rates are *effective* FLOP/s for the nominal FLOP counts of :func:`digital_op_seconds`
    (e.g. ``9 n**3`` for an eigendecomposition), so a slow library shows as a low rate.
    """

    name: str = "digital"
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides
    matmul_flops_per_s: float = parameter(14e12, "FLOP/s", "A100 datasheet 19.5 TFLOP/s FP32 at "
                                          "~70 % GEMM efficiency (efficiency assumed)", 1e6, 1e17)
    inverse_flops_per_s: float = parameter(2e12, "FLOP/s", "assumed: LU inverse at ~10 % of FP32 "
                                           "peak on a GPU", 1e5, 1e17)
    eigh_flops_per_s: float = parameter(3e11, "FLOP/s", "assumed: symmetric eigensolvers reach a "
                                        "few % of peak on GPUs (9 n**3 nominal FLOP; cf. "
                                        "pytorch/pytorch#60537, #174674 on eigh's GPU speed)",
                                        1e5, 1e17)
    memory_bytes_per_s: float = parameter(1.5e12, "B/s", "A100 40 GB datasheet 1.555 TB/s HBM2",
                                          1e6, 1e15)
    op_latency_s: float = parameter(1e-5, "s", "assumed: kernel launch and synchronisation",
                                    0.0, 1.0)
    factorization_latency_s: float = parameter(1e-4, "s", "assumed: a factorization is several "
                                               "kernels and host syncs", 0.0, 10.0)
    bytes_per_element: int = parameter(4, "B", "float32", 1, 16, integer=True)

    def __post_init__(self):
        validate(self)


@dataclasses.dataclass(frozen=True)
class AnalogSPU:
    """An analog SPU: ``cells`` coupled cells relaxing with time constant ``tau_relax_s``.

    A job loads an n x n coupling matrix through the host link and the DACs, lets the cells
    relax for ``burn_in_tau`` slowest-mode relaxation times, then digitizes the state every
    ``dt`` = the slower of the ADC conversion and the moment accumulation
    (:meth:`sample_interval_s`).
    """

    name: str = "analog SPU"
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides
    cells: int | None = parameter(None, "cells", "assumed: as many as the widest factor (the "
                                  "paper's 'sufficient hardware parallelism'); a factor wider than "
                                  "this runs digitally", 1, 1 << 24, integer=True, optional=True)
    max_rows: int | None = parameter(None, "rows", "assumed unbounded; only used with raw "
                                     "factors (thermo_kfac_step(raw_factors=True)), where each "
                                     "factor is an analog crossbar of rows x n elements",
                                     1, 1 << 30, integer=True, optional=True)
    devices: int = parameter(1, "SPUs", "assumed: one SPU; layers and solves spread over several",
                             1, 1 << 16, integer=True)
    tau_relax_s: float = parameter(1e-6, "s", "order of the RC time constants of the 8-cell analog "
                                   "SPU of Melanson et al. 2023 (microseconds)", 1e-12, 1.0)
    dac_bits: int = parameter(8, "bit", "8-bit inputs, the precision the paper's quantization "
                              "experiments show to be enough (seed summary)", 1, 32, integer=True)
    dac_rate_hz: float = parameter(1e8, "S/s", "datasheet-typical 8-bit DAC update rate, assumed",
                                   1e3, 1e11)
    dac_channels_per_cell: float = parameter(1.0, "1", "assumed: one DAC per cell (rows load in "
                                             "parallel)", 1e-6, 1e6)
    adc_bits: int = parameter(8, "bit", "as dac_bits", 1, 32, integer=True)
    adc_rate_hz: float = parameter(1e7, "S/s", "datasheet-typical 8-bit SAR ADC, 10 MS/s, assumed",
                                   1e3, 1e11)
    adc_channels_per_cell: float = parameter(1.0, "1", "assumed: one ADC per cell", 1e-6, 1e6)
    accumulator_rate_hz: float = parameter(5e8, "S/s", "assumed: one multiply-accumulate unit per "
                                           "moment at 500 MHz next to the ADCs, as our gateware "
                                           "accumulates on chip", 1e3, 1e11)
    link_bytes_per_s: float = parameter(25e9, "B/s", "PCIe 4.0 x16 (31.5 GB/s) at ~80 % "
                                        "efficiency, assumed", 1e3, 1e13)
    link_latency_s: float = parameter(2e-6, "s", "assumed: one PCIe round trip", 0.0, 1.0)
    max_samples_log2: int = parameter(24, "1", "as thermospu's SPUConfig: accumulators of "
                                      "adc_bits + 24 (sum y) and 2 adc_bits + 24 (sum y y^T) bits",
                                      1, 40, integer=True)

    def __post_init__(self):
        validate(self)

    def time_unit_s(self, n: int) -> float:
        """Relaxation time of the fastest (normalized) mode for an n x n problem (s)."""
        return self.tau_relax_s

    def fits(self, n: int) -> bool:
        """Whether an n x n problem fits the SPU's cells."""
        return self.cells is None or n <= self.cells

    def transfer_s(self, elements: float, bits: int) -> float:
        """One transfer of ``elements`` codes of ``bits`` bits over the host link (s)."""
        return self.link_latency_s + elements * bits / 8 / self.link_bytes_per_s

    def load_matrix_s(self, n: int) -> float:
        """Host link plus DAC programming of n*n coupling codes (s)."""
        dacs = max(1.0, self.dac_channels_per_cell * n)
        return self.transfer_s(n * n, self.dac_bits) + math.ceil(n * n / dacs) / self.dac_rate_hz

    def load_rows_s(self, rows: int, n: int) -> float:
        """Host link plus DAC programming of a rows x n activation (or output-gradient) matrix
        whose Gram matrix is the factor (s)."""
        dacs = max(1.0, self.dac_channels_per_cell * n)
        return (self.transfer_s(rows * n, self.dac_bits)
                + math.ceil(rows * n / dacs) / self.dac_rate_hz)

    def load_vector_s(self, n: int) -> float:
        """DAC time of one right-hand side of n codes from the SPU's buffer (s); the host sends
        all right-hand sides of a layer in one transfer
        (see :func:`~.step_costs.thermo_kfac_step`)."""
        dacs = max(1.0, self.dac_channels_per_cell * n)
        return math.ceil(n / dacs) / self.dac_rate_hz

    def sample_interval_s(self, n: int, moments: bool) -> float:
        """Time between samples: the ADC conversion of n cells, or the accumulation of the n*(n+1)/2
        second moments (one per accumulator clock, all in parallel), whichever is slower (s)."""
        adcs = max(1.0, self.adc_channels_per_cell * n)
        adc = math.ceil(n / adcs) / self.adc_rate_hz
        return max(adc, 1.0 / self.accumulator_rate_hz) if moments else adc

    @property
    def sum_bits(self) -> int:
        """Width of a first-moment accumulator (bits), as rtl/spec/config.py's sum_x_bits."""
        return self.adc_bits + self.max_samples_log2

    def read_moments_s(self, n: int) -> float:
        """Host link time of n first and n*(n+1)/2 second moments (s)."""
        return (self.transfer_s(n, self.sum_bits)
                + self.transfer_s(n * (n + 1) / 2, 2 * self.adc_bits + self.max_samples_log2))


@functools.lru_cache(maxsize=None)
def _core_with_lanes(lanes: int) -> SPUConfig:
    """An SPUConfig with ``lanes`` MAC lanes, for the gateware's cycle model at any width.

    ``step_cycles`` and ``moment_pass_cycles`` depend on the machine only through its lanes
    (``n_active`` is the problem's width); the emulation scaled to a width beyond the board's
    cells (or beyond the 4096 an SPUConfig allows) is that schedule extrapolated.
    """
    return SPUConfig(n=lanes, lanes=lanes)


@dataclasses.dataclass(frozen=True)
class EmulatedSPU(AnalogSPU):
    """A digital (FPGA) emulation of the SPU: thermospu's gateware on a board.

    Each Euler step of an n-cell problem costs the gateware's ``step_cycles`` at ``lanes`` MAC
    lanes (``G n + max(0, X_LATENCY - (G - 1) lanes)`` clock cycles, ``G = ceil(n / lanes)``,
    measured in docs/cycles.md), or ``1 / steps_per_s`` when a board build measured it
    (docs/boards.md); a sample with second moments takes the longer of a step and the gateware's
    ``moment_pass_cycles`` (at ``moment_lanes`` second-moment lanes, by default as many as MAC
    lanes). The fastest mode relaxes in ``steps_per_time_unit`` steps. Matrices and results travel
    over the board's host link; a sample is one step.

    The board only holds ``cells``; with ``scale_to_width`` the model instead asks what the same
    clock and lanes would give with as many cells as the problem needs (cycles ~ n**2 / lanes).
    The presets (:mod:`.presets`) read cells, lanes, widths and clock from the boards' records.
    """

    name: str = "FPGA emulation"
    #: AnalogSPU parameters that an emulation does not use (its timing comes from the clock).
    unused_parameters = ("tau_relax_s", "dac_rate_hz", "dac_channels_per_cell", "adc_rate_hz",
                         "adc_channels_per_cell", "accumulator_rate_hz", "max_rows")
    clock_hz: float = parameter(ICEBREAKER.clock_hz, "Hz", "clock of the iCEBreaker build "
                                "(boards/icebreaker.py)", 1e3, 1e10)
    lanes: int = parameter(ICEBREAKER.config.lanes, "lanes", "multiply-accumulate lanes P "
                           "(SPUConfig.lanes) of the iCEBreaker build (boards/icebreaker.py)", 1,
                           4096, integer=True)
    moment_lanes: int | None = parameter(None, "lanes", "none: as many second-moment lanes M as "
                                         "MAC lanes (the iCEBreaker build's; a board record's "
                                         "moment_lanes caps them)", 1, 4096, integer=True,
                                         optional=True)
    steps_per_s: float | None = parameter(None, "steps/s", "none: from the clock (cycles per step "
                                          "/ clock_hz); set it to a measured rate (docs/boards.md,"
                                          " or docs/boards_bench.md when bench/bench_boards.py has "
                                          "been run)", 1.0, 1e12, optional=True)
    steps_per_time_unit: float = parameter(1.5, "steps", "our driver picks h = 2**-k with "
                                           "h * lambda_max in (1/2, 1], i.e. 1 to 2 steps per "
                                           "relaxation time of the fastest mode", 1.0, 1e9)
    scale_to_width: bool = True

    def _cells_for(self, n: int) -> int:
        """Cells of the emulated machine running an n-cell problem."""
        return n if self.scale_to_width or self.cells is None else self.cells

    def cycles_per_step(self, n: int) -> int:
        """Clock cycles of one Euler step of an n-cell problem (all ``cells`` on the board):
        the gateware's :func:`~thermospu.rtl.gateware.core.step_cycles`."""
        return step_cycles(_core_with_lanes(self.lanes), self._cells_for(n))

    def cycles_per_sample(self, n: int, moments: bool) -> int:
        """Clock cycles between two samples at thinning 1: a step, or with second moments the
        longer of a step and a moment pass (``moment_lanes`` lanes; None: ``lanes``)."""
        step = self.cycles_per_step(n)
        if not moments:
            return step
        lanes = self.lanes if self.moment_lanes is None else self.moment_lanes
        return max(step, moment_pass_cycles(self._cells_for(n), lanes))

    def step_seconds(self, n: int) -> float:
        """One Euler step (s)."""
        if self.steps_per_s is not None:
            if self.scale_to_width and self.cells is not None:
                return (self.cycles_per_step(n) / self.cycles_per_step(self.cells)
                        / self.steps_per_s)
            return 1.0 / self.steps_per_s
        return self.cycles_per_step(n) / self.clock_hz

    def time_unit_s(self, n: int) -> float:
        """Relaxation time of the fastest (normalized) mode: ``steps_per_time_unit`` steps (s)."""
        return self.step_seconds(n) * self.steps_per_time_unit

    def fits(self, n: int) -> bool:
        """Whether an n x n problem runs (always, when scaled to the width)."""
        return self.scale_to_width or self.cells is None or n <= self.cells

    def load_matrix_s(self, n: int) -> float:
        """Host link time of n*n coupling codes (s); the board writes them to its memories."""
        return self.transfer_s(n * n, self.dac_bits)

    def load_vector_s(self, n: int) -> float:
        """Zero: the bias registers are written from the on-board buffer (s)."""
        return 0.0

    def sample_interval_s(self, n: int, moments: bool) -> float:
        """One step, stretched by the ratio of :meth:`cycles_per_sample` to a step when the
        moment passes are the slower (s)."""
        return self.step_seconds(n) * (self.cycles_per_sample(n, moments)
                                       / self.cycles_per_step(n))
