"""P multiply-accumulate lanes computing the coupling sums of a group of P rows."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import SPUConfig
from .bank_select import BANK_GROUP, bank_groups
from .replica import replicated_register

__all__ = ["MacEngine"]


class MacEngine(wiring.Component):
    """P lanes, each owning one row of the current group: lane l of group g computes
    ``acc = sum_j a_q[g*P + l, j] * x_q[j]`` while column j's state is broadcast to all lanes,
    one column per cycle, so a group of P rows takes n_active cycles. When the group's last
    column has entered, the P sums move into a hand-off shift register and leave one per cycle
    (lane 0 first) towards the integrator while the lanes already work on the next group.

    Pipeline: column data in cycle D -> operands registered -> products registered ->
    accumulated in D+2 (and moved to the hand-off register when ``in_last``) -> lane l's sum on
    the output in cycle D+3+l (:attr:`LATENCY` = 3 to lane 0). The operand registers keep the
    memories' read data (block RAM clock-to-out and the routing of the x broadcast) off the
    multipliers' paths; on an iCE40 they are the SB_MAC16's own input registers. The x register
    has a copy per group of :data:`~.bank_select.BANK_GROUP` lanes (:mod:`.replica`). The hand-off
    register is free again after ``in_rows`` cycles, so groups may follow each other back to
    back as long as a group has at least as many columns as valid rows (true because a group's
    valid rows are at most n_active).

    Parameters
    ----------
    config : SPUConfig
    tag_bits : int
        Width of an opaque group tag passed from ``in_tag`` (sampled with ``in_last``) to every
        output of that group (the core uses it for the row base and the step's flags).

    Members
    -------
    in_valid : In(1)
        A column enters this cycle.
    in_first, in_last : In(1)
        It is the group's first (j = 0) / last (j = n_active - 1) column.
    in_a : In(ArrayLayout(signed(a_bits), P))
        a_q[g*P + l, j] for each lane l (from the lane's coupling-memory bank), Q1.fa codes.
    in_x : In(signed(x_bits))
        x_q[j], Q1.fx, broadcast to all lanes.
    in_capture : In(P)
        One-hot: the lane whose row index equals j keeps x_q[j] as its cell's old state.
    in_rows : In(range(P + 1))
        With ``in_last``: how many of the group's rows exist (min(P, n_active - g*P)).
    in_tag : In(tag_bits)
        With ``in_last``: the group's tag.
    out_valid : Out(1)
        A finished row leaves.
    out_lane : Out(range(P))
        Its lane (row = g*P + out_lane).
    out_sum : Out(signed(fine_bits))
        Its coupling sum (exact; units 2**-(fa+fx)).
    out_x_old : Out(signed(x_bits))
        Its cell's state x_q[row] of the step (the captured broadcast value).
    out_tag : Out(tag_bits)
        Its group's tag.
    busy : Out(1)
        A column or a sum is somewhere in the engine.
    """

    #: Cycles from a column's data on the inputs to lane 0's sum on the output.
    LATENCY = 3

    def __init__(self, config: SPUConfig, tag_bits: int):
        if tag_bits < 1:
            raise ValueError(f"tag_bits must be at least 1, got {tag_bits}")
        self.config = config
        p = config.lanes
        super().__init__({
            "in_valid": In(1),
            "in_first": In(1),
            "in_last": In(1),
            "in_a": In(data.ArrayLayout(signed(config.a_bits), p)),
            "in_x": In(signed(config.x_bits)),
            "in_capture": In(p),
            "in_rows": In(range(p + 1)),
            "in_tag": In(tag_bits),
            "out_valid": Out(1),
            "out_lane": Out(range(p)),
            "out_sum": Out(signed(config.fine_bits)),
            "out_x_old": Out(signed(config.x_bits)),
            "out_tag": Out(tag_bits),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        p = cfg.lanes
        m = Module()
        product_bits = cfg.a_bits + cfg.x_bits
        # The operand and product registers hold data only (no reset: after one, the reset valid
        # flags beside them keep what they hold unused), so synthesis can keep them inside the
        # DSP blocks (input and pipeline registers).
        products = [Signal(signed(product_bits), name=f"product{l}", reset_less=True)
                    for l in range(p)]
        accs = [Signal(signed(cfg.fine_bits), name=f"acc{l}") for l in range(p)]
        captured = [Signal(signed(cfg.x_bits), name=f"x_old{l}") for l in range(p)]
        # Operand stage: the column as it came in, registered.
        d0_valid, d0_first, d0_last = Signal(), Signal(), Signal()
        d0_rows = Signal(range(p + 1))
        d0_tag = Signal.like(self.in_tag)
        d0_capture = Signal(p)
        d0_a = Signal.like(self.in_a, reset_less=True)
        # x_q[j] registered once per group of BANK_GROUP lanes, next to their multipliers.
        d0_x = replicated_register(m, platform, self.in_x, bank_groups(p), "d0_x")
        m.d.sync += [d0_valid.eq(self.in_valid), d0_first.eq(self.in_first),
                     d0_last.eq(self.in_valid & self.in_last), d0_rows.eq(self.in_rows),
                     d0_tag.eq(self.in_tag), d0_capture.eq(self.in_capture),
                     d0_a.eq(self.in_a)]

        # Product stage.
        d1_valid, d1_first, d1_last = Signal(), Signal(), Signal()
        d1_rows = Signal(range(p + 1))
        d1_tag = Signal.like(self.in_tag)
        m.d.sync += [d1_valid.eq(d0_valid), d1_first.eq(d0_first), d1_last.eq(d0_last),
                     d1_rows.eq(d0_rows), d1_tag.eq(d0_tag)]
        for l in range(p):
            x = d0_x[l // BANK_GROUP]
            m.d.sync += products[l].eq(d0_a[l] * x)
            with m.If(d0_valid & d0_capture[l]):
                m.d.sync += captured[l].eq(x)

        # Hand-off shift register: entry 0 is on the output.
        handoff_sum = [Signal(signed(cfg.fine_bits), name=f"handoff_sum{l}") for l in range(p)]
        handoff_x = [Signal(signed(cfg.x_bits), name=f"handoff_x{l}") for l in range(p)]
        remaining = Signal(range(p + 1))
        lane = Signal(range(p))
        tag = Signal.like(self.in_tag)

        sums = []
        for l in range(p):
            total = Signal(signed(cfg.fine_bits), name=f"sum{l}")
            m.d.comb += total.eq(products[l] + Mux(d1_first, 0, accs[l]))
            sums.append(total)
            with m.If(d1_valid):
                m.d.sync += accs[l].eq(total)

        with m.If(d1_last):
            m.d.sync += [remaining.eq(d1_rows), lane.eq(0), tag.eq(d1_tag)]
            for l in range(p):
                m.d.sync += [handoff_sum[l].eq(sums[l]), handoff_x[l].eq(captured[l])]
        with m.Elif(remaining != 0):
            m.d.sync += [remaining.eq(remaining - 1), lane.eq(lane + 1)]
            for l in range(p - 1):
                m.d.sync += [handoff_sum[l].eq(handoff_sum[l + 1]), handoff_x[l].eq(handoff_x[l + 1])]

        m.d.comb += [
            self.out_valid.eq(remaining != 0),
            self.out_lane.eq(lane),
            self.out_sum.eq(handoff_sum[0]),
            self.out_x_old.eq(handoff_x[0]),
            self.out_tag.eq(tag),
            self.busy.eq(d0_valid | d1_valid | (remaining != 0)),
        ]
        return m
