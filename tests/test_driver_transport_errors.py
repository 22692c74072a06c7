"""No hang and no untyped error from the transports (issue 11): each class of failure, fuzzed.

* a device whose STATUS says RUNNING for ever, a job that really runs for ever, a device that
  falls silent: :class:`DeviceTimeoutError` within the call's ``deadline``;
* ``timeout``, ``retries``, ``deadline`` that are not finite positive numbers: ``ConfigError``
  before anything is opened;
* a link raising any ``OSError`` (pyserial's ``SerialException`` included) at any point of a
  job: :class:`LinkError`, and the device works again after ``reset()``;
* a wrong-length or malformed answer: :class:`ProtocolError`; random answers: an ``SPUError``
  or a result, never another exception;
* K-FAC training on a device whose link resets mid-run falls back to digital and goes on.

Every test is bounded in time (pytest-timeout).
"""

from __future__ import annotations

import math
import random
import time
import warnings

import numpy as np
import pytest
import serial
import torch
import torch.nn.functional as F

from kfac_helpers import tiny_batch, tiny_net
from thermospu.driver import errors
from thermospu.driver.device import Device
from thermospu.driver.transports import open_backend
from thermospu.driver.transports.links import FaultInjectingLink, InProcessLink
from thermospu.driver.transports.protocol import FramedBackend
from thermospu.host_kfac.preconditioner import KFACPreconditioner
from thermospu.host_kfac.solvers import ThermodynamicInverseSolver
from thermospu.rtl.spec import golden, wire
from thermospu.rtl.spec.config import ConfigError, JobParams, SPUConfig
from thermospu.rtl.spec.emulator import EmulatedDevice
from thermospu.rtl.spec.wire import Command, JobState, Status

CONFIG = SPUConfig(n=6, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10)
PARAMS = JobParams(n_active=6, k=3, b_shift=0, sigma_q=200, sigma_shift=2, burn_in=5, samples=40,
                   moments=True)
ENDLESS = JobParams(**{**PARAMS.to_dict(), "burn_in": 10**9})


def _problem(seed, chains=2):
    rng = np.random.default_rng(seed)
    return rng.integers(-512, 512, (6, 6)), rng.integers(-2048, 2048, (chains, 6))


def _framed(link, **kwargs):
    options = dict(timeout=0.05, retries=2) | kwargs
    return FramedBackend(link, "model", "test device", **options)


def _expect_golden(backend, seed=7):
    """A job on ``backend`` (with its default deadline) equals the golden model's."""
    backend.deadline = None
    a, b = _problem(seed)
    assert backend.run_jobs(a, b, PARAMS, [3, 4]) == golden.run_jobs(CONFIG, a, b, PARAMS, [3, 4])


class TamperingLink(InProcessLink):
    """The link to an emulated device, with the answers to chosen commands rewritten.

    ``answers[command](seq, payload)`` returns the bytes sent back instead of the device's answer
    (whose payload, status byte first, it is given); ``stuck`` answers STATUS with RUNNING, 0
    steps, for ever, without asking the device."""

    def __init__(self, device, answers=None, stuck=False):
        super().__init__(device)
        self.answers = dict(answers or {})
        if stuck:
            running = bytes([Status.OK]) + wire.encode_status(wire.JobStatus(JobState.RUNNING, 0, 0))
            self.answers[Command.STATUS] = lambda seq, _: _response(Command.STATUS, seq, running)
        self.pending = b""

    def write(self, data):
        (frame,) = wire.FrameDecoder().feed(data)        # the host writes one frame at a time
        super().write(data)
        answer = self.answers.get(frame.code)
        if answer is not None:
            (response,) = wire.FrameDecoder().feed(self.device.take_output())
            self.pending += answer(frame.seq, response.payload)

    def read(self, timeout):
        out, self.pending = self.pending, b""
        return out or super().read(timeout)


def _response(command, seq, payload):
    return wire.encode_frame(command | wire.RESPONSE_FLAG, seq, payload)


class FailingLink(InProcessLink):
    """The link to an emulated device that raises ``error`` from its ``operation`` ("write" or
    "read") on call number ``at`` (0-based) and, if ``dead``, on every one after it."""

    def __init__(self, device, error: BaseException, operation: str, at: int, dead=False):
        super().__init__(device)
        self.error, self.operation, self.at, self.dead = error, operation, at, dead
        self.calls = {"write": 0, "read": 0}
        self.enabled = True

    def _maybe_fail(self, operation):
        index = self.calls[operation]
        self.calls[operation] += 1
        if self.enabled and operation == self.operation and (
                index == self.at or (self.dead and index > self.at)):
            raise self.error

    def write(self, data):
        self._maybe_fail("write")
        super().write(data)

    def read(self, timeout):
        self._maybe_fail("read")
        return super().read(timeout)


# --- deadline --------------------------------------------------------------------------------
@pytest.mark.timeout(30)
def test_a_device_stuck_in_running_ends_in_a_timeout_within_the_deadline():
    device = EmulatedDevice(CONFIG)
    link = TamperingLink(device, stuck=True)
    backend = _framed(link, deadline=0.5)
    a, b = _problem(1)
    start = time.monotonic()
    with pytest.raises(errors.DeviceTimeoutError, match=r"deadline of 0.5 s.*reset\(\)") as info:
        backend.run_jobs(a, b, PARAMS, [1, 2])
    assert 0.5 <= time.monotonic() - start < 5.0
    assert "aborted" in str(info.value) and info.value.command == "STATUS"
    link.answers.clear()                            # the board recovers
    backend.reset()
    _expect_golden(backend)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("deadline", [0.05, 0.2, 0.6])
def test_an_endless_job_is_aborted_at_the_deadline(deadline):
    device = EmulatedDevice(CONFIG)
    backend = _framed(InProcessLink(device), deadline=deadline)
    a, b = _problem(2)
    start = time.monotonic()
    with pytest.raises(errors.DeviceTimeoutError,
                       match="did not finish within the call's deadline|ran past its deadline"):
        backend.run_jobs(a, b, ENDLESS, [1, 2])
    assert deadline <= time.monotonic() - start < deadline + 5.0    # bounded, on a busy machine too
    status = wire.decode_status(backend.client.request(Command.STATUS))
    # Nothing keeps running on the device: ABORTED, or never started when the deadline ran out
    # before RUN on a busy machine.
    assert status.state != JobState.RUNNING
    _expect_golden(backend)                         # and the next job needs no reset


@pytest.mark.timeout(60)
@pytest.mark.parametrize("seed", range(6))
def test_a_device_falling_silent_anywhere_ends_in_a_timeout_within_the_deadline(seed):
    """The line goes dead after a random number of frames; the call ends by its deadline even
    though timeout x attempts alone would allow far longer."""
    device = EmulatedDevice(CONFIG, max_request_payload=64)
    link = FaultInjectingLink(InProcessLink(device))
    backend = _framed(link, timeout=0.2, retries=20, deadline=0.5)
    writes = random.Random(seed).randrange(1, 12)
    inner_write = link.write

    def write(data):
        nonlocal writes
        writes -= 1
        link.mute = link.mute or writes < 0
        inner_write(data)

    link.write = write
    a, b = _problem(seed)
    start = time.monotonic()
    with pytest.raises(errors.DeviceTimeoutError, match="deadline of 0.5 s"):
        backend.run_jobs(a, b, ENDLESS, [1, 2])
    assert time.monotonic() - start < 0.5 + 3.0
    link.mute, writes = False, 10**6
    backend.reset()
    _expect_golden(backend)


@pytest.mark.timeout(30)
def test_a_device_silent_from_the_start_ends_in_a_timeout():
    link = FaultInjectingLink(InProcessLink(EmulatedDevice(CONFIG)))
    link.mute = True
    start = time.monotonic()
    with pytest.raises(errors.DeviceTimeoutError, match="no answer to INFO within 0.05 s"):
        _framed(link)
    assert time.monotonic() - start < 3.0


def test_the_default_deadline_grows_with_the_job_and_stays_bounded():
    backend = _framed(InProcessLink(EmulatedDevice(CONFIG)))
    small = backend.default_deadline(PARAMS, 1)
    assert 30 < small < 100
    assert backend.default_deadline(PARAMS, 100) > small
    longer = JobParams(**{**PARAMS.to_dict(), "burn_in": 10**6})
    assert backend.default_deadline(longer, 1) > backend.default_deadline(PARAMS, 1) + 10
    assert backend.default_deadline(ENDLESS, 256) == 1e6
    assert backend.deadline is None


# --- option validation -----------------------------------------------------------------------
BAD_SECONDS = [math.nan, math.inf, -math.inf, -1, 0, -0.0, 1e300, True, "nan", "-2"]
BAD_RETRIES = [-1, 1.5, True, math.nan, math.inf, "1.5", "-1", 10**6]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["timeout", "deadline"])
@pytest.mark.parametrize("value", BAD_SECONDS)
def test_bad_seconds_are_config_errors(name, value):
    with pytest.raises(ConfigError, match=name):
        open_backend("model", **{name: value})
    with pytest.raises(ConfigError, match=name):
        _framed(InProcessLink(EmulatedDevice(CONFIG)), **{name: value})
    if not isinstance(value, (bool, str)):
        with pytest.raises(ConfigError, match=name):
            open_backend(f"model?{name}={value}")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", BAD_RETRIES)
def test_bad_retry_counts_are_config_errors(value):
    with pytest.raises(ConfigError, match="retries"):
        open_backend("model", retries=value)
    with pytest.raises(ConfigError, match="retries"):
        _framed(InProcessLink(EmulatedDevice(CONFIG)), retries=value)
    if not isinstance(value, bool):
        with pytest.raises(ConfigError, match="retries"):
            open_backend(f"model?retries={value}")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("uri", ["serial:/dev/nonexistent-thermospu?timeout=nan",
                                 "sim://127.0.0.1:9?deadline=inf", "auto?retries=-1"])
def test_options_are_checked_before_anything_is_opened(uri):
    with pytest.raises(ConfigError):
        open_backend(uri)


def test_good_options_are_taken():
    backend = open_backend("model?timeout=0.5&deadline=12.5&retries=0", n=4)
    assert (backend.client.timeout, backend.client.retries, backend.deadline) == (0.5, 0, 12.5)
    backend.close()


# --- link errors -----------------------------------------------------------------------------
LINK_ERRORS = [OSError(5, "Input/output error"), ConnectionResetError(104, "reset by peer"),
               BrokenPipeError(32, "Broken pipe"), ConnectionAbortedError("aborted"),
               TimeoutError("timed out"), serial.SerialException("device disconnected"),
               serial.SerialTimeoutException("write timeout")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("error", LINK_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("operation", ["write", "read"])
def test_a_link_error_anywhere_in_a_job_is_a_link_error(error, operation):
    rng = random.Random(f"{type(error).__name__}-{operation}")
    for _ in range(4):
        device = EmulatedDevice(CONFIG, max_request_payload=64)
        link = FailingLink(device, error, operation, at=rng.randrange(1, 16))  # after INFO
        backend = _framed(link)
        with pytest.raises(errors.LinkError, match=type(error).__name__) as info:
            a, b = _problem(rng.randrange(100))
            backend.run_jobs(a, b, PARAMS, [1, 2])
        assert isinstance(info.value, errors.SPUError) and info.value.__cause__ is error
        assert "reset()" in str(info.value) and info.value.transport == "model"
        link.enabled = False
        backend.reset()
        _expect_golden(backend)


@pytest.mark.timeout(30)
def test_a_link_error_while_opening_is_a_link_error():
    link = FailingLink(EmulatedDevice(CONFIG), ConnectionResetError(104, "reset"), "write", at=0)
    with pytest.raises(errors.LinkError, match="INFO"):
        _framed(link)


# --- malformed answers -----------------------------------------------------------------------
def _shortened(command):
    return lambda seq, payload: _response(command, seq, payload[:-1])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", [Command.READ_MEAN, Command.READ_MOMENTS])
def test_a_wrong_length_reply_is_a_protocol_error(command):
    backend = _framed(TamperingLink(EmulatedDevice(CONFIG), {command: _shortened(command)}))
    a, b = _problem(3)
    with pytest.raises(errors.ProtocolError, match=f"{command.name} returned \\d+ bytes, expected"):
        backend.run_jobs(a, b, PARAMS, [1, 2])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("data", [b"", b"\x01", bytes(18), bytes([9]) + bytes(16)],
                         ids=["empty", "short", "long", "unknown-state"])
def test_a_malformed_status_is_a_protocol_error(data):
    answer = {Command.STATUS: lambda seq, _: _response(Command.STATUS, seq, bytes([Status.OK]) + data)}
    backend = _framed(TamperingLink(EmulatedDevice(CONFIG), answer))
    a, b = _problem(4)
    with pytest.raises(errors.ProtocolError, match="malformed STATUS"):
        backend.run_jobs(a, b, PARAMS, [1, 2])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", range(40))
def test_random_answers_give_a_typed_error_or_a_result(seed):
    """Garbage that passes the CRC, with the right SEQ, in place of one answer of a job."""
    rng = random.Random(seed)
    command = rng.choice([Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS, Command.SET_PARAMS,
                          Command.RUN, Command.STATUS, Command.READ_MEAN, Command.READ_MOMENTS])
    garbage = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 5, 17, 18, 40])))
    used = []

    def answer(seq, payload):
        if used:
            return _response(command, seq, payload)
        used.append(True)
        return _response(command, seq, garbage)

    device = EmulatedDevice(CONFIG)
    backend = _framed(TamperingLink(device, {command: answer}), deadline=5.0)
    a, b = _problem(seed)
    try:
        backend.run_jobs(a, b, PARAMS, [1, 2])
    except errors.SPUError:
        pass
    backend.link.answers.clear()
    backend.reset()
    _expect_golden(backend)


# --- K-FAC goes on ---------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_kfac_training_survives_a_connection_reset_mid_run():
    """The link dies for good after some device calls: each update falls back to digital
    (LinkError counted), training goes on and the loss stays finite."""
    config = SPUConfig(n=16, lanes=4, a_bits=12, b_bits=14, x_bits=20, out_bits=12)
    # The link dies for good right after the first step's inverse update (a fixed count of
    # writes would depend on how many STATUS polls a job's wall time takes).
    link = FailingLink(EmulatedDevice(config), ConnectionResetError(104, "Connection reset by peer"),
                       "write", at=10**9, dead=True)
    backend = FramedBackend(link, "model", "test device", timeout=0.2, retries=1, deadline=60.0)
    device = Device(backend, samples=128, pilot_samples=32)
    net = tiny_net()
    solver = ThermodynamicInverseSolver(device, samples=128)
    pre = KFACPreconditioner(net, solver, damping=0.1, kl_clip=None, inv_update_interval=1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = tiny_batch(batch=12)
    losses = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            pre.step()
            optimizer.step()
            losses.append(loss.item())
            link.at = min(link.at, link.calls["write"])
    assert link.calls["write"] > link.at                # the link did die mid-run
    assert solver.metrics["device_jobs"] > 0
    assert solver.metrics["fallbacks"] >= 1
    assert solver.metrics["fallbacks_LinkError"] == solver.metrics["fallbacks"]
    assert any("ConnectionResetError" in str(w.message) for w in caught)
    assert all(math.isfinite(v) for v in losses) and len(losses) == 4
