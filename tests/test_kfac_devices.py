"""Thermodynamic K-FAC on every kind of device URI that `thermospu train --device` takes: an
emulated SPU in a simulator equals the in-process model bit for bit, and a device that reports
its own configuration is checked against the run's needs instead of being handed options it
cannot take. (The board path, over a pty-bridged serial port: gateware_tests/
test_board_pins.py.)"""

from __future__ import annotations

import pytest
import torch

from kfac_devices import kfac_weights_after
from thermospu.driver.errors import ConfigError
from thermospu.host_kfac.train import TrainConfig, make_solver


def test_kfac_on_sim_verilator_equals_the_model():
    from thermospu.rtl.sim.runner import missing_simulator_reason
    from cocotb_spu.options import need_simulator

    need_simulator("verilator")
    assert missing_simulator_reason("verilator") is None
    # The configuration of tests/test_driver_transports.py: its simulation build is reused.
    machine = "n=4&lanes=2&a_bits=10&b_bits=12&x_bits=18&out_bits=10&max_samples_log2=16"
    on_sim = kfac_weights_after(f"sim:verilator?{machine}", in_bits=None, out_bits=None)
    on_model = kfac_weights_after(f"model?{machine}", in_bits=None, out_bits=None)
    for sim_weight, model_weight in zip(on_sim, on_model):
        assert torch.equal(sim_weight, model_weight)


class _Opened(Exception):
    """Raised by the stand-in for driver.open, carrying what it was asked for."""


@pytest.fixture
def open_request(monkeypatch):
    import thermospu.driver as driver

    def fake_open(uri, **options):
        raise _Opened(uri, options)

    monkeypatch.setattr(driver, "open", fake_open)


@pytest.mark.parametrize("uri,split,expected", [
    ("model", False, {"n": 65, "a_bits": 8, "b_bits": 8, "out_bits": 8}),
    ("model?a_bits=12&n=70", False, {"n": None, "a_bits": None, "b_bits": 8, "out_bits": 8}),
    ("sim:icarus", False, {"n": 65, "a_bits": 8, "b_bits": 8, "out_bits": 8}),
    ("serial:/dev/ttyUSB1", False, {"n": 65, "a_bits": None, "b_bits": None, "out_bits": None}),
    ("serial:/dev/ttyUSB1", True, {"n": None, "a_bits": None, "b_bits": None, "out_bits": None}),
    ("sim://127.0.0.1:5555", False, {"n": 65, "a_bits": None, "b_bits": None,
                                     "out_bits": None}),
])
def test_a_run_asks_a_board_only_for_what_it_needs(open_request, uri, split, expected):
    cfg = TrainConfig(optimizer="kfac", solver="spu", device=uri, split_blocks=split)
    with pytest.raises(_Opened) as opened:
        make_solver(cfg, [65, 32, 33, 10])
    assert opened.value.args == (uri, expected)


def test_a_device_that_cannot_honour_a_width_is_a_clear_error(monkeypatch):
    from thermospu.driver import transports
    from thermospu.rtl.spec.config import SPUConfig

    class ReportingBackend:
        name = "serial:/dev/fake"
        config = SPUConfig(n=32, a_bits=16, out_bits=16)
        closed = False

        def close(self):
            self.closed = True

    backend = ReportingBackend()
    monkeypatch.setattr(transports, "_open_reporting", lambda *a, **k: backend)
    with pytest.raises(ConfigError, match=r"a_bits=8 \(the device has 16\)") as error:
        transports.open_backend("serial:/dev/fake", n=16, a_bits=8)
    assert "n=16" not in str(error.value).split("cannot give")[1] and backend.closed
    with pytest.raises(ConfigError, match=r"n=64 \(the device has 32\)"):
        transports.open_backend("serial:/dev/fake", n=64)
    assert transports.open_backend("serial:/dev/fake", n=32, a_bits=16) is backend
