"""SPUCore's generated Verilog under cocotb, in Icarus and Verilator, bit for bit against the
golden model (the cocotb side is gateware_tests/cocotb_spu/; docs/verification.md explains).

Quick set (default): per simulator, RANDOM_BUILDS random machines (N, P and every width drawn
from the test's master seed; one compile each) times RANDOM_JOBS random jobs, plus the directed
cases on a fixed small machine. ``THERMOSPU_LONG=1``: more machines and jobs, >= 500 random
configurations per simulator. Replay a failure with the printed ``THERMOSPU_SEED``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cocotb_spu.jobs import random_config
from cocotb_spu.options import long_run, need_simulator
from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.sim.runner import (SIMULATORS, SimulationBuild, SimulationFailedError,
                                    verilog_source)

TOPLEVEL = "spu_core"
TEST_MODULE = "cocotb_spu.spu_tests"

#: Random machines per simulator and random jobs per machine.
RANDOM_BUILDS, RANDOM_JOBS = (5, 100) if long_run() else (2, 12)
#: Largest N of a random machine (a job's cost grows as N**2 cycles per step and N**2 loads).
RANDOM_N_MAX = 16 if long_run() else 8

#: Machine of the directed cases: narrow widths so that rails, ties and wrap-around bounds are
#: reached in few steps; P < N so rows are spread over banks.
DIRECTED_CONFIG = SPUConfig(n=4, lanes=2, a_bits=8, b_bits=10, x_bits=14, out_bits=10,
                            sigma_bits=8, max_samples_log2=10)
DIRECTED_CASES = ["saturation_both_rails", "zero_matrix", "identity", "back_to_back_shrinking",
                  "abort_mid_run", "reset_mid_run", "read_before_done"]


def core_build(config: SPUConfig, simulator: str) -> SimulationBuild:
    """SPUCore(config) as Verilog, compiled for ``simulator`` (cached across runs)."""
    need_simulator(simulator)
    from thermospu.rtl.gateware.core import SPUCore

    label = (f"spu-n{config.n}-p{config.lanes}-a{config.a_bits}b{config.b_bits}"
             f"x{config.x_bits}y{config.out_bits}s{config.sigma_bits}m{config.max_samples_log2}")
    build = SimulationBuild(verilog_source(SPUCore(config), TOPLEVEL), TOPLEVEL, simulator,
                            label=label)
    return build.build()


def run_cocotb(build: SimulationBuild, config: SPUConfig, tmp_path, testcase=None, **env):
    env = {"THERMOSPU_SPU_CONFIG": json.dumps(config.to_dict()),
           **{k: str(v) for k, v in env.items()}}
    build.run(TEST_MODULE, testcase=testcase, extra_env=env, test_dir=tmp_path)
    if build.last_waves is not None:
        print(f"waveforms: {build.last_waves}")


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("machine", range(RANDOM_BUILDS))
def test_random_jobs_bit_exact(simulator, machine, master_seed, tmp_path):
    rng = np.random.default_rng([master_seed, machine])
    config = random_config(rng, n_max=RANDOM_N_MAX)
    job_seed = int(rng.integers(1 << 62))
    print(f"machine {machine}: {config}; THERMOSPU_JOB_SEED={job_seed}, {RANDOM_JOBS} jobs")
    build = core_build(config, simulator)
    report = tmp_path / "report.json"
    replay = f"replay: THERMOSPU_SEED={master_seed} (machine {machine}: {config})"
    try:
        run_cocotb(build, config, tmp_path, testcase="random_jobs", THERMOSPU_JOB_SEED=job_seed,
                   THERMOSPU_JOB_COUNT=RANDOM_JOBS, THERMOSPU_REPORT=report)
    except SimulationFailedError as e:
        raise SimulationFailedError(f"{replay}\n{e}", e.results, e.log) from None
    result = json.loads(report.read_text())
    assert result["failures"] == [], replay
    # The run must really have compared every job (a silent early exit would pass otherwise).
    assert result["compared"] == RANDOM_JOBS
    assert len(result["jobs"]) == RANDOM_JOBS


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_directed_cases(simulator, tmp_path):
    build = core_build(DIRECTED_CONFIG, simulator)
    run_cocotb(build, DIRECTED_CONFIG, tmp_path, testcase=DIRECTED_CASES)
    # Every directed case ran (a name that no longer exists would otherwise be skipped).
    import xml.etree.ElementTree as ET

    ran = {c.get("name") for c in ET.parse(tmp_path / "results.xml").getroot().iter("testcase")}
    assert ran == set(DIRECTED_CASES)
