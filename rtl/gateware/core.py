"""``SPUCore``: the whole SPU behind its host bus, and its cycle model.

The core is three components (``docs/gateware.md``)::

    host bus --writes--> RegisterFile --job, start/abort, accepted memory writes--> Datapath
             <--reads--- ReadPath <--registers, counters---------------------------'  |
                                  <--memory and accumulator words (host ports)--------'
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import SPUConfig
from .accumulators import PASS_DRAIN_CYCLES
from .datapath import Datapath
from .hostbus import HostBusSignature
from .read_path import ReadPath
from .register_file import RegisterFile

__all__ = ["SPUCore", "CoreBuildError", "check_buildable", "step_cycles", "moment_pass_cycles",
           "max_job_cycles"]


class CoreBuildError(ValueError):
    """The gateware cannot be built for this SPUConfig."""


def check_buildable(config: SPUConfig, moment_lanes: int | None = None) -> None:
    """Refuse configurations the gateware does not implement, with the reason: raises TypeError
    for a ``config`` that is no SPUConfig, :class:`CoreBuildError` for lanes that are not a power
    of two or ``moment_lanes`` (None: P) that is not a power of two in [1, P]."""
    if not isinstance(config, SPUConfig):
        raise TypeError(f"SPUCore needs an SPUConfig, got {type(config).__name__}")
    p = config.lanes
    if p & (p - 1):
        raise CoreBuildError(
            f"lanes={p} is not a power of two: row i of A lives in bank i mod P, which the "
            f"gateware decodes from the low bits of i; use lanes in {{1, 2, 4, 8, ...}}")
    if moment_lanes is not None and (
            isinstance(moment_lanes, bool) or not isinstance(moment_lanes, int)
            or moment_lanes < 1 or moment_lanes & (moment_lanes - 1) or moment_lanes > p):
        raise CoreBuildError(f"moment_lanes={moment_lanes!r} must be a power of two in "
                             f"[1, lanes={p}]")


def step_cycles(config: SPUConfig, n_active: int) -> int:
    """Clock cycles per Euler step in steady state (no sampling stalls): ceil(n/P) groups of
    n columns, plus the idle gap that lets the last group's new states be written before the
    next step reads them: ``G*n + max(0, X_LATENCY - (G-1)*P)``, G = ceil(n/P)."""
    p = config.lanes
    groups = -(-n_active // p)
    return groups * n_active + max(0, Datapath.X_LATENCY - (groups - 1) * p)


def max_job_cycles(config: SPUConfig) -> int:
    """A bound on the clock cycles of one job (sizes the CYCLES counter): every step at most the
    slowest step of any n_active, plus a one-lane second-moment pass per step, plus the drain."""
    n = config.n
    per_step = (max(step_cycles(config, k) for k in range(1, n + 1))
                + max(moment_pass_cycles(k, 1) for k in range(1, n + 1)))
    return config.max_job_steps * per_step + 64 * (n + 8)


def moment_pass_cycles(n_active: int, moment_lanes: int) -> int:
    """Cycles between the starts of two second-moment passes when they run back to back:
    groups of M rows sweep columns g*M ... n-1; for n_active <= 2 a pass also waits for the
    previous pass's writes to drain (``PASS_DRAIN_CYCLES``)."""
    sweep = sum(n_active - base for base in range(0, n_active, moment_lanes))
    return sweep if n_active > 2 else sweep + PASS_DRAIN_CYCLES


class SPUCore(wiring.Component):
    """The SPU core (see ``docs/gateware.md``): a :class:`RegisterFile` takes the host's
    writes, a :class:`ReadPath` answers its reads, a :class:`Datapath` runs the jobs.

    Parameters
    ----------
    config : SPUConfig
        The machine. ``lanes`` (P) must be a power of two.
    moment_lanes : int or None
        Multipliers of the second-moment passes, M (a power of two <= P; default P). The core
        has P + M + 1 multipliers: P lanes a_bits x x_bits, M lanes out_bits x out_bits and the
        noise amplitude, sigma_bits x 11. With M = P second moments never slow sampling; with
        fewer (to fit a small FPGA's DSP blocks) a sample takes
        ``max(thin * step_cycles, moment_pass_cycles)`` cycles.

    Raises
    ------
    TypeError, CoreBuildError
        From :func:`check_buildable`, before any Amaranth object exists (so a refused core
        leaves no "created but never used" warning behind).

    Members
    -------
    bus : In(HostBusSignature())
        Host bus (target side); address map in :mod:`thermospu.rtl.spec.regmap`.
    busy, done, error : Out(1)
        STATUS bits BUSY, DONE and ERROR as plain outputs (e.g. for LEDs).
    """

    #: Cycles from the sequencer issuing a column to the MAC engine's first finished row.
    MAC_LATENCY = Datapath.MAC_LATENCY
    #: Cycles from issuing a group's last column to the first cycle in which the next step may
    #: issue the column of its lane-0 row (:attr:`Datapath.X_LATENCY`).
    X_LATENCY = Datapath.X_LATENCY

    def __new__(cls, config: SPUConfig, moment_lanes: int | None = None):
        check_buildable(config, moment_lanes)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, config: SPUConfig, moment_lanes: int | None = None):
        self.config = config
        self.moment_lanes = config.lanes if moment_lanes is None else moment_lanes
        super().__init__({
            "bus": In(HostBusSignature()),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
        })

    def step_cycles(self, n_active: int) -> int:
        """Clock cycles per Euler step of this core; see :func:`step_cycles`."""
        return step_cycles(self.config, n_active)

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        bus = self.bus
        max_cycles = max_job_cycles(cfg)
        m.submodules.registers = regs = RegisterFile(cfg, max_cycles)
        m.submodules.datapath = datapath = Datapath(cfg, self.moment_lanes)
        m.submodules.read_path = reads = ReadPath(cfg, max_cycles, self.moment_lanes)
        offset = bus.addr[:len(datapath.host_offset)]
        m.d.comb += [
            regs.addr.eq(bus.addr), regs.w_data.eq(bus.w_data), regs.w_stb.eq(bus.w_stb),
            regs.read_error.eq(reads.read_error), regs.running.eq(datapath.running),
            regs.saturated.eq(datapath.saturated),
            datapath.job.eq(regs.job), datapath.start.eq(regs.start),
            datapath.abort.eq(regs.abort), datapath.busy.eq(regs.busy),
            datapath.host_offset.eq(offset), datapath.host_w_data.eq(bus.w_data),
            datapath.host_write_a.eq(regs.write_a), datapath.host_write_b.eq(regs.write_b),
            datapath.host_write_seed.eq(regs.write_seed),
            reads.addr.eq(bus.addr), reads.r_stb.eq(bus.r_stb),
            bus.r_data.eq(reads.r_data), bus.r_ack.eq(reads.r_ack),
            reads.busy.eq(regs.busy), reads.job.eq(regs.job), reads.status.eq(regs.status),
            reads.saturations.eq(regs.saturations), reads.cycles.eq(regs.cycles),
            reads.result_n.eq(regs.result_n), reads.result_moments.eq(regs.result_moments),
            reads.samples_taken.eq(datapath.samples_taken), reads.steps.eq(datapath.steps),
            self.busy.eq(regs.status.busy), self.done.eq(regs.status.done),
            self.error.eq(regs.status.error),
        ]
        wiring.connect(m, datapath.host_words, reads.memory_words)
        return m
