"""The output quantizer (ADC emulation): state codes to output codes, round half up, saturating."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import SPUConfig

__all__ = ["OutputQuantizer"]


class OutputQuantizer(wiring.Component):
    """``y = clamp((x + 2**(d-1)) >> d, -2**fy, 2**fy - 1)`` with ``d = x_bits - out_bits``
    (``y = x`` when d = 0), as :func:`~thermospu.rtl.spec.golden.quantize_output`. Combinational.

    Parameters
    ----------
    config : SPUConfig

    Members
    -------
    x : In(signed(x_bits))
        Cell state, Q1.fx.
    y : Out(signed(out_bits))
        Output code, Q1.fy. Only x within half an output LSB of +1 rounds past the top and is
        clamped to 2**fy - 1; the bottom rail is never exceeded.
    """

    def __init__(self, config: SPUConfig):
        self.config = config
        super().__init__({"x": In(signed(config.x_bits)), "y": Out(signed(config.out_bits))})

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        d = cfg.adc_shift
        if d == 0:
            m.d.comb += self.y.eq(self.x)
        else:
            rounded = (self.x + (1 << (d - 1))) >> d
            m.d.comb += self.y.eq(Mux(rounded > cfg.y_max_code, cfg.y_max_code, rounded))
        return m
