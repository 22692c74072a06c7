"""``SPUCore``: the whole SPU behind its host bus.

Data path (one Euler step; ``docs/gateware.md`` describes the schedule)::

    StepSequencer --(col j, group g)--> A banks (P) + state buffer x[j]
        --> MacEngine (P lanes) --(one finished row per cycle)--> CellIntegrator --> new x[i]
    (prefetched while the row sums: b[i], generator words of cell i --> NoiseStep --> g)
    new x[i] --> OutputQuantizer --> SampleAccumulators (sum_y; snapshot -> sum_yy passes)
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec import regmap as rm
from ..spec.config import SPUConfig
from .accumulators import SampleAccumulators
from .bounds import below, within
from .control import StepSequencer
from .hostbus import HostBusSignature
from .integrator import CellIntegrator
from .mac_engine import MacEngine
from .noise import NoiseStep
from .output_quantizer import OutputQuantizer

__all__ = ["SPUCore", "CoreBuildError", "check_buildable", "step_cycles", "moment_pass_cycles",
           "max_job_cycles"]


class CoreBuildError(ValueError):
    """The gateware cannot be built for this SPUConfig."""


def check_buildable(config: SPUConfig) -> None:
    """Refuse configurations the gateware does not implement, with the reason."""
    if not isinstance(config, SPUConfig):
        raise TypeError(f"SPUCore needs an SPUConfig, got {type(config).__name__}")
    p = config.lanes
    if p & (p - 1):
        raise CoreBuildError(
            f"lanes={p} is not a power of two: row i of A lives in bank i mod P, which the "
            f"gateware decodes from the low bits of i; use lanes in {{1, 2, 4, 8, ...}}")


def step_cycles(config: SPUConfig, n_active: int) -> int:
    """Clock cycles per Euler step in steady state (no sampling stalls): ceil(n/P) groups of
    n columns, plus the idle gap that lets the last group's new states be written before the
    next step reads them: ``G*n + max(0, X_LATENCY - (G-1)*P)``, G = ceil(n/P)."""
    p = config.lanes
    groups = -(-n_active // p)
    return groups * n_active + max(0, SPUCore.X_LATENCY - (groups - 1) * p)


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
    previous pass's 3-cycle read-modify-write pipeline to drain."""
    sweep = sum(n_active - base for base in range(0, n_active, moment_lanes))
    return sweep if n_active > 2 else sweep + 3


class SPUCore(wiring.Component):
    """The SPU core (see ``docs/gateware.md``).

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

    Members
    -------
    bus : In(HostBusSignature())
        Host bus (target side); address map in :mod:`thermospu.rtl.spec.regmap`.
    busy, done, error : Out(1)
        STATUS bits BUSY, DONE and ERROR as plain outputs (e.g. for LEDs).
    """

    def __init__(self, config: SPUConfig, moment_lanes: int | None = None):
        try:
            check_buildable(config)
            self.moment_lanes = config.lanes if moment_lanes is None else moment_lanes
            if (isinstance(self.moment_lanes, bool) or not isinstance(self.moment_lanes, int)
                    or self.moment_lanes < 1 or self.moment_lanes & (self.moment_lanes - 1)
                    or self.moment_lanes > config.lanes):
                raise CoreBuildError(
                    f"moment_lanes={self.moment_lanes!r} must be a power of two in "
                    f"[1, lanes={config.lanes}]")
        except (TypeError, ValueError):
            self._MustUse__silence = True   # a refused core is not an unused one
            raise
        self.config = config
        super().__init__({
            "bus": In(HostBusSignature()),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
        })

    #: Cycles from the sequencer issuing a column to the MAC engine's first finished row.
    MAC_LATENCY = 3
    #: Cycles from issuing a group's last column to the first cycle in which the next step may
    #: issue the column of its lane-0 row: the integrator's terms are prepared while the sum is
    #: computed, the new state is written CellIntegrator.UPDATE_LATENCY cycles after the sum
    #: leaves the MAC engine, and a read issued in that same cycle is served from a register
    #: holding the state just written.
    X_LATENCY = MAC_LATENCY - 1 + CellIntegrator.UPDATE_LATENCY

    def step_cycles(self, n_active: int) -> int:
        """Clock cycles per Euler step of this core; see :func:`step_cycles`."""
        return step_cycles(self.config, n_active)

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        bus = self.bus
        n, p = cfg.n, cfg.lanes
        row_bits = cfg.log2_n
        lane_bits = p.bit_length() - 1
        rows_per_bank = -(-n // p)

        # --- job registers --------------------------------------------------------------
        job_regs = {}
        defaults = {"n_active": n, "samples": 1, "thin": 1}
        for reg, field in rm.JOB_REGISTERS.items():
            lo, hi = rm.job_register_range(field, cfg)
            job_regs[field] = (reg, Signal(unsigned(max(1, hi.bit_length())), name=f"job_{field}",
                                           init=defaults.get(field, 0)), lo, hi)
        job = {field: sig for field, (_, sig, _, _) in job_regs.items()}

        busy = Signal()
        done = Signal()
        aborted = Signal()
        abort_requested = Signal()
        errors = Signal(16)
        saturations = Signal(32)
        cycles = Signal(range(max_job_cycles(cfg) + 1))
        result_n = Signal(range(n + 1))      # n_active of the last job (for reads of its sums)
        result_moments = Signal()

        region = bus.addr[rm.REGION_SHIFT:]
        offset = bus.addr[:rm.OFFSET_BITS]
        row = offset[row_bits:]
        col = offset[:row_bits]
        in_matrix = below(row, n) & below(col, n)

        # --- blocks ----------------------------------------------------------------------
        m.submodules.sequencer = seq = StepSequencer(cfg, self.X_LATENCY)
        tag_layout = [("row_base", len(seq.row_base)), ("first_step", 1), ("parity", 1),
                      ("sampled", 1), ("first_sample", 1), ("sample_buffer", 2)]
        tag_bits = sum(width for _, width in tag_layout)
        m.submodules.mac = mac = MacEngine(cfg, tag_bits)
        m.submodules.noise = noise = NoiseStep()
        m.submodules.integrator = integrator = CellIntegrator(
            cfg, tag_bits=tag_bits + len(mac.out_lane))
        m.submodules.quantizer = quantizer = OutputQuantizer(cfg)
        m.submodules.accumulators = accs = SampleAccumulators(cfg, self.moment_lanes)

        # --- memories --------------------------------------------------------------------
        a_banks = []
        for lane in range(p):
            mem = Memory(shape=cfg.a_bits, depth=rows_per_bank << row_bits, init=[])
            m.submodules[f"a_bank{lane}"] = mem
            a_banks.append((mem.write_port(), mem.read_port()))
        m.submodules.b_mem = b_mem = Memory(shape=cfg.b_bits, depth=n, init=[])
        b_wr, b_rd = b_mem.write_port(), b_mem.read_port()
        # Generator words, split by the parity of their ring slot so that a step's two reads
        # (oldest word x, newest word w: neighbouring slots) hit different memories. Word k of
        # cell i lives in memory k % 2 at address (source, i, k // 2): source 0 holds the seed
        # the host wrote, source 1 the words written since the job started. Seed and working
        # words share a memory because one step never needs both from the same memory.
        word_wr, word_rd = [], []
        for parity in (0, 1):
            mem = Memory(shape=32, depth=4 << row_bits, init=[])
            m.submodules[f"generator_words{parity}"] = mem
            word_wr.append(mem.write_port())
            word_rd.append(mem.read_port())
        host_seed_addr = Cat(offset[1], offset[2:2 + row_bits], Const(0, 1))
        host_seed_write = [Signal(name=f"host_seed_write{parity}") for parity in (0, 1)]
        # Two state buffers: step t reads buffer t mod 2 and writes the other.
        m.submodules.x_mem = x_mem = Memory(shape=cfg.x_bits, depth=2 << row_bits, init=[])
        x_wr, x_rd = x_mem.write_port(), x_mem.read_port()

        def sign_extends(bits):
            top = bus.w_data[bits - 1:]
            return (top == 0) | (top == (1 << len(top)) - 1)

        bank_of_row = row[:lane_bits]
        bank_addr = Cat(col, row[lane_bits:])
        write_error = Signal(16)
        read_error = Signal(16)
        control_error = Signal(16)
        set_error = write_error | read_error | control_error

        # --- host writes -----------------------------------------------------------------
        for wr, _ in a_banks:
            m.d.comb += [wr.addr.eq(bank_addr), wr.data.eq(bus.w_data)]
        m.d.comb += [
            b_wr.addr.eq(offset), b_wr.data.eq(bus.w_data),
        ]
        control_write = Signal()
        with m.If(bus.w_stb):
            with m.If((region == rm.REGION_REGS) & (offset == rm.REG_CONTROL)):
                m.d.comb += control_write.eq(1)
            with m.Elif(busy):
                m.d.comb += write_error.eq(rm.STATUS_WRITE_WHILE_BUSY)
            with m.Elif(region == rm.REGION_REGS):
                with m.Switch(offset):
                    for reg, sig, lo, hi in job_regs.values():
                        with m.Case(reg):
                            with m.If(within(bus.w_data, lo, hi)):
                                m.d.sync += sig.eq(bus.w_data)
                            with m.Else():
                                m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                    with m.Default():
                        m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
            with m.Elif(region == rm.REGION_A):
                with m.If(~in_matrix):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
                with m.Elif(~sign_extends(cfg.a_bits)):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                with m.Else():
                    for lane, (wr, _) in enumerate(a_banks):
                        m.d.comb += wr.en.eq(bank_of_row == lane)
            with m.Elif(region == rm.REGION_B):
                with m.If(~below(offset, n)):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
                with m.Elif(~sign_extends(cfg.b_bits)):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                with m.Else():
                    m.d.comb += b_wr.en.eq(1)
            with m.Elif(region == rm.REGION_SEEDS):
                with m.If(~below(offset, 4 * n)):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
                with m.Elif(bus.w_data[32:] != 0):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                with m.Else():
                    for parity in (0, 1):
                        m.d.comb += host_seed_write[parity].eq(offset[0] == parity)
            with m.Else():
                m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)

        # --- control ---------------------------------------------------------------------
        start = Signal()
        abort = Signal()
        with m.If(control_write):
            with m.If(bus.w_data & rm.CONTROL_START):
                with m.If(busy):
                    m.d.comb += control_error.eq(rm.STATUS_WRITE_WHILE_BUSY)
                with m.Else():
                    m.d.comb += start.eq(1)
            m.d.comb += abort.eq(busy & (bus.w_data & rm.CONTROL_ABORT).any())
        # An access's error flags reach STATUS from a register one cycle later (the decode of
        # the access is then off the path into STATUS); the next access, and a read issued
        # right behind it, already see them.
        new_errors = Signal(16)
        m.d.sync += new_errors.eq(set_error)
        with m.If(control_write & (bus.w_data & rm.CONTROL_CLEAR).any()):
            m.d.sync += [errors.eq(0), done.eq(0), aborted.eq(0)]
        with m.Elif(new_errors.any()):
            m.d.sync += errors.eq(errors | new_errors)

        pipeline_busy = Signal()
        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0), aborted.eq(0), abort_requested.eq(0),
                         saturations.eq(0), cycles.eq(0), result_n.eq(job["n_active"]),
                         result_moments.eq(job["moments"])]
        with m.Elif(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(abort):
                m.d.sync += abort_requested.eq(1)
            with m.If(~pipeline_busy):
                m.d.sync += [busy.eq(0), done.eq(1), aborted.eq(abort_requested)]

        # --- step sequencer and MAC lanes (stage S0: addresses, D: data) -------------------
        m.d.comb += [
            seq.start.eq(start), seq.abort.eq(abort),
            seq.n_active.eq(job["n_active"]), seq.burn_in.eq(job["burn_in"]),
            seq.samples.eq(job["samples"]), seq.thin.eq(job["thin"]),
            seq.moments.eq(job["moments"]), seq.can_reserve.eq(accs.can_reserve),
        ]
        for _, rd in a_banks:
            m.d.comb += rd.addr.eq(Mux(busy, Cat(seq.col, seq.row_base[lane_bits:]), bank_addr))
        m.d.comb += x_rd.addr.eq(Cat(seq.col, seq.phase[0]))

        tag = Cat(seq.row_base, seq.first_step, seq.phase[0], seq.sampled, seq.first_sample,
                  seq.sample_buffer)
        d_valid, d_first, d_last, d_first_step = Signal(), Signal(), Signal(), Signal()
        d_rows = Signal.like(seq.rows)
        d_tag = Signal(tag_bits)
        d_capture = Signal(p)
        d_col = Signal.like(seq.col)
        d_buffer = Signal()
        m.d.sync += [
            d_valid.eq(seq.valid), d_first.eq(seq.first_col), d_last.eq(seq.last_col),
            d_first_step.eq(seq.first_step), d_rows.eq(seq.rows), d_tag.eq(tag),
            d_capture.eq(Cat(seq.col == seq.row_base + lane for lane in range(p))),
            d_col.eq(seq.col), d_buffer.eq(seq.phase[0]),
        ]
        # The state written in the cycle a column's read was issued (the memory then returns
        # the old word) comes from the register that keeps the last written state.
        written_valid, written_buffer = Signal(), Signal()
        written_cell = Signal(row_bits)
        written_x = Signal(signed(cfg.x_bits))
        forward = written_valid & (written_cell == d_col) & (written_buffer == d_buffer)
        m.d.comb += [
            mac.in_valid.eq(d_valid), mac.in_first.eq(d_first), mac.in_last.eq(d_last),
            mac.in_x.eq(Mux(d_first_step, 0, Mux(forward, written_x, x_rd.data))),
            mac.in_capture.eq(d_capture), mac.in_rows.eq(d_rows), mac.in_tag.eq(d_tag),
        ]
        for lane, (_, rd) in enumerate(a_banks):
            m.d.comb += mac.in_a[lane].eq(rd.data)

        # --- integrator. Prefetch: from the cycle a group's last column is issued, one cell
        # per cycle (row base + lane) has b and its generator state read; the next cycle steps
        # the generator and enters b and g into the integrator's prepare stages, so that they
        # are ready when the hand-off register presents the cell's coupling sum; the new state
        # is written in that same cycle. -----------------------------------------------------
        prefetch_valid = Signal()
        prefetch_cell = Signal(row_bits)
        prefetch_phase = Signal(2)
        prefetch_warmup = Signal()
        prefetch_first_step = Signal()
        prefetch_next = Signal(row_bits)
        prefetch_left = Signal(range(p + 1))
        group_phase = Signal(2)
        group_warmup = Signal()
        group_first_step = Signal()
        with m.If(seq.valid & seq.last_col):
            m.d.comb += [prefetch_valid.eq(1), prefetch_cell.eq(seq.row_base),
                         prefetch_phase.eq(seq.phase), prefetch_warmup.eq(seq.warmup),
                         prefetch_first_step.eq(seq.first_step)]
            m.d.sync += [prefetch_next.eq(seq.row_base + 1), prefetch_left.eq(seq.rows - 1),
                         group_phase.eq(seq.phase), group_warmup.eq(seq.warmup),
                         group_first_step.eq(seq.first_step)]
        with m.Elif(prefetch_left != 0):
            m.d.comb += [prefetch_valid.eq(1), prefetch_cell.eq(prefetch_next),
                         prefetch_phase.eq(group_phase), prefetch_warmup.eq(group_warmup),
                         prefetch_first_step.eq(group_first_step)]
            m.d.sync += [prefetch_next.eq(prefetch_next + 1), prefetch_left.eq(prefetch_left - 1)]
        # Ring slot of the oldest word x is the phase (steps so far mod 4); the newest word w
        # sits in the slot before it. Slots not yet rewritten in this job are read from the
        # seed: x during the first four steps, w in the first step.
        x_slot = prefetch_phase
        w_slot = (prefetch_phase + 3)[:2]
        for parity in (0, 1):
            is_x = x_slot[0] == parity
            slot = Mux(is_x, x_slot, w_slot)
            from_seed = Mux(is_x, prefetch_warmup, prefetch_first_step)
            m.d.comb += word_rd[parity].addr.eq(
                Mux(busy, Cat(slot[1], prefetch_cell, ~from_seed), host_seed_addr))
        m.d.comb += b_rd.addr.eq(Mux(busy, prefetch_cell, offset))
        stepped_valid = Signal()
        stepped_phase = Signal(2)
        stepped_cell = Signal(row_bits)
        m.d.sync += [stepped_valid.eq(prefetch_valid), stepped_cell.eq(prefetch_cell),
                     stepped_phase.eq(prefetch_phase)]
        x_parity = stepped_phase[0]
        m.d.comb += [
            noise.x.eq(Mux(x_parity, word_rd[1].data, word_rd[0].data)),
            noise.w.eq(Mux(x_parity, word_rd[0].data, word_rd[1].data)),
            integrator.k.eq(job["k"]), integrator.b_shift.eq(job["b_shift"]),
            integrator.sigma_q.eq(job["sigma_q"]), integrator.sigma_shift.eq(job["sigma_shift"]),
            integrator.b.eq(b_rd.data), integrator.gaussian.eq(noise.gaussian),
        ]
        for parity, wr in enumerate(word_wr):   # the new word replaces x (host: seed writes)
            m.d.comb += [
                wr.addr.eq(Mux(busy, Cat(stepped_phase[1], stepped_cell, Const(1, 1)),
                               host_seed_addr)),
                wr.data.eq(Mux(busy, noise.word, bus.w_data)),
                wr.en.eq(Mux(busy, stepped_valid & (x_parity == parity), host_seed_write[parity])),
            ]

        # The row's tag and lane travel through the integrator's update stages with it.
        m.d.comb += integrator.in_tag.eq(Cat(mac.out_tag, mac.out_lane))
        out_tag = {}
        tag_offset = 0
        for name, width in tag_layout:
            out_tag[name] = integrator.out_tag[tag_offset:tag_offset + width]
            tag_offset += width
        out_lane = integrator.out_tag[tag_bits:]
        cell = Signal(row_bits)
        m.d.comb += [
            cell.eq(out_tag["row_base"] + out_lane),
            integrator.in_valid.eq(mac.out_valid),
            integrator.acc.eq(mac.out_sum),
            integrator.x_old.eq(mac.out_x_old),
            x_wr.addr.eq(Cat(cell, ~out_tag["parity"])),
            x_wr.data.eq(integrator.x_new),
            x_wr.en.eq(integrator.out_valid),
        ]
        # Counted a cycle later, from a register (keeps the counter off the update path).
        saturated = Signal()
        m.d.sync += saturated.eq(integrator.saturated)
        with m.If(saturated & (saturations != (1 << 32) - 1)):
            m.d.sync += saturations.eq(saturations + 1)

        # --- sampled states to the accumulators (registered) ---------------------------------
        sample_valid, sample_first, sample_last_cell = Signal(), Signal(), Signal()
        sample_buffer = Signal(2)
        m.d.sync += [
            written_valid.eq(integrator.out_valid), written_cell.eq(cell),
            written_buffer.eq(~out_tag["parity"]), written_x.eq(integrator.x_new),
            sample_valid.eq(integrator.out_valid & out_tag["sampled"]),
            sample_first.eq(out_tag["first_sample"]),
            sample_last_cell.eq(cell == job["n_active"] - 1),
            sample_buffer.eq(out_tag["sample_buffer"]),
        ]
        m.d.comb += [
            quantizer.x.eq(written_x),
            accs.start.eq(start), accs.n_active.eq(job["n_active"]),
            accs.moments.eq(job["moments"]),
            accs.in_valid.eq(sample_valid), accs.in_cell.eq(written_cell),
            accs.in_y.eq(quantizer.y), accs.in_first.eq(sample_first),
            accs.in_buffer.eq(sample_buffer), accs.in_last_cell.eq(sample_last_cell),
            accs.reserve.eq(seq.reserve),
        ]
        m.d.comb += pipeline_busy.eq(seq.running | d_valid | mac.busy | integrator.out_valid
                                     | saturated | sample_valid | accs.busy)

        status = Cat(busy, done, errors.any(), aborted, Const(0, 4), errors[8:])
        m.d.comb += [self.busy.eq(busy), self.done.eq(done), self.error.eq(errors.any())]

        # --- host reads: stage 0 decodes and addresses the memories, stage 1 selects,
        # stage 2 acknowledges --------------------------------------------------------------
        m.d.comb += [
            accs.host_access.eq(~busy),
            accs.host_sum_y_cell.eq(offset),
            accs.host_yy_row.eq(row), accs.host_yy_col.eq(col),
        ]
        s1_valid = Signal()
        s1_region = Signal(8)
        s1_offset = Signal(rm.OFFSET_BITS)
        s1_bank = Signal(max(1, lane_bits))
        s1_ok = Signal()
        s1_in_result = Signal()
        m.d.sync += [s1_valid.eq(bus.r_stb), s1_region.eq(region), s1_offset.eq(offset),
                     s1_bank.eq(bank_of_row)]
        has_samples = seq.samples_taken != 0
        m.d.sync += s1_in_result.eq(has_samples & Mux(
            region == rm.REGION_SUM_Y, offset < result_n,
            result_moments & (row <= col) & (col < result_n)))
        read_memory = (region >= rm.REGION_A) & (region <= rm.REGION_SUM_YY)
        with m.If(bus.r_stb):
            with m.If(read_memory & busy):
                m.d.comb += read_error.eq(rm.STATUS_READ_WHILE_BUSY)
                m.d.sync += s1_ok.eq(0)
            with m.Else():
                ok = Mux(region == rm.REGION_REGS, 1,
                         Mux((region == rm.REGION_A) | (region == rm.REGION_SUM_YY), in_matrix,
                             Mux(region == rm.REGION_SEEDS, below(offset, 4 * n),
                                 (region <= rm.REGION_SUM_YY) & below(offset, n))))
                m.d.sync += s1_ok.eq(ok)
                with m.If(~ok):
                    m.d.comb += read_error.eq(rm.STATUS_BAD_ADDRESS)

        info = {
            rm.REG_ID: rm.SPU_ID, rm.REG_VERSION: rm.GATEWARE_VERSION,
            **{reg: getattr(cfg, field_name) for reg, field_name in rm.INFO_REGISTERS.items()},
        }
        reg_value = Signal(64)
        with m.Switch(s1_offset):
            for reg, value in info.items():
                with m.Case(reg):
                    m.d.comb += reg_value.eq(value)
            for reg, sig, _, _ in job_regs.values():
                with m.Case(reg):
                    m.d.comb += reg_value.eq(sig)
            with m.Case(rm.REG_STATUS):
                m.d.comb += reg_value.eq(status)
            with m.Case(rm.REG_COUNT):
                m.d.comb += reg_value.eq(seq.samples_taken)
            with m.Case(rm.REG_SATURATIONS):
                m.d.comb += reg_value.eq(saturations)
            with m.Case(rm.REG_STEPS):
                m.d.comb += reg_value.eq(seq.steps)
            with m.Case(rm.REG_CYCLES):
                m.d.comb += reg_value.eq(cycles)

        a_value = Signal(cfg.a_bits)
        m.d.comb += a_value.eq(a_banks[0][1].data)
        for lane, (_, rd) in enumerate(a_banks[1:], start=1):
            with m.If(s1_bank == lane):
                m.d.comb += a_value.eq(rd.data)
        seed_word = Mux(s1_offset[0], word_rd[1].data, word_rd[0].data)
        read_value = Signal(64)
        with m.Switch(s1_region):
            with m.Case(rm.REGION_REGS):
                m.d.comb += read_value.eq(reg_value)
            with m.Case(rm.REGION_A):
                m.d.comb += read_value.eq(a_value.as_signed())
            with m.Case(rm.REGION_B):
                m.d.comb += read_value.eq(b_rd.data.as_signed())
            with m.Case(rm.REGION_SEEDS):
                m.d.comb += read_value.eq(seed_word)
            with m.Case(rm.REGION_SUM_Y):
                m.d.comb += read_value.eq(Mux(s1_in_result, accs.host_sum_y, 0))
            with m.Case(rm.REGION_SUM_YY):
                m.d.comb += read_value.eq(Mux(s1_in_result, accs.host_sum_yy, 0))
        m.d.sync += [bus.r_ack.eq(s1_valid), bus.r_data.eq(Mux(s1_valid & s1_ok, read_value, 0))]
        return m
