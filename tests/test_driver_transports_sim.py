"""``thermospu sim-server`` started by hand and reached by address (``sim://HOST:PORT``).

Uses Icarus (skips without it, fails under THERMOSPU_REQUIRE_SIMULATORS=1); the compiled model
is the one tests/test_driver_transports.py builds for the same machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from thermospu.driver.transports import open_backend
from thermospu.rtl.spec import golden
from thermospu.rtl.spec.config import JobParams, SPUConfig

CONFIG = SPUConfig(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16)


def test_a_sim_server_started_by_hand_is_reached_by_address(tmp_path):
    from thermospu.rtl.sim.runner import missing_simulator_reason

    reason = missing_simulator_reason("icarus")
    if reason:
        if os.environ.get("THERMOSPU_REQUIRE_SIMULATORS") == "1":
            pytest.fail(f"THERMOSPU_REQUIRE_SIMULATORS=1 but: {reason}")
        pytest.skip(reason)
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "thermospu.host_kfac.cli", "sim-server", "--simulator", "icarus",
               "--port-file", str(port_file)]
    for field, value in CONFIG.to_dict().items():
        command += [f"--{field.replace('_', '-')}", str(value)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not port_file.exists():
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "sim-server did not start"
            time.sleep(0.05)
        port = int(port_file.read_text())
        backend = open_backend(f"sim://127.0.0.1:{port}")
        assert backend.config == CONFIG                     # from the gateware's INFO
        assert backend.info()["board"] == "sim:icarus"
        rng = np.random.default_rng(3)
        a = rng.integers(-512, 512, (4, 4))
        b = rng.integers(-2048, 2048, (1, 4))
        params = JobParams(n_active=4, k=3, b_shift=0, sigma_q=50, sigma_shift=1, burn_in=2, samples=6)
        assert backend.run_jobs(a, b, params, [8]) == golden.run_jobs(CONFIG, a, b, params, [8])
        backend.close()                                     # the server serves one connection
        output, _ = server.communicate(timeout=60)
        assert server.returncode == 0, output
        assert f"listening on 127.0.0.1:{port}" in output
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
