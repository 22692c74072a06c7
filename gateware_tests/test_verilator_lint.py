"""``verilator --lint-only -Wall`` on SPUCore's generated Verilog passes with the documented
waiver list (:data:`thermospu.rtl.sim.runner.VERILATOR_WAIVERS`, docs/verification.md)."""

from __future__ import annotations

import pytest

from cocotb_spu.options import need_simulator
from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.sim.runner import verilator_lint, verilog_source

#: Machines linted: P = 1 (a zero-width bank index), P < N, P = N, a non-power-of-two N, and
#: wide words (64-bit second-moment accumulators).
LINT_CONFIGS = [
    SPUConfig(n=3, lanes=1, a_bits=6, b_bits=7, x_bits=9, out_bits=5, sigma_bits=3,
              max_samples_log2=6),
    SPUConfig(n=8, lanes=4),
    SPUConfig(n=4, lanes=4, a_bits=18, b_bits=24, x_bits=32, out_bits=20, sigma_bits=20,
              max_samples_log2=24),
]


@pytest.mark.parametrize("config", LINT_CONFIGS, ids=lambda c: f"n{c.n}p{c.lanes}")
def test_verilator_lint_wall(config, tmp_path):
    need_simulator("verilator")
    from thermospu.rtl.gateware.core import SPUCore

    found = verilator_lint(verilog_source(SPUCore(config), "spu_core"), "spu_core", tmp_path)
    assert found == [], "verilator -Wall findings beyond the waiver list:\n" + "\n".join(found)
