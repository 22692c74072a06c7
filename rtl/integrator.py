"""The cell integrator: one Euler--Maruyama update of one cell per cycle, pipelined."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import K_MAX, JobParams, SPUConfig
from .noise import GAUSSIAN_BITS

__all__ = ["CellIntegrator"]


class CellIntegrator(wiring.Component):
    """``x <- clamp(x + ((fine + 2**(S-1)) >> S))`` with
    ``fine = (b << b_shift) - acc + ((sigma_q * g) << sigma_shift)`` and ``S = fa + k``: the
    golden model's update of one cell (``rtl/golden.py``), bit for bit.

    A new cell may enter every cycle; its result leaves :attr:`LATENCY` cycles later. The first
    stage registers the bias shift and the noise product (the one multiplier, sigma_bits x 11),
    the second adds, rounds (half up, by the arithmetic shift), adds the old state and clamps.
    Intermediate sums are :attr:`fine_width` bits (``fine_bits``, or more when the noise term
    needs it), so nothing wraps.

    Parameters
    ----------
    config : SPUConfig

    Members
    -------
    k, b_shift, sigma_q, sigma_shift : In(unsigned)
        Job registers (held constant during a job), in the ranges of ``JobParams.validate``.
    in_valid : In(1)
        A cell enters this cycle.
    acc : In(signed(fine_bits))
        Its coupling sum ``sum_j a_q[i, j] * x_q[j]`` (exact integer, units 2**-(fa+fx)).
    x_old : In(signed(x_bits))
        Its state before the step, Q1.fx.
    b : In(signed(b_bits))
        Its bias code.
    gaussian : In(signed(11))
        Its noise draw g for this step, in [-510, 510].
    out_valid : Out(1)
        The cell that entered ``LATENCY`` cycles ago leaves.
    x_new : Out(signed(x_bits))
        Its new state, Q1.fx, clamped to [-2**fx, 2**fx - 1].
    saturated : Out(1)
        The update was clamped at a rail (counts towards SATURATIONS).
    """

    #: Cycles from ``in_valid`` to ``out_valid``.
    LATENCY = 2

    def __init__(self, config: SPUConfig):
        self.config = config
        sigma_shift_max = JobParams(1, 0, 0, 0, 0, 0, 1).sigma_shift_max(config)
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
            "in_valid": In(1),
            "acc": In(signed(config.fine_bits)),
            "x_old": In(signed(config.x_bits)),
            "b": In(signed(config.b_bits)),
            "gaussian": In(signed(GAUSSIAN_BITS)),
            "out_valid": Out(1),
            "x_new": Out(signed(config.x_bits)),
            "saturated": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        fine_bits = self.fine_width
        # Stage 1: bias alignment and the noise product.
        bias = Signal(signed(fine_bits))
        noise = Signal(signed(cfg.sigma_bits + GAUSSIAN_BITS + 1))
        acc = Signal(signed(cfg.fine_bits))
        x_old = Signal(signed(cfg.x_bits))
        valid = Signal()
        m.d.sync += [
            valid.eq(self.in_valid),
            bias.eq(self.b << self.b_shift),
            noise.eq(self.sigma_q * self.gaussian),
            acc.eq(self.acc),
            x_old.eq(self.x_old),
        ]
        # Stage 2: the fine sum fits fine_width; adding the rounding constant 2**(fa+k-1) may
        # not, so the rounding sum is kept wider.
        fine = Signal(signed(fine_bits))
        m.d.comb += fine.eq(bias - acc + (noise << self.sigma_shift))
        shift = Signal(range(cfg.fa + K_MAX + 1))
        m.d.comb += shift.eq(cfg.fa + self.k)
        half_shift = Signal(range(cfg.fa + K_MAX))
        m.d.comb += half_shift.eq(cfg.fa - 1 + self.k)
        round_bits = max(fine_bits, cfg.fa + K_MAX) + 2
        rounded = Signal(signed(round_bits))
        m.d.comb += rounded.eq((fine + (Const(1, 1) << half_shift)) >> shift)
        total = Signal(signed(round_bits + 1))
        m.d.comb += total.eq(x_old + rounded)
        high = total > cfg.x_max_code
        low = total < cfg.x_min_code
        m.d.sync += [
            self.out_valid.eq(valid),
            self.x_new.eq(Mux(high, cfg.x_max_code, Mux(low, cfg.x_min_code, total))),
            self.saturated.eq(valid & (high | low)),
        ]
        return m
