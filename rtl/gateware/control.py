"""The step sequencer: walks the Euler steps of a job and the (group, column) sweep of each."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bounds import below
from ..spec.config import BURN_IN_BITS, THIN_BITS, SPUConfig

__all__ = ["StepSequencer"]


class StepSequencer(wiring.Component):
    """Issues one coupling-sum column per cycle: for each Euler step, for each group of P rows
    (row base g*P < n_active), columns j = 0 ... n_active-1. The MAC lanes consume them.

    Between steps it inserts ``max(0, x_latency - last_row_base)`` idle cycles, where
    ``x_latency`` is the core's latency from issuing a column to the new state of that row being
    readable: the next step reads x_q[j] while the last group's new states are still being
    written, and this gap (zero once the last group starts at row >= x_latency) makes every read
    come after its write. Before a sampled step with moments on it also waits for a free
    snapshot buffer (``can_reserve``).

    Sampling: step t (1-based) is sampled when t > burn_in and (t - burn_in) % thin == 0; the
    job ends after the ``samples``-th sampled step, or at the first step boundary after
    ``abort``.

    Parameters
    ----------
    config : SPUConfig
    x_latency : int
        Cycles from issuing column j of a group to the cycle in which the new x of row
        (row base + l) is written, minus l (the core's pipeline depth).

    Members
    -------
    start : In(1)
        Begin a job (idle only).
    abort : In(1)
        Stop at the next step boundary.
    n_active, burn_in, samples, thin, moments : In
        Job registers, constant during a job.
    can_reserve : In(1)
        A second-moment snapshot buffer is free.
    running : Out(1)
        The job has steps left to issue (high from the cycle after ``start``).
    valid : Out(1)
        A column is issued this cycle; the fields below describe it.
    col : Out(row_bits)
        Column j.
    row_base : Out(range(N + P))
        First row of the group, g*P.
    first_col, last_col : Out(1)
        j = 0 / j = n_active - 1.
    last_group : Out(1)
        The group is the step's last.
    rows : Out(range(P + 1))
        Rows of the group that exist: min(P, n_active - row_base).
    first_step : Out(1)
        The step is the job's first (the state is all zeros; generators start from the seeds).
    phase : Out(2)
        Steps before this one, mod 4: bit 0 selects the state buffer the step reads, both bits
        the head of the generators' word rings.
    warmup : Out(1)
        One of the job's first four steps (the ring still holds words that only the seed
        memory has).
    sampled : Out(1)
        The step is sampled.
    first_sample : Out(1)
        ... and it is the job's first sample.
    sample_buffer : Out(range(4))
        Sample index mod 4 (its second-moment snapshot buffer).
    reserve : Out(1)
        Strobe: a sampled step with moments on begins (takes a snapshot buffer).
    steps : Out(range(max_job_steps + 1))
        Steps begun.
    samples_taken : Out(max_samples_log2 + 1)
        Sampled steps begun.
    """

    def __init__(self, config: SPUConfig, x_latency: int):
        self.config = config
        self.x_latency = x_latency
        n, p = config.n, config.lanes
        super().__init__({
            "start": In(1),
            "abort": In(1),
            "n_active": In(range(n + 1)),
            "burn_in": In(BURN_IN_BITS),
            "samples": In(config.max_samples_log2 + 1),
            "thin": In(THIN_BITS),
            "moments": In(1),
            "can_reserve": In(1),
            "running": Out(1),
            "valid": Out(1),
            "col": Out(config.log2_n),
            "row_base": Out(range(n + p)),
            "first_col": Out(1),
            "last_col": Out(1),
            "last_group": Out(1),
            "rows": Out(range(p + 1)),
            "first_step": Out(1),
            "phase": Out(2),
            "warmup": Out(1),
            "sampled": Out(1),
            "first_sample": Out(1),
            "sample_buffer": Out(range(4)),
            "reserve": Out(1),
            "steps": Out(range(config.max_job_steps + 1)),
            "samples_taken": Out(config.max_samples_log2 + 1),
        })

    def _next_sampled(self, m, next_sampled, next_reserves, value):
        """Set the registers saying the next step is sampled (``value``) and so takes a snapshot
        buffer (moments on)."""
        m.d.sync += [next_sampled.eq(value), next_reserves.eq(value & self.moments)]

    def elaborate(self, platform):
        cfg = self.config
        p = cfg.lanes
        m = Module()
        burn_left = Signal(BURN_IN_BITS)
        thin_left = Signal(THIN_BITS)
        final_step = Signal()
        abort_pending = Signal()
        gap_left = Signal(range(self.x_latency + 1))
        waiting = Signal()   # running, between steps

        # burn_left == 0 and thin_left == 1, kept in registers next to the counters so that
        # deciding whether the next step is sampled (and may begin) needs no wide comparison;
        # whether it is (and takes a snapshot buffer) in registers of their own, set with them.
        burn_over = Signal()
        thin_due = Signal()
        next_sampled = Signal()
        next_reserves = Signal()     # next_sampled & moments
        end_of_step = self.valid & self.last_col & self.last_group
        remaining = self.n_active - self.row_base
        # max(0, x_latency - row_base), a register set with row_base (as last_col and
        # last_group are), so no subtraction lies on the path into the step-boundary decision.
        gap_after = Signal(range(self.x_latency + 1), init=self.x_latency)
        may_begin = ~abort_pending & ~self.abort & (~next_reserves | self.can_reserve)
        begin = Signal()
        with m.If(waiting):
            m.d.comb += begin.eq(may_begin & (gap_left <= 1))
        with m.Elif(end_of_step & ~final_step):
            m.d.comb += begin.eq(may_begin & (gap_after == 0))

        # last_col (col = n_active - 1) and last_group (row_base + P >= n_active) are registers,
        # set with col and row_base, so that no comparison with n_active lies on the path from
        # the counters to the step-boundary decision.
        m.d.comb += [
            self.first_col.eq(self.col == 0),
            self.reserve.eq(begin & next_reserves),
        ]
        with m.If(self.valid & ~self.last_col):
            m.d.sync += [self.col.eq(self.col + 1), self.last_col.eq(self.col + 2 == self.n_active)]
        with m.Elif(self.valid & ~self.last_group):
            m.d.sync += [self.col.eq(0), self.last_col.eq(self.n_active == 1),
                         self.row_base.eq(self.row_base + p),
                         gap_after.eq(Mux(self.row_base + p >= self.x_latency, 0,
                                          self.x_latency - (self.row_base + p))),
                         self.last_group.eq(self.row_base + 2 * p >= self.n_active),
                         self.rows.eq(Mux(remaining - p >= p, p, remaining - p))]
        with m.Elif(end_of_step):
            m.d.sync += [self.valid.eq(0), waiting.eq(~final_step), self.running.eq(~final_step),
                         gap_left.eq(gap_after)]
        with m.If(waiting & (gap_left != 0)):
            m.d.sync += gap_left.eq(gap_left - 1)
        with m.If(waiting & (abort_pending | self.abort)):
            m.d.sync += [waiting.eq(0), self.running.eq(0)]
        with m.If(self.abort & self.running):
            m.d.sync += abort_pending.eq(1)

        with m.If(begin):
            m.d.sync += [
                self.valid.eq(1), waiting.eq(0), self.running.eq(1),
                self.col.eq(0), self.last_col.eq(self.n_active == 1),
                self.row_base.eq(0), gap_after.eq(self.x_latency),
                self.last_group.eq(self.n_active <= p),
                self.rows.eq(Mux(self.n_active >= p, p, self.n_active)),
                self.first_step.eq(self.steps == 0),
                self.phase.eq(self.steps[:2]),
                self.warmup.eq(below(self.steps, 4)),
                self.sampled.eq(next_sampled),
                self.first_sample.eq(next_sampled & (self.samples_taken == 0)),
                self.sample_buffer.eq(self.samples_taken[:2]),
                final_step.eq(next_sampled & (self.samples_taken + 1 == self.samples)),
                self.steps.eq(self.steps + 1),
                self.samples_taken.eq(self.samples_taken + next_sampled),
            ]
            with m.If(~burn_over):
                m.d.sync += [burn_left.eq(burn_left - 1), burn_over.eq(burn_left == 1)]
                self._next_sampled(m, next_sampled, next_reserves, (burn_left == 1) & thin_due)
            with m.Else():
                due = Mux(thin_due, self.thin == 1, thin_left == 2)
                m.d.sync += [thin_left.eq(Mux(thin_due, self.thin, thin_left - 1)),
                             thin_due.eq(due)]
                self._next_sampled(m, next_sampled, next_reserves, due)

        with m.If(self.start):
            m.d.sync += [
                self.running.eq(1), waiting.eq(1), self.valid.eq(0), gap_left.eq(0),
                abort_pending.eq(0), burn_left.eq(self.burn_in), thin_left.eq(self.thin),
                burn_over.eq(self.burn_in == 0), thin_due.eq(self.thin == 1),
                self.steps.eq(0), self.samples_taken.eq(0),
            ]
            self._next_sampled(m, next_sampled, next_reserves,
                               (self.burn_in == 0) & (self.thin == 1))
        return m
