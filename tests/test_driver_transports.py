"""One driver test suite over every transport: jobs, solve/inv and errors, bit-identical results.

``model`` always runs; ``sim:icarus`` and ``sim:verilator`` run the gateware (protocol engine +
core) under cocotb where the simulator is installed, skip otherwise, and fail instead of skipping
when THERMOSPU_REQUIRE_SIMULATORS=1 (CI). Simulated runs use a small machine and short jobs.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from thermospu.driver import errors
from thermospu.driver.device import Device
from thermospu.driver.transports import Backend, open_backend
from thermospu.rtl.spec import golden, wire
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.wire import Command, JobState

#: Small enough for a simulated core to run a job in well under a second.
CONFIG = dict(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16)
TRANSPORTS = ["model", "sim:icarus", "sim:verilator"]


def _skip_or_fail(reason: str):
    if os.environ.get("THERMOSPU_REQUIRE_SIMULATORS") == "1":
        pytest.fail(f"THERMOSPU_REQUIRE_SIMULATORS=1 but: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module", params=TRANSPORTS)
def uri(request):
    if request.param.startswith("sim:"):
        from thermospu.rtl.sim.runner import missing_simulator_reason

        reason = missing_simulator_reason(request.param.split(":")[1])
        if reason:
            _skip_or_fail(reason)
    return request.param


@pytest.fixture(scope="module")
def backend(uri):
    b = open_backend(uri, **CONFIG)
    yield b
    b.close()


class GoldenBackend(Backend):
    """The golden model called directly: the reference every transport must reproduce."""

    def __init__(self, config):
        self.name, self.config, self.description = "golden", config, "golden model, direct"

    def run_jobs(self, a_q, b_q, params, seeds, progress=None):
        return golden.run_jobs(self.config, a_q, b_q, params, seeds, progress=progress)


def _problem(seed, n=4, chains=2):
    rng = np.random.default_rng(seed)
    a = rng.integers(-512, 512, (n, n))
    b = rng.integers(-2048, 2048, (chains, n))
    return a, b


def test_info_reports_the_machine(backend):
    assert backend.config == SPUConfig(**CONFIG)
    info = backend.info()
    assert info["protocol_version"] == wire.PROTOCOL_VERSION
    assert info["max_chains"] >= 1 and info["max_request_payload"] >= wire.SET_PARAMS_BYTES


@pytest.mark.parametrize("moments", [True, False])
def test_jobs_match_the_golden_model_bit_for_bit(backend, moments):
    a, b = _problem(1, chains=3)
    params = JobParams(n_active=4, k=3, b_shift=0, sigma_q=300, sigma_shift=2, burn_in=7,
                       samples=25, thin=2, moments=moments)
    seeds = [11, 2**64 - 1, 0]
    config = backend.config
    assert backend.run_jobs(a, b, params, seeds) == golden.run_jobs(config, a, b, params, seeds)
    # A smaller problem in the same machine (n_active < N) and saturating dynamics.
    a3 = -np.abs(_problem(2, n=3)[0])
    b3 = np.full((1, 3), config.b_max_code)
    params3 = JobParams(n_active=3, k=0, b_shift=config.b_shift_max, sigma_q=0, sigma_shift=0,
                        burn_in=0, samples=9, moments=moments)
    result = backend.run_jobs(a3, b3, params3, [5])
    assert result == golden.run_jobs(config, a3, b3, params3, [5])
    assert result[0].saturations > 0


def test_solve_and_inv_are_identical_to_the_golden_model(uri, backend):
    rng = np.random.default_rng(5)
    m = rng.normal(size=(4, 4))
    a = m @ m.T + 4 * np.eye(4)
    rhs = rng.normal(size=(4, 2))
    device = Device(backend, samples=64, pilot_samples=16)
    reference = Device(GoldenBackend(backend.config), samples=64, pilot_samples=16)
    x, info = device.solve_with_info(a, rhs, seed=123)
    assert np.array_equal(x, reference.solve(a, rhs, seed=123))
    assert np.array_equal(device.inv(a, seed=7), reference.inv(a, seed=7))
    assert info.transport == uri


def test_jobs_and_refinement_are_identical_to_the_golden_model(uri, backend):
    """K jobs per call and refinement rounds: the same bits whether the jobs run as parallel
    chains (model) or one after another (a one-chain simulated core), and as the golden model."""
    rng = np.random.default_rng(8)
    m = rng.normal(size=(4, 4))
    a = m @ m.T + 4 * np.eye(4)
    rhs = rng.normal(size=4)
    options = dict(samples=48, pilot_samples=8, jobs=3, refine=1)
    device = Device(backend, **options)
    reference = Device(GoldenBackend(backend.config), **options)
    x, info = device.solve_with_info(a, rhs, seed=11)
    assert (info.jobs, info.chains, info.rounds) == (3, 3, 2)
    assert np.array_equal(x, reference.solve(a, rhs, seed=11))
    inverse, info = device.inv_with_info(a, seed=12)
    assert info.jobs == 3
    assert np.array_equal(inverse, reference.inv(a, seed=12))


def test_a_batched_solve_loads_the_matrix_once(backend):
    loads = []
    original = backend.client.request

    def counting(command, payload=b""):
        loads.append(command)
        return original(command, payload)

    backend.client.request = counting
    try:
        rng = np.random.default_rng(6)
        m = rng.normal(size=(4, 4))
        Device(backend, samples=32, pilot_samples=16).solve(m @ m.T + 4 * np.eye(4),
                                                            rng.normal(size=(4, 3)), seed=1)
    finally:
        backend.client.request = original
    assert loads.count(Command.LOAD_A) == 1    # n == N: the whole matrix is one LOAD_A run
    assert loads.count(Command.RUN) >= 1


def test_device_errors_become_typed_exceptions(backend):
    backend.reset()
    with pytest.raises(errors.DeviceNotReadyError, match="RUN"):
        backend.client.request(Command.RUN)
    with pytest.raises(errors.DeviceNotReadyError, match="READ_MEAN"):
        backend.client.request(Command.READ_MEAN, struct.pack("<HHH", 0, 0, 1))
    with pytest.raises(errors.DeviceRejectedError, match="BAD_ARGUMENT") as info:
        backend.client.request(Command.LOAD_A, struct.pack("<HH", 4, 0) + bytes(2))
    assert (info.value.transport, info.value.command) == (backend.name, "LOAD_A")
    with pytest.raises(errors.DeviceRejectedError, match="UNKNOWN_COMMAND"):
        backend.client.request(0x55)
    with pytest.raises(errors.DeviceRejectedError, match="BAD_LENGTH"):
        backend.client.request(Command.STATUS, b"\x00")


def test_invalid_input_is_refused_before_anything_is_sent(backend):
    sent = backend.client.stats["requests"]
    params = JobParams(n_active=4, k=3, b_shift=0, sigma_q=0, sigma_shift=0, burn_in=0, samples=4)
    a, b = _problem(3)
    with pytest.raises(errors.ConfigError, match="a_q codes"):
        backend.run_jobs(a * 4, b, params, [1, 2])
    with pytest.raises(errors.ConfigError, match="seeds"):
        backend.run_jobs(a, b, params, [1])
    with pytest.raises(errors.ConfigError, match="n_active"):
        backend.run_jobs(a, b, JobParams(**{**params.to_dict(), "n_active": 5}), [1, 2])
    assert backend.client.stats["requests"] == sent


def test_reset_stops_a_running_job_and_the_next_job_is_exact(backend):
    backend.reset()
    params = JobParams(n_active=4, k=3, b_shift=0, sigma_q=10, sigma_shift=0,
                       burn_in=2**32 - 1, samples=1)
    backend.client.request(Command.SET_PARAMS, wire.encode_params(params, 1))
    backend.client.request(Command.RUN)
    status = wire.decode_status(backend.client.request(Command.STATUS))
    assert status.state == JobState.RUNNING
    with pytest.raises(errors.DeviceBusyError):
        backend.client.request(Command.LOAD_B, struct.pack("<HH", 0, 0) + bytes(2))
    backend.reset()
    assert wire.decode_status(backend.client.request(Command.STATUS)).state == JobState.IDLE
    a, b = _problem(4, chains=1)
    params = JobParams(n_active=4, k=2, b_shift=1, sigma_q=99, sigma_shift=1, burn_in=3, samples=10)
    assert backend.run_jobs(a, b, params, [9]) == golden.run_jobs(backend.config, a, b, params, [9])

