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

    The terms that do not depend on the coupling sum are prepared ahead: a cell's ``b`` and
    ``gaussian`` enter :attr:`PREPARE_LATENCY` cycles before its ``acc`` and ``x_old``; the first
    stage registers the bias shift and the noise product (the one multiplier, sigma_bits x 11),
    the second adds them and the rounding constant. When ``acc`` arrives the rest (subtract,
    shift, add the old state, clamp) is combinational, so the new state can be written in the
    cycle the coupling sum is ready -- this latency is what a step waits for when all rows fit
    one group. A cell may enter every cycle. Intermediate sums are :attr:`fine_width` bits
    (``fine_bits``, or more when the noise term needs it), so nothing wraps.

    Parameters
    ----------
    config : SPUConfig

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
    out_valid : Out(1)
        Equal to ``in_valid`` (combinational).
    x_new : Out(signed(x_bits))
        Its new state, Q1.fx, clamped to [-2**fx, 2**fx - 1] (combinational).
    saturated : Out(1)
        The update was clamped at a rail (counts towards SATURATIONS).
    """

    #: Cycles from ``b``/``gaussian`` to the same cell's ``acc``/``x_old``.
    PREPARE_LATENCY = 2

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
            "b": In(signed(config.b_bits)),
            "gaussian": In(signed(GAUSSIAN_BITS)),
            "in_valid": In(1),
            "acc": In(signed(config.fine_bits)),
            "x_old": In(signed(config.x_bits)),
            "out_valid": Out(1),
            "x_new": Out(signed(config.x_bits)),
            "saturated": Out(1),
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
        noise = Signal(signed(cfg.sigma_bits + GAUSSIAN_BITS + 1))
        m.d.sync += [bias.eq(self.b << self.b_shift), noise.eq(self.sigma_q * self.gaussian)]
        # Prepare stage 2: bias + noise + rounding constant.
        half_shift = Signal(range(cfg.fa + K_MAX))
        m.d.comb += half_shift.eq(cfg.fa - 1 + self.k)
        prepared = Signal(signed(round_bits))
        m.d.sync += prepared.eq(bias + (noise << self.sigma_shift) + (Const(1, 1) << half_shift))
        # Update: subtract the coupling sum, round (arithmetic shift), add, clamp.
        shift = Signal(range(cfg.fa + K_MAX + 1))
        m.d.comb += shift.eq(cfg.fa + self.k)
        rounded = Signal(signed(round_bits))
        m.d.comb += rounded.eq((prepared - self.acc) >> shift)
        # x_old + rounded, clamped to [-2**fx, 2**fx - 1], without a carry chain as wide as
        # ``rounded``: if rounded lies outside [-2**(fx+1), 2**(fx+1) - 1] the sum is past a rail
        # whatever x_old is (its sign says which); otherwise the sum fits x_bits + 2 bits. The
        # rail tests look at the sum's top bits (no comparator chains) -- the path from the
        # coupling sum to the new state is the core's longest on small FPGAs.
        fx = cfg.x_bits - 1
        rounded_top = rounded[fx + 1:]                  # sign bit and everything above 2**(fx+1)
        rounded_small = (rounded_top == 0) | (rounded_top == (1 << len(rounded_top)) - 1)
        total = Signal(signed(cfg.x_bits + 2))
        m.d.comb += total.eq(self.x_old + rounded[:fx + 2].as_signed())
        total_top = total[fx:]                          # 3 bits: -4 ... 3 times 2**fx
        high = Mux(rounded_small, ~total_top[-1] & total_top.any(), ~rounded[-1])
        low = Mux(rounded_small, total_top[-1] & ~total_top.all(), rounded[-1])
        m.d.comb += [
            self.out_valid.eq(self.in_valid),
            self.x_new.eq(Mux(high, cfg.x_max_code, Mux(low, cfg.x_min_code, total))),
            self.saturated.eq(self.in_valid & (high | low)),
        ]
        return m
