"""Shared options and fixtures of the gateware tests.

Options and environment variables
---------------------------------
``--waves`` or ``THERMOSPU_WAVES=1``
    Simulator runs write waveforms (Icarus: FST, Verilator: VCD) next to their results; the
    test prints where. Never on by default: dumping slows the simulators several times.
``THERMOSPU_SEED=<int>`` or ``THERMOSPU_SEED=random``
    Master seed of the random tests. By default each random test uses a fixed seed derived from
    its name (CI is reproducible); ``random`` draws a fresh one; an integer replays a run. Each
    random test prints the seed it used, and a failure message repeats it.
``THERMOSPU_LONG=1``
    Random cocotb tests run their long set (>= 500 random configurations per simulator).
``THERMOSPU_REQUIRE_SIMULATORS=1``
    (set by CI) a missing simulator fails the test instead of skipping it.
``THERMOSPU_SIM_CACHE=<dir>``
    Where compiled simulation models are cached (default ``~/.cache/thermospu/sim_build``).
"""

from __future__ import annotations

import os
import random
import zlib

import pytest

from thermospu.rtl.sim.runner import ensure_importable

# The cocotb test package (cocotb_spu) is imported by name, here and in the simulators.
ensure_importable(os.path.dirname(os.path.abspath(__file__)))


def pytest_addoption(parser):
    parser.addoption("--waves", action="store_true", default=False,
                     help="write simulator waveforms (same as THERMOSPU_WAVES=1)")


def pytest_configure(config):
    if config.getoption("--waves"):
        os.environ["THERMOSPU_WAVES"] = "1"


@pytest.fixture
def master_seed(request) -> int:
    """Seed of a random test (see THERMOSPU_SEED above); printed for replay."""
    env = os.environ.get("THERMOSPU_SEED", "").strip().lower()
    if env == "random":
        seed = random.SystemRandom().randrange(1 << 32)
    elif env:
        seed = int(env, 0)
    else:
        seed = zlib.crc32(request.node.nodeid.encode())
    print(f"\n{request.node.nodeid}: master seed {seed} "
          f"(replay: THERMOSPU_SEED={seed} pytest '{request.node.nodeid}')")
    return seed
