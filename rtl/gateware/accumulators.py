"""Sample accumulators: sum_y (one adder) and the upper triangle of sum_y y^T (P lanes)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import SPUConfig
from .bank_select import BANK_GROUP, bank_groups, group_words
from .block_ram import BlockRAM
from .replica import replicated_register

__all__ = ["SampleAccumulators"]

#: Snapshot buffers of y: a sample's second moments are accumulated from its own snapshot while
#: the following steps run and write later snapshots.
Y_BUFFERS = 4
#: Cycles a moment pass waits, after the previous one issued its last element, when n_active <= 2
#: (until its three stages are empty).
PASS_DRAIN_CYCLES = 4


class SampleAccumulators(wiring.Component):
    """The sample accumulators of the SPU.

    **First moments.** Each sampled cell's output code y_i enters on ``in_*`` (one per cycle,
    from the integrator); ``sum_y[i] += y_i`` is a read-modify-write of a memory of N words
    (``sum_x_bits`` wide) with one adder. The job's first sample writes y_i instead of adding, so
    nothing has to be cleared at start.

    **Second moments** (``moments`` on). The sampled y are also written to one of
    :data:`Y_BUFFERS` snapshot buffers. When a sample's last cell has arrived, a *moment pass*
    over that snapshot adds ``y_i * y_j`` to ``sum_yy[i, j]`` for all i <= j < n_active, with its
    own M multipliers (out_bits x out_bits, M = ``lanes``): lane l owns rows i = g*M + l (bank l
    of the ``sum_yy`` memory, word ``((i >> log2 M) << row_bits) | j``), y_j is broadcast for
    j = g*M ... n_active-1 from a register and lane l works when i <= j. Back-to-back passes
    start ``sum_g (n - g*M) ~ n**2 / (2M) + n/2`` cycles apart (:data:`PASS_DRAIN_CYCLES` more
    for n_active <= 2, where a pass waits for the previous one's writes); with M = P that is at
    most an Euler step, so passes keep up with sampling at any thinning. The step sequencer
    waits (``can_reserve``) only when all snapshot buffers hold samples whose pass has not
    finished.

    Parameters
    ----------
    config : SPUConfig
    lanes : int or None
        Moment lanes M, a power of two <= N (default: the MAC lanes P).

    Members
    -------
    start : In(1)
        A job starts: forget outstanding passes, the next pass is the job's first.
    n_active : In(range(N + 1)), moments : In(1)
        Job registers, constant during a job and set at least a cycle before ``start`` (the
        core's register file guarantees it: its start strobe leaves a register).
    in_valid : In(1)
        A sampled cell's output code arrives.
    in_cell : In(row_bits)
        Its index i.
    in_y : In(signed(out_bits))
        Its output code y_i, Q1.fy.
    in_first : In(1)
        It belongs to the job's first sample (write instead of add).
    in_buffer : In(range(4))
        The snapshot buffer of its sample (sample index mod 4).
    in_last_cell : In(1)
        It is the sample's last cell (i = n_active - 1): its moment pass may start.
    reserve : In(1)
        The sequencer starts a sampled step (moments on): a snapshot buffer is taken until that
        sample's pass has finished.
    can_reserve : Out(1)
        A snapshot buffer is free.
    busy : Out(1)
        An update or a pass is in progress or pending.
    host_access : In(1)
        The host owns the read ports (the core is idle).
    host_sum_y_cell : In(row_bits)
        Cell whose sum_y the host reads; the value is on ``host_sum_y`` one cycle later.
    host_sum_y : Out(signed(sum_x_bits))
    host_yy_row, host_yy_col : In(row_bits)
        (i, j) of the sum_yy entry the host reads.
    host_sum_yy : Out(ArrayLayout(signed(sum_xx_bits), bank_groups(M)))
        One cycle later, the word at (i, j) in each group of :data:`~.bank_select.BANK_GROUP`
        banks (the first level of the host's bank selection; the read path picks the group of
        bank i mod M, :func:`~.bank_select.group_index`).
    """

    def __init__(self, config: SPUConfig, lanes: int | None = None):
        self.config = config
        self.lanes = config.lanes if lanes is None else lanes
        if isinstance(self.lanes, bool) or not isinstance(self.lanes, int) or self.lanes < 1 \
                or self.lanes & (self.lanes - 1) or self.lanes > config.n:
            raise ValueError(f"moment lanes must be a power of two in [1, N={config.n}], "
                             f"got {self.lanes!r}")
        n = config.n
        super().__init__({
            "start": In(1),
            "n_active": In(range(n + 1)),
            "moments": In(1),
            "in_valid": In(1),
            "in_cell": In(config.log2_n),
            "in_y": In(signed(config.out_bits)),
            "in_first": In(1),
            "in_buffer": In(range(Y_BUFFERS)),
            "in_last_cell": In(1),
            "reserve": In(1),
            "can_reserve": Out(1),
            "busy": Out(1),
            "host_access": In(1),
            "host_sum_y_cell": In(config.log2_n),
            "host_sum_y": Out(signed(config.sum_x_bits)),
            "host_yy_row": In(config.log2_n),
            "host_yy_col": In(config.log2_n),
            "host_sum_yy": Out(data.ArrayLayout(signed(config.sum_xx_bits),
                                                bank_groups(self.lanes))),
        })

    def _moment_lane(self, m, l, bank, y_snapshot, y_col, take_row, first):
        """Lane ``l``'s multiplier and adder: its row's y_i (``y_row``, taken from the snapshot's
        read data ``y_snapshot`` when ``take_row``, the cycle ``y_col`` takes it on the
        diagonal) times y_j (``y_col``, its group's copy) in stage 2; in stage 3 its bank's write
        data, old word + product (the product alone in the job's ``first`` pass)."""
        cfg = self.config
        rd, wr = bank
        y_row = Signal(signed(cfg.out_bits), name=f"y_row{l}")
        with m.If(take_row):
            m.d.sync += y_row.eq(y_snapshot)
        # Data only (no reset; the write enable says when it is used): kept inside the DSP block.
        product = Signal(signed(2 * cfg.out_bits), name=f"yy_product{l}", reset_less=True)
        old = Signal(signed(cfg.sum_xx_bits), name=f"yy_old{l}")
        m.d.sync += [product.eq(y_row * y_col), old.eq(rd.data)]
        m.d.comb += wr.data.eq(Mux(first, 0, old) + product)

    def elaborate(self, platform):
        cfg = self.config
        n, p = cfg.n, self.lanes
        row_bits = cfg.log2_n
        lane_bits = p.bit_length() - 1
        m = Module()

        # --- first moments ----------------------------------------------------------------
        m.submodules.sum_y = sum_y = BlockRAM(shape=signed(cfg.sum_x_bits), depth=n)
        sum_y_rd, sum_y_wr = sum_y.read_port(), sum_y.write_port()
        r1_valid, r1_first = Signal(), Signal()
        r1_cell = Signal(row_bits)
        r1_y = Signal(signed(cfg.out_bits))
        m.d.sync += [r1_valid.eq(self.in_valid), r1_first.eq(self.in_first),
                     r1_cell.eq(self.in_cell), r1_y.eq(self.in_y)]
        m.d.comb += [
            sum_y_rd.addr.eq(Mux(self.host_access, self.host_sum_y_cell, self.in_cell)),
            sum_y_wr.addr.eq(r1_cell),
            sum_y_wr.data.eq(Mux(r1_first, 0, sum_y_rd.data) + r1_y),
            sum_y_wr.en.eq(r1_valid),
            self.host_sum_y.eq(sum_y_rd.data),
        ]

        # --- snapshot buffers -------------------------------------------------------------
        m.submodules.y_buffers = y_buffers = BlockRAM(
            shape=signed(cfg.out_bits), depth=Y_BUFFERS << row_bits)
        y_wr, y_rd = y_buffers.write_port(), y_buffers.read_port()
        m.d.comb += [
            y_wr.addr.eq(Cat(self.in_cell, self.in_buffer)),
            y_wr.data.eq(self.in_y),
            y_wr.en.eq(self.in_valid & self.moments),
        ]

        # --- moment passes: control ---------------------------------------------------------
        outstanding = Signal(range(Y_BUFFERS + 1))   # reserved snapshots whose pass is not done
        pending = Signal(range(Y_BUFFERS + 1))       # complete snapshots whose pass has not begun
        first_pending = Signal()     # the job's next pass is its first (write, do not add)
        next_buffer = Signal(range(Y_BUFFERS))
        pass_first = Signal()
        pass_buffer = Signal(range(Y_BUFFERS))
        running = Signal()
        row_base = Signal(range(n + p))
        col = Signal(row_bits)
        # col == n_active - 1 and row_base + P >= n_active, registers set with col and row_base
        # (as in the step sequencer), so no comparison with n_active lies on the path into the
        # pass control's enables.
        last_col, last_group = Signal(), Signal()
        sweep_ends = running & last_col & last_group
        words = ((n + p - 1) // p) << row_bits

        # The pass's pipeline: the control issues (i-group, j) in cycle t and reads y_j from the
        # snapshot; stage 1 (t+1) addresses every bank's word and, on the diagonal (a flag
        # registered in t), loads the lane's y_row from the snapshot's read data; stage 2 (t+2)
        # has y_j in a register (a copy per group of BANK_GROUP lanes), the banks' old words
        # out and the multipliers' operands straight from registers; stage 3 (t+3) writes
        # old + product. The snapshot's read data, the diagonal's comparison and the y_j
        # broadcast are thus a register away from the multipliers (on the ULX3S, block RAM
        # clock-to-out -> diagonal select -> multiplier was the critical path, 20.9 ns, then
        # the y_j register -> diagonal select -> multiplier, 14.4 ns).
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_row_base = Signal.like(row_base)
        s1_col = Signal.like(col)
        s1_diagonal = Signal(p)      # lane l's row is j
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_addr = Signal(range(words))
        s2_works = Signal(p)         # lane l's row i = g*M + l has i <= j < n_active
        s3_valid, s3_first = Signal(), Signal()
        s3_addr = Signal(range(words))
        s3_write = Signal(p)

        banks = []
        for l in range(p):
            mem = BlockRAM(shape=signed(cfg.sum_xx_bits), depth=words)
            m.submodules[f"sum_yy_bank{l}"] = mem
            banks.append((mem.read_port(), mem.write_port()))

        pass_done = s2_last
        # A pass may begin in the cycle the previous one issues its last element: its reads of
        # group 0 then trail that pass's writes of the same words by more than the 2-cycle
        # read-modify-write latency (read in stage 1, write in stage 3) whenever n_active > 2;
        # smaller problems wait until the pipeline is empty (PASS_DRAIN_CYCLES).
        flushed = ~s1_valid & ~s2_valid & ~s3_valid
        # Comparisons of n_active (constant while a job runs) kept in registers, off the paths
        # into the pass control's enables.
        overlapping, one_cell, one_group = Signal(), Signal(), Signal()
        m.d.sync += [overlapping.eq(self.n_active > 2), one_cell.eq(self.n_active == 1),
                     one_group.eq(self.n_active <= p)]
        pass_begins = (pending != 0) & Mux(overlapping, ~running | sweep_ends, ~running & flushed)
        trigger = self.in_valid & self.in_last_cell & self.moments
        m.d.sync += pending.eq(pending + trigger - pass_begins)
        m.d.sync += outstanding.eq(outstanding + self.reserve - pass_done)
        m.d.comb += self.can_reserve.eq(outstanding < Y_BUFFERS)

        with m.If(pass_begins):
            m.d.sync += [running.eq(1), row_base.eq(0), col.eq(0), pass_buffer.eq(next_buffer),
                         next_buffer.eq(next_buffer + 1), pass_first.eq(first_pending),
                         first_pending.eq(0), last_col.eq(one_cell), last_group.eq(one_group)]
        with m.Elif(running):
            with m.If(last_col):
                with m.If(last_group):
                    m.d.sync += running.eq(0)
                with m.Else():
                    m.d.sync += [row_base.eq(row_base + p), col.eq(row_base + p),
                                 last_col.eq(row_base + p + 1 == self.n_active),
                                 last_group.eq(row_base + 2 * p >= self.n_active)]
            with m.Else():
                m.d.sync += [col.eq(col + 1), last_col.eq(col + 2 == self.n_active)]
        with m.If(self.start):
            m.d.sync += [outstanding.eq(0), pending.eq(0), first_pending.eq(1),
                         next_buffer.eq(0), running.eq(0)]

        # --- moment passes: stages --------------------------------------------------------------
        m.d.comb += y_rd.addr.eq(Cat(col, pass_buffer))
        m.d.sync += [s1_valid.eq(running), s1_first.eq(pass_first), s1_last.eq(sweep_ends),
                     s1_row_base.eq(row_base), s1_col.eq(col)]
        m.d.sync += [s1_diagonal[l].eq(row_base + l == col) for l in range(p)]
        s1_addr = Cat(s1_col, s1_row_base[lane_bits:])     # bank word of (row group, column)
        host_group = self.host_yy_row[lane_bits:]
        for rd, _ in banks:
            m.d.comb += rd.addr.eq(Mux(self.host_access, Cat(self.host_yy_col, host_group),
                                       s1_addr))
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last),
                     s2_addr.eq(s1_addr)]
        y_col = replicated_register(m, platform, y_rd.data, bank_groups(p), "y_col")
        for l in range(p):
            row = s1_row_base + l
            m.d.sync += s2_works[l].eq(s1_valid & (row <= s1_col) & (row < self.n_active))
        m.d.sync += [s3_valid.eq(s2_valid), s3_first.eq(s2_first), s3_addr.eq(s2_addr),
                     s3_write.eq(s2_works)]
        for l, bank in enumerate(banks):
            self._moment_lane(m, l, bank, y_rd.data, y_col[l // BANK_GROUP],
                              s1_valid & s1_diagonal[l], s3_first)
            m.d.comb += [bank[1].addr.eq(s3_addr), bank[1].en.eq(s3_write[l])]

        host_bank = Signal(max(1, lane_bits))
        m.d.sync += host_bank.eq(self.host_yy_row[:lane_bits])
        groups = group_words(m, [rd.data for rd, _ in banks], host_bank, "host_yy")
        m.d.comb += [self.host_sum_yy[g].eq(word) for g, word in enumerate(groups)]

        m.d.comb += self.busy.eq(r1_valid | (outstanding != 0) | (pending != 0) | running
                                 | s1_valid | s2_valid | s3_valid)
        return m
