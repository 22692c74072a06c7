"""PLL solvers and board descriptions (no toolchain needed)."""

import pytest

from thermospu.boards.board import get_board
from thermospu.boards.clocking import ecp5_pll, ice40_pll
from thermospu.boards.uart import divisor_for

from unused_warnings import no_unused_elaboratable_warning


def test_ice40_pll_matches_icepll():
    # `icepll -i 12 -o 36`: DIVR=0 DIVF=47 DIVQ=4 FILTER_RANGE=1.
    pll = ice40_pll(12e6, 36e6)
    assert (pll.divr, pll.divf, pll.divq, pll.filter_range) == (0, 47, 4, 1)
    assert pll.f_out == 36e6


@pytest.mark.parametrize("f_out", [24e6, 30e6, 42e6, 48e6])
def test_ice40_pll_within_limits(f_out):
    pll = ice40_pll(12e6, f_out)
    f_pfd = pll.f_in / (pll.divr + 1)
    f_vco = f_pfd * (pll.divf + 1)
    assert 10e6 <= f_pfd <= 133e6 and 533e6 <= f_vco <= 1066e6
    assert pll.f_out == f_vco / 2**pll.divq
    assert abs(pll.f_out - f_out) <= 0.01 * f_out


def test_ecp5_pll_matches_ecppll():
    # `ecppll -i 25 -o 100`: CLKI_DIV=1 CLKFB_DIV=4 CLKOP_DIV=6 (VCO 600 MHz).
    pll = ecp5_pll(25e6, 100e6)
    assert (pll.clki_div, pll.clkfb_div, pll.clkop_div) == (1, 4, 6)
    assert pll.f_out == 100e6


def test_pll_refuses_unreachable_clock():
    with pytest.raises(ValueError, match="cannot make"):
        ice40_pll(12e6, 400e6)


@pytest.mark.parametrize("name", ["icebreaker", "ulx3s"])
def test_board_defaults_are_buildable(name):
    from thermospu.rtl.gateware.core import check_buildable

    board = get_board(name)
    check_buildable(board.config, board.moment_lanes_for(board.config))
    top = board.top(board.config, clock_hz=board.clock_hz, baud=board.baud)
    assert top.system.moment_lanes == board.moment_lanes_for(board.config)
    assert top.clock_hz == board.clock_hz              # the PLL makes the clock exactly
    assert top.system.divisor == divisor_for(board.clock_hz, board.baud)
    assert top.cycles_per_step > 0
    # Elaborates and converts against the board's pins (resource names, PLL, clock domain).
    board.platform().prepare(top, "top")


def test_config_with_overrides_and_clamps_lanes():
    board = get_board("ulx3s")
    assert board.config_with(n=4).lanes == 4
    assert board.config_with(n=16, lanes=2).lanes == 2
    assert board.config_with().to_dict() == board.config.to_dict()


def test_default_moment_lanes_are_the_lanes_up_to_the_boards_cap():
    ulx3s, icebreaker = get_board("ulx3s"), get_board("icebreaker")
    assert ulx3s.moment_lanes == 32 and ulx3s.config.lanes == 64
    assert ulx3s.moment_lanes_for(ulx3s.config) == 32
    assert ulx3s.moment_lanes_for(ulx3s.config_with(n=16, lanes=4)) == 4
    assert icebreaker.moment_lanes is None
    assert icebreaker.moment_lanes_for(icebreaker.config_with(lanes=4)) == 4


def test_board_top_refuses_unreachable_baud_without_leaking_elaboratables():
    from thermospu.boards.top import SPUBoardTop

    with no_unused_elaboratable_warning():
        with pytest.raises(ValueError, match="not reachable"):
            SPUBoardTop(get_board("icebreaker").config, 10e6, 1_800_000, board="x")
        with pytest.raises(TypeError, match="SPUConfig"):
            SPUBoardTop({"n": 4}, 24e6, 3_000_000, board="x")
        with pytest.raises(ValueError, match="cannot make"):
            get_board("ulx3s").top(get_board("ulx3s").config, clock_hz=900e6)
        with pytest.raises(ValueError, match="not reachable"):
            get_board("icebreaker").top(baud=6_500_000)


def test_board_data_needs_no_amaranth():
    # The cost model reads the boards' default SPUConfig and clock from the records.
    import subprocess
    import sys

    code = ("import sys; from thermospu.boards.board import get_board; "
            "[get_board(name).config for name in ('icebreaker', 'ulx3s')]; "
            "assert 'amaranth' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
