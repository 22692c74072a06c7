"""OutputQuantizer against golden.quantize_output, exhaustively over small state widths."""

import numpy as np
import pytest

from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.spec.golden import quantize_output
from thermospu.rtl.gateware.output_quantizer import OutputQuantizer

from rtl_helpers import simulate


@pytest.mark.parametrize("x_bits,out_bits", [(8, 5), (7, 6), (6, 6), (9, 2)])
def test_every_state_code(x_bits, out_bits):
    cfg = SPUConfig(n=2, lanes=1, x_bits=x_bits, out_bits=out_bits, a_bits=4, b_bits=4)
    dut = OutputQuantizer(cfg)
    xs = np.arange(cfg.x_min_code, cfg.x_max_code + 1, dtype=np.int64)
    got = np.zeros_like(xs)

    async def tb(ctx):
        for k, x in enumerate(xs):
            ctx.set(dut.x, int(x))
            got[k] = ctx.get(dut.y)

    simulate(dut, tb, clock=False)
    np.testing.assert_array_equal(got, quantize_output(xs, cfg))
    assert got.max() == cfg.y_max_code and got.min() == cfg.y_min_code
