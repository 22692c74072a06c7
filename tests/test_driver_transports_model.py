"""Robustness of the host protocol stack (lossy links, a device that stops answering), URIs,
``auto`` and the serial transport (against an emulated board on a pseudo-terminal)."""

from __future__ import annotations

import logging
import os
import select
import threading

import numpy as np
import pytest

from thermospu.driver import errors
from thermospu.driver.transports import open_backend, parse_uri
from thermospu.rtl.spec.emulator import EmulatedDevice
from thermospu.driver.transports.links import FaultInjectingLink, InProcessLink, Link
from thermospu.driver.transports.protocol import FramedBackend
from thermospu.rtl.spec import golden, wire
from thermospu.rtl.spec.config import ConfigError, JobParams, SPUConfig

CONFIG = SPUConfig(n=6, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10)
PARAMS = JobParams(n_active=6, k=3, b_shift=0, sigma_q=200, sigma_shift=2, burn_in=5, samples=40)


def _problem(seed, chains=2):
    rng = np.random.default_rng(seed)
    return rng.integers(-512, 512, (6, 6)), rng.integers(-2048, 2048, (chains, 6))


def _framed(link, **kwargs):
    return FramedBackend(link, "model", "test device", timeout=kwargs.pop("timeout", 0.05),
                         retries=kwargs.pop("retries", 6), **kwargs)


@pytest.mark.parametrize("drop_rate, corrupt_rate", [(0.002, 0.0), (0.0, 0.002), (0.001, 0.001)])
def test_a_lossy_line_costs_retries_not_results(drop_rate, corrupt_rate):
    device = EmulatedDevice(CONFIG, max_request_payload=128)
    link = FaultInjectingLink(InProcessLink(device), seed=3, drop_rate=drop_rate,
                              corrupt_rate=corrupt_rate)
    backend = _framed(link)
    a, b = _problem(1, chains=8)
    seeds = list(range(8))
    for _ in range(3):
        assert backend.run_jobs(a, b, PARAMS, seeds) == golden.run_jobs(CONFIG, a, b, PARAMS, seeds)
    assert link.dropped + link.corrupted > 0
    assert backend.client.stats["retries"] > 0
    backend.close()


def test_a_device_that_stops_answering_mid_job_is_recovered_by_reset():
    device = EmulatedDevice(CONFIG)
    link = FaultInjectingLink(InProcessLink(device))
    backend = _framed(link, retries=2)
    long_job = JobParams(**{**PARAMS.to_dict(), "burn_in": 10**9})
    a, b = _problem(2)

    calls = []

    def progress(steps):     # the job has started: the line goes dead
        calls.append(steps)
        link.mute = True

    with pytest.raises(errors.DeviceTimeoutError) as info:
        backend.run_jobs(a, b, long_job, [1, 2], progress=progress)
    assert calls and info.value.command == "STATUS" and info.value.transport == "model"
    assert "STATUS" in str(info.value) and "model" in str(info.value)
    link.mute = False                      # the line is back; the device still runs the job
    with pytest.raises(errors.DeviceBusyError):
        backend.run_jobs(a, b, PARAMS, [1, 2])
    backend.reset()
    assert backend.run_jobs(a, b, PARAMS, [1, 2]) == golden.run_jobs(CONFIG, a, b, PARAMS, [1, 2])
    backend.close()


def test_a_half_sent_frame_is_abandoned_by_reset():
    device = EmulatedDevice(CONFIG)
    backend = _framed(InProcessLink(device))
    device.receive(wire.encode_frame(wire.Command.LOAD_A, 1, bytes(200))[:50])
    assert device.mid_frame
    backend.reset()
    a, b = _problem(3)
    assert backend.run_jobs(a, b, PARAMS, [4, 5]) == golden.run_jobs(CONFIG, a, b, PARAMS, [4, 5])


class CorruptEveryFrame(Link):
    """Flips a bit in the CRC of every frame sent: the device answers BAD_CRC every time."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, data):
        self.inner.write(data[:-1] + bytes((data[-1] ^ 1,)))

    def read(self, timeout):
        return self.inner.read(timeout)


def test_persistent_crc_errors_end_in_a_protocol_error_after_bounded_retries():
    inner = InProcessLink(EmulatedDevice(CONFIG))
    backend = _framed(inner)
    backend.link = backend.client.link = CorruptEveryFrame(inner)
    with pytest.raises(errors.ProtocolError, match="STATUS failed 4 times, last with BAD_CRC") as info:
        backend.client.retries = 3
        backend.client.request(wire.Command.STATUS)
    assert info.value.status == "BAD_CRC"
    assert backend.client.last_attempts == 4


def test_reopening_gives_a_fresh_device():
    first = open_backend("model", **CONFIG.to_dict())
    first.close()
    second = open_backend("model", **CONFIG.to_dict())
    a, b = _problem(4)
    assert second.run_jobs(a, b, PARAMS, [1, 2]) == golden.run_jobs(CONFIG, a, b, PARAMS, [1, 2])


def test_many_chains_are_split_into_device_sized_groups():
    backend = FramedBackend(InProcessLink(EmulatedDevice(CONFIG, max_chains=3)), "model", "x")
    a, b = _problem(5, chains=7)
    seeds = list(range(100, 107))
    assert backend.run_jobs(a, b, PARAMS, seeds) == golden.run_jobs(CONFIG, a, b, PARAMS, seeds)


def test_uris():
    assert parse_uri("serial:/dev/ttyUSB1?baud=115200") == ("serial", "/dev/ttyUSB1", {"baud": "115200"})
    backend = open_backend("model?n=6&lanes=2&a_bits=10&b_bits=12&x_bits=18&out_bits=10")
    assert backend.config == CONFIG
    assert open_backend("model?n=6", n=5).config.n == 5      # keywords win
    with pytest.raises(ConfigError, match="unknown option 'baud'"):
        open_backend("model?baud=9600")
    with pytest.raises(ConfigError, match="not an integer"):
        open_backend("model?n=six")
    with pytest.raises(errors.TransportError, match="unknown device URI"):
        open_backend("usb:0")
    with pytest.raises(errors.TransportError, match="cannot open serial port"):
        open_backend("serial:/dev/nonexistent-thermospu")
    with pytest.raises(errors.TransportError, match="cannot connect"):
        open_backend("sim://127.0.0.1:1")


def test_auto_uses_the_environment_or_falls_back_to_the_model(monkeypatch, caplog):
    from thermospu.driver.transports import auto

    monkeypatch.setattr(auto, "candidate_ports", lambda: [])
    monkeypatch.delenv(auto.ENV_VAR, raising=False)
    with caplog.at_level(logging.INFO, logger="thermospu.driver"):
        backend = open_backend("auto", n=6)
    assert backend.name == "model" and backend.config.n == 6
    assert "no SPU board attached" in caplog.text and "model" in caplog.text
    monkeypatch.setenv(auto.ENV_VAR, "model?n=5")
    with caplog.at_level(logging.INFO, logger="thermospu.driver"):
        assert open_backend("auto").config.n == 5
    assert "THERMOSPU_DEVICE" in caplog.text


class PseudoTerminalBoard:
    """An emulated board behind a pseudo-terminal: the serial transport's far end."""

    def __init__(self, config):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        import tty

        tty.setraw(slave)
        self.slave = slave
        self.device = EmulatedDevice(config, max_request_payload=256, board="pty-board")
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                self.device.receive(data)
            elif self.device.mid_frame:      # the line went quiet mid-frame
                self.device.line_idle()
            out = self.device.take_output()
            if out:
                os.write(self.master, out)

    def close(self):
        self.running = False
        self.thread.join()
        os.close(self.master)
        os.close(self.slave)
        self.device.close()


def test_serial_transport_talks_to_a_board_and_takes_its_config():
    board = PseudoTerminalBoard(CONFIG)
    try:
        backend = open_backend(f"serial:{board.path}?baud=115200", timeout=2.0)
        assert backend.config == CONFIG               # the board reports its own machine
        assert backend.info()["board"] == "pty-board"
        a, b = _problem(6, chains=3)
        assert backend.run_jobs(a, b, PARAMS, [7, 8, 9]) == golden.run_jobs(CONFIG, a, b, PARAMS, [7, 8, 9])
        backend.close()
    finally:
        board.close()


class OtherVersion(Link):
    """Rewrites the VERSION byte of every frame sent: a host speaking another protocol version."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, data):
        frame = bytearray(data)
        frame[1] = 2
        self.inner.write(bytes(frame))

    def read(self, timeout):
        return self.inner.read(timeout)


def test_a_device_of_another_protocol_version_is_a_typed_rejection():
    inner = InProcessLink(EmulatedDevice(CONFIG))
    backend = _framed(inner)
    backend.client.link = OtherVersion(inner)
    with pytest.raises(errors.DeviceRejectedError, match="protocol version 1") as info:
        backend.client.request(wire.Command.INFO)
    assert info.value.status == "BAD_VERSION" and backend.client.last_attempts == 7
