"""The cell integrator: one Euler--Maruyama update of one cell per cycle, pipelined."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import K_MAX, SPUConfig
from .noise import GAUSSIAN_BITS

__all__ = ["CellIntegrator"]


class CellIntegrator(wiring.Component):
    """``x <- clamp(x + ((fine + 2**(S-1)) >> S))`` with
    ``fine = (b << b_shift) - acc + ((sigma_q * g) << sigma_shift)`` and ``S = fa + k``: the
    golden model's update of one cell (``rtl/spec/golden.py``), bit for bit.

    The terms that do not depend on the coupling sum are prepared ahead: a cell's ``b`` and
    ``gaussian`` enter :attr:`PREPARE_LATENCY` cycles before its ``acc`` and ``x_old``; the first
    stage registers the bias shift and the noise product (the one multiplier, sigma_bits x 11),
    the second aligns the noise (the shift by sigma_shift) and adds the rounding constant to the
    bias, the third adds the two. When ``acc`` arrives, one register stage
    subtracts it, the next rounds (the shift by S); the addition of the old state and the clamp
    are combinational after it, so the new state is ready :attr:`UPDATE_LATENCY` = 2 cycles
    after the coupling sum (part of what a step waits for when all its rows fit one group; the
    subtraction's carry chain followed by the shifter was the iCE40 default's longest path,
    33 ns). A cell may enter every cycle. Intermediate sums are
    :attr:`fine_width` bits (``fine_bits``, or more when the noise term needs it), so nothing
    wraps.

    Parameters
    ----------
    config : SPUConfig
    tag_bits : int
        Width of a tag that travels with each cell through the update stage (the core's cell
        index and sampling flags), ``in_tag`` to ``out_tag``.

    Members
    -------
    k, b_shift, sigma_q, sigma_shift : In(unsigned)
        Job registers (held constant during a job), in the ranges of ``JobParams.validate``.
    b : In(signed(b_bits))
        The cell's bias code (prepare stage).
    gaussian : In(signed(11))
        The cell's noise draw g for this step, in [-510, 510] (prepare stage).
    in_valid : In(1)
        The cell's coupling sum arrives, PREPARE_LATENCY cycles after its b and g.
    acc : In(signed(fine_bits))
        Its coupling sum ``sum_j a_q[i, j] * x_q[j]`` (exact integer, units 2**-(fa+fx)).
    x_old : In(signed(x_bits))
        Its state before the step, Q1.fx.
    in_tag : In(tag_bits)
        Carried along with the cell.
    out_valid : Out(1)
        ``in_valid``, UPDATE_LATENCY cycles later.
    x_new : Out(signed(x_bits))
        The new state, Q1.fx, clamped to [-2**fx, 2**fx - 1], while ``out_valid``.
    out_tag : Out(tag_bits)
        The cell's ``in_tag``.
    saturated : Out(1)
        The update was clamped at a rail (counts towards SATURATIONS), while ``out_valid``.
    busy : Out(1)
        A cell is in the update stages (``out_valid`` included).
    """

    #: Cycles from ``b``/``gaussian`` to the same cell's ``acc``/``x_old``.
    PREPARE_LATENCY = 3
    #: Cycles from ``acc``/``x_old`` to the cell's ``x_new``.
    UPDATE_LATENCY = 2

    def __init__(self, config: SPUConfig, tag_bits: int = 0):
        self.config = config
        sigma_shift_max = config.sigma_shift_max
        # config.fine_bits bounds the coupling and bias terms; when sigma_shift_max clips at 0
        # the noise term alone, |sigma_q * g| < 2**(sigma_bits + 9), can be wider (a spec
        # question, docs/gateware.md), so the sum is made wide enough for both.
        self.fine_width = max(config.fine_bits,
                              config.sigma_bits + GAUSSIAN_BITS + sigma_shift_max + 1) + 1
        super().__init__({
            "k": In(unsigned(K_MAX.bit_length())),
            "b_shift": In(range(config.b_shift_max + 1)),
            "sigma_q": In(unsigned(config.sigma_bits)),
            "sigma_shift": In(range(sigma_shift_max + 1)),
            "b": In(signed(config.b_bits)),
            "gaussian": In(signed(GAUSSIAN_BITS)),
            "in_valid": In(1),
            "acc": In(signed(config.fine_bits)),
            "x_old": In(signed(config.x_bits)),
            "in_tag": In(unsigned(tag_bits)),
            "out_valid": Out(1),
            "x_new": Out(signed(config.x_bits)),
            "out_tag": Out(unsigned(tag_bits)),
            "saturated": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        fine_bits = self.fine_width
        # The rounding constant 2**(fa+k-1) is folded into the prepared term, which may then
        # exceed fine_width: the prepared and rounding sums are kept wider.
        round_bits = max(fine_bits, cfg.fa + K_MAX) + 2
        # Prepare stage 1: bias alignment and the noise product.
        bias = Signal(signed(fine_bits))
        # A data register (no reset: what it holds after one is never used), so that synthesis
        # can keep it inside the DSP block that multiplies.
        noise = Signal(signed(cfg.sigma_bits + GAUSSIAN_BITS + 1), reset_less=True)
        m.d.sync += [bias.eq(self.b << self.b_shift), noise.eq(self.sigma_q * self.gaussian)]
        # Prepare stage 2: the noise aligned; the bias plus the rounding constant.
        half_shift = Signal(range(cfg.fa + K_MAX))
        m.d.comb += half_shift.eq(cfg.fa - 1 + self.k)
        # The rounding constant 2**(fa+k-1) comes from a register: k is constant while cells
        # flow (it must be set no later than the cycle the first cell's b enters), and the
        # variable shift stays off the bias adder's carry chain.
        rounding = Signal(cfg.fa + K_MAX)
        m.d.sync += rounding.eq(Const(1, 1) << half_shift)
        aligned_noise = Signal(signed(round_bits))
        rounded_bias = Signal(signed(round_bits))
        m.d.sync += [aligned_noise.eq(noise << self.sigma_shift),
                     rounded_bias.eq(bias + rounding)]
        # Prepare stage 3: their sum.
        prepared = Signal(signed(round_bits))
        m.d.sync += prepared.eq(rounded_bias + aligned_noise)
        # Update stages: subtract the coupling sum, then round (arithmetic shift by fa + k). Only
        # the low fx + 2 bits of the rounded step are kept, with whether it lies in
        # [-2**(fx+1), 2**(fx+1) - 1] and its sign: outside that range the new state is past a
        # rail whatever x_old is.
        fx = cfg.x_bits - 1
        shift = Signal(range(cfg.fa + K_MAX + 1))
        m.d.comb += shift.eq(cfg.fa + self.k)
        # Update stage 1: the difference, registered with the cell's old state and tag.
        difference = Signal(signed(round_bits))
        d_valid, d_x_old, d_tag = Signal(), Signal.like(self.x_old), Signal.like(self.in_tag)
        m.d.sync += [difference.eq(prepared - self.acc), d_valid.eq(self.in_valid),
                     d_x_old.eq(self.x_old), d_tag.eq(self.in_tag)]
        # Update stage 2: the rounding shift.
        rounded = Signal(signed(round_bits))
        m.d.comb += rounded.eq(difference >> shift)
        # The rounded step's bits from 2**(fx+1) up all equal its sign exactly when the
        # difference's bits from 2**(fx+1+shift) up do: tested on the difference with a mask
        # of those bits (it depends on the job's k only), so the test runs beside the shifter.
        small_mask = Signal(round_bits)
        with m.Switch(shift):
            for amount in range(1 << len(shift)):
                with m.Case(amount):
                    m.d.comb += small_mask.eq(((1 << round_bits) - 1) >> (fx + 1 + amount)
                                              << (fx + 1 + amount))
        sign = difference[-1]
        u_valid, u_x_old, u_tag = Signal(), Signal.like(self.x_old), Signal.like(self.in_tag)
        u_step = Signal(signed(fx + 2))
        u_small, u_negative = Signal(), Signal()
        m.d.sync += [
            u_valid.eq(d_valid), u_x_old.eq(d_x_old), u_tag.eq(d_tag),
            u_step.eq(rounded[:fx + 2]),
            u_small.eq(~((difference ^ sign.replicate(round_bits)) & small_mask).any()),
            u_negative.eq(sign),
        ]
        # Output: x_old + step in x_bits + 2 bits, clamped; the rail tests look at the sum's top
        # bits (no comparator chains).
        total = Signal(signed(cfg.x_bits + 2))
        m.d.comb += total.eq(u_x_old + u_step)
        total_top = total[fx:]                          # 3 bits: -4 ... 3 times 2**fx
        high = Mux(u_small, ~total_top[-1] & total_top.any(), ~u_negative)
        low = Mux(u_small, total_top[-1] & ~total_top.all(), u_negative)
        m.d.comb += [
            self.out_valid.eq(u_valid),
            self.out_tag.eq(u_tag),
            self.x_new.eq(Mux(high, cfg.x_max_code, Mux(low, cfg.x_min_code, total))),
            self.saturated.eq(u_valid & (high | low)),
            self.busy.eq(d_valid | u_valid),
        ]
        return m
