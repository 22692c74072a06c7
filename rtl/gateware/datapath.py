"""``Datapath``: the SPU's engines composed, from the step sequencer to the sample accumulators.

Data path (one Euler step; ``docs/gateware.md`` describes the schedule)::

    StepSequencer --(col j, group g; COLUMN_DELAY registers)--> A banks (P) + state buffer x[j]
        --> MacEngine (P lanes) --(one finished row per cycle)--> CellIntegrator --> new x[i]
    (CellPrefetch, from the sequencer's undelayed issue: b[i], generator words of cell i
     --> NoiseStep --> g, a pipeline of its own)
    new x[i] --> OutputQuantizer --> SampleAccumulators (sum_y; snapshot -> sum_yy passes)

Each column the sequencer issues carries a tag (:func:`column_tag_layout`) that travels with the
row through the MAC engine and the integrator, so that the new state knows its cell, its state
buffer and whether it is sampled.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec import regmap as rm
from ..spec.config import SPUConfig
from .accumulators import SampleAccumulators
from .block_ram import BlockRAM
from .control import StepSequencer
from .integrator import CellIntegrator
from .mac_engine import MacEngine
from .output_quantizer import OutputQuantizer
from .prefetch import CellPrefetch
from .read_path import memory_words_signature
from .register_file import job_layout

__all__ = ["Datapath", "column_tag_layout", "issue_layout"]


def column_tag_layout(config: SPUConfig) -> data.StructLayout:
    """What travels with a column through the MAC engine (and, with the row's lane, through the
    integrator): the group's first row, whether the step is the job's first, the state buffer
    it reads (``parity``, steps mod 2), whether it is sampled, the job's first sample, and the
    sample's snapshot buffer (sample index mod 4)."""
    return data.StructLayout({
        "row_base": range(config.n + config.lanes), "first_step": 1, "parity": 1,
        "sampled": 1, "first_sample": 1, "sample_buffer": 2,
    })


def issue_layout(config: SPUConfig) -> data.StructLayout:
    """A column as the sequencer issues it: ``valid``, the column ``col``, whether it is its
    group's first / last, the group's existing ``rows``, and the :func:`column_tag_layout` tag."""
    return data.StructLayout({
        "valid": 1, "col": config.log2_n, "first_col": 1, "last_col": 1,
        "rows": range(config.lanes + 1), "tag": column_tag_layout(config),
    })


class Datapath(wiring.Component):
    """Sequencer, coupling memory, MAC lanes, prefetch and noise, integrator, state buffers,
    quantizer and accumulators of one SPU.

    Parameters
    ----------
    config : SPUConfig
        The machine; ``lanes`` (P) a power of two.
    moment_lanes : int
        Multipliers of the second-moment passes, M (a power of two <= P).

    Members
    -------
    job : In(job_layout(config))
        The job registers, constant while ``busy``.
    start, abort : In(1)
        Strobes from the register file.
    busy : In(1)
        A job runs: the engines own the memories' ports (the host owns them otherwise).
    running : Out(1)
        Work is still in flight (steps to issue, sums, updates or accumulations).
    saturated : Out(1)
        A cell update was clamped, one cycle ago.
    samples_taken : Out(max_samples_log2 + 1)
    steps : Out(range(max_job_steps + 1))
        The sequencer's counts (COUNT and STEPS).
    host_offset : In(24)
        Host address offset (``regmap``); addresses the memories while idle.
    host_w_data : In(64)
        Host write data.
    host_write_a, host_write_b, host_write_seed : In(1)
        Accepted host writes to A, b and the seeds (checked by the register file).
    host_words : Out(memory_words_signature(config, moment_lanes))
        The memories' words at ``host_offset``, one cycle later (for the read path).
    """

    #: Cycles from a column reaching the memories' read addresses to the MAC engine's first
    #: finished row: the memories' read cycle, then MacEngine.LATENCY.
    MAC_LATENCY = 1 + MacEngine.LATENCY
    #: Registers between the sequencer and the coupling and state memories' read addresses: they
    #: give the prefetch (which starts from the undelayed issue and takes CellPrefetch.LATENCY
    #: cycles) its time, so a cell's b and g reach the integrator
    #: CellIntegrator.PREPARE_LATENCY cycles before its sum. Reads and writes of the state are
    #: delayed alike, so the step's cycles do not change.
    COLUMN_DELAY = CellPrefetch.LATENCY + CellIntegrator.PREPARE_LATENCY - MAC_LATENCY
    assert COLUMN_DELAY >= 1, "the memories' read addresses come from a register"
    #: Cycles from issuing a group's last column to the first cycle in which the next step may
    #: issue the column of its lane-0 row: the integrator's terms are prepared while the sum is
    #: computed, the new state is written CellIntegrator.UPDATE_LATENCY cycles after the sum
    #: leaves the MAC engine, and a read issued in that same cycle is served from a register
    #: holding the state just written.
    X_LATENCY = MAC_LATENCY - 1 + CellIntegrator.UPDATE_LATENCY

    def __init__(self, config: SPUConfig, moment_lanes: int):
        self.config = config
        self.moment_lanes = moment_lanes
        super().__init__({
            "job": In(job_layout(config)),
            "start": In(1),
            "abort": In(1),
            "busy": In(1),
            "running": Out(1),
            "saturated": Out(1),
            "samples_taken": Out(config.max_samples_log2 + 1),
            "steps": Out(range(config.max_job_steps + 1)),
            "host_offset": In(rm.OFFSET_BITS),
            "host_w_data": In(rm.DATA_BITS),
            "host_write_a": In(1),
            "host_write_b": In(1),
            "host_write_seed": In(1),
            "host_words": Out(memory_words_signature(config, moment_lanes)),
        })

    def _coupling_banks(self, m, seq):
        """A in P banks (row i in bank i mod P); returns the read ports, addressed by the
        (delayed) issued column ``seq`` while busy and by the host's offset otherwise."""
        cfg = self.config
        lane_bits = cfg.lanes.bit_length() - 1
        row, col = self.host_offset[cfg.log2_n:], self.host_offset[:cfg.log2_n]
        bank_addr = Cat(col, row[lane_bits:])
        rows_per_bank = -(-cfg.n // cfg.lanes)
        reads = []
        for lane in range(cfg.lanes):
            mem = BlockRAM(shape=cfg.a_bits, depth=rows_per_bank << cfg.log2_n)
            m.submodules[f"a_bank{lane}"] = mem
            wr, rd = mem.write_port(), mem.read_port()
            m.d.comb += [
                wr.addr.eq(bank_addr), wr.data.eq(self.host_w_data),
                wr.en.eq(self.host_write_a & (row[:lane_bits] == lane)),
                rd.addr.eq(Mux(self.busy, Cat(seq.col, seq.tag.row_base[lane_bits:]),
                                bank_addr)),
                self.host_words.a[lane].eq(rd.data),
            ]
            reads.append(rd)
        return reads

    def _issue_delay(self, m, seq):
        """The sequencer's issue through COLUMN_DELAY registers: returns the delayed issue and
        whether any stage holds a column."""
        issue = Signal(issue_layout(self.config))
        m.d.comb += [
            issue.valid.eq(seq.valid), issue.col.eq(seq.col), issue.first_col.eq(seq.first_col),
            issue.last_col.eq(seq.last_col), issue.rows.eq(seq.rows),
            issue.tag.row_base.eq(seq.row_base), issue.tag.first_step.eq(seq.first_step),
            issue.tag.parity.eq(seq.phase[0]), issue.tag.sampled.eq(seq.sampled),
            issue.tag.first_sample.eq(seq.first_sample),
            issue.tag.sample_buffer.eq(seq.sample_buffer),
        ]
        in_flight = []
        for stage in range(self.COLUMN_DELAY):
            delayed = Signal.like(issue, name=f"issue_delay{stage}")
            m.d.sync += delayed.eq(issue)
            issue = delayed
            in_flight.append(delayed.valid)
        return issue, Cat(in_flight).any()

    def _column_stage(self, m, seq, x_rd, mac, written):
        """Stage D: the (delayed) issued column's A words and state x[j] meet in the MAC engine.
        The state written in the cycle a column's read was issued (the memory's word is undefined
        then: :class:`~.block_ram.BlockRAM`) comes from the register that keeps the last written
        state."""
        p = self.config.lanes
        d_valid, d_first, d_last, d_first_step = Signal(), Signal(), Signal(), Signal()
        d_rows = Signal.like(seq.rows)
        d_tag = Signal(column_tag_layout(self.config))
        d_capture = Signal(p)
        d_col = Signal.like(seq.col)
        d_buffer = Signal()
        m.d.sync += [
            d_valid.eq(seq.valid), d_first.eq(seq.first_col), d_last.eq(seq.last_col),
            d_first_step.eq(seq.tag.first_step), d_rows.eq(seq.rows), d_tag.eq(seq.tag),
            d_capture.eq(Cat(seq.col == seq.tag.row_base + lane for lane in range(p))),
            d_col.eq(seq.col), d_buffer.eq(seq.tag.parity),
        ]
        forward = written.valid & (written.cell == d_col) & (written.buffer == d_buffer)
        m.d.comb += [
            mac.in_valid.eq(d_valid), mac.in_first.eq(d_first), mac.in_last.eq(d_last),
            mac.in_x.eq(Mux(d_first_step, 0, Mux(forward, written.x, x_rd.data))),
            mac.in_capture.eq(d_capture), mac.in_rows.eq(d_rows), mac.in_tag.eq(d_tag),
        ]
        return d_valid

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        job = self.job
        m.submodules.sequencer = seq = StepSequencer(cfg, self.X_LATENCY)
        tag_layout = column_tag_layout(cfg)
        m.submodules.mac = mac = MacEngine(cfg, tag_layout.size)
        row_layout = data.StructLayout({"tag": tag_layout, "lane": range(cfg.lanes)})
        m.submodules.integrator = integrator = CellIntegrator(cfg, tag_bits=row_layout.size)
        m.submodules.prefetch = prefetch = CellPrefetch(cfg)
        m.submodules.quantizer = quantizer = OutputQuantizer(cfg)
        m.submodules.accumulators = accs = SampleAccumulators(cfg, self.moment_lanes)
        # Two state buffers: step t reads buffer t mod 2 and writes the other.
        m.submodules.x_mem = x_mem = BlockRAM(shape=cfg.x_bits, depth=2 << cfg.log2_n)
        x_wr, x_rd = x_mem.write_port(), x_mem.read_port()

        m.d.comb += [
            seq.start.eq(self.start), seq.abort.eq(self.abort),
            seq.n_active.eq(job.n_active), seq.burn_in.eq(job.burn_in),
            seq.samples.eq(job.samples), seq.thin.eq(job.thin),
            seq.moments.eq(job.moments), seq.can_reserve.eq(accs.can_reserve),
            self.samples_taken.eq(seq.samples_taken), self.steps.eq(seq.steps),
        ]
        issue, issue_in_flight = self._issue_delay(m, seq)
        m.d.comb += x_rd.addr.eq(Cat(issue.col, issue.tag.parity))
        for lane, rd in enumerate(self._coupling_banks(m, issue)):
            m.d.comb += mac.in_a[lane].eq(rd.data)
        written = Signal(data.StructLayout({"valid": 1, "buffer": 1, "cell": cfg.log2_n,
                                            "x": signed(cfg.x_bits)}))
        d_valid = self._column_stage(m, issue, x_rd, mac, written)

        m.d.comb += [
            prefetch.group_valid.eq(seq.valid & seq.last_col),
            prefetch.row_base.eq(seq.row_base), prefetch.rows.eq(seq.rows),
            prefetch.phase.eq(seq.phase), prefetch.warmup.eq(seq.warmup),
            prefetch.first_step.eq(seq.first_step), prefetch.busy.eq(self.busy),
            prefetch.host_offset.eq(self.host_offset), prefetch.host_w_data.eq(self.host_w_data),
            prefetch.host_write_b.eq(self.host_write_b),
            prefetch.host_write_seed.eq(self.host_write_seed),
            self.host_words.b.eq(prefetch.host_b), self.host_words.seed.eq(prefetch.host_seed),
            integrator.k.eq(job.k), integrator.b_shift.eq(job.b_shift),
            integrator.sigma_q.eq(job.sigma_q), integrator.sigma_shift.eq(job.sigma_shift),
            integrator.b.eq(prefetch.b), integrator.gaussian.eq(prefetch.gaussian),
        ]

        # The row's tag and lane travel through the integrator's update stages with it.
        m.d.comb += integrator.in_tag.eq(Cat(mac.out_tag, mac.out_lane))
        out = data.View(row_layout, integrator.out_tag)
        cell = Signal(cfg.log2_n)
        m.d.comb += [
            cell.eq(out.tag.row_base + out.lane),
            integrator.in_valid.eq(mac.out_valid),
            integrator.acc.eq(mac.out_sum),
            integrator.x_old.eq(mac.out_x_old),
            x_wr.addr.eq(Cat(cell, ~out.tag.parity)),
            x_wr.data.eq(integrator.x_new),
            x_wr.en.eq(integrator.out_valid),
        ]
        # Registered: keeps the SATURATIONS counter off the update path.
        m.d.sync += self.saturated.eq(integrator.saturated)

        # --- sampled states to the accumulators (registered) -----------------------------------
        sample_valid, sample_first, sample_last_cell = Signal(), Signal(), Signal()
        sample_buffer = Signal(2)
        m.d.sync += [
            written.valid.eq(integrator.out_valid), written.cell.eq(cell),
            written.buffer.eq(~out.tag.parity), written.x.eq(integrator.x_new),
            sample_valid.eq(integrator.out_valid & out.tag.sampled),
            sample_first.eq(out.tag.first_sample),
            sample_last_cell.eq(cell == job.n_active - 1),
            sample_buffer.eq(out.tag.sample_buffer),
        ]
        m.d.comb += [
            quantizer.x.eq(written.x),
            accs.start.eq(self.start), accs.n_active.eq(job.n_active),
            accs.moments.eq(job.moments),
            accs.in_valid.eq(sample_valid), accs.in_cell.eq(written.cell),
            accs.in_y.eq(quantizer.y), accs.in_first.eq(sample_first),
            accs.in_buffer.eq(sample_buffer), accs.in_last_cell.eq(sample_last_cell),
            accs.reserve.eq(seq.reserve),
            accs.host_access.eq(~self.busy),
            accs.host_sum_y_cell.eq(self.host_offset),
            accs.host_yy_row.eq(self.host_offset[cfg.log2_n:]),
            accs.host_yy_col.eq(self.host_offset[:cfg.log2_n]),
            self.host_words.sum_y.eq(accs.host_sum_y),
            self.host_words.sum_yy.eq(accs.host_sum_yy),
            self.running.eq(seq.running | issue_in_flight | d_valid | mac.busy | integrator.busy
                            | self.saturated | sample_valid | accs.busy),
        ]
        return m
