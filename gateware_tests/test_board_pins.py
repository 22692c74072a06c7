"""The board system (UART <-> protocol engine <-> SPU core) at its UART pins, in Icarus.

* ``test_uart_pins``: cocotb tests with real bit timing (gateware_tests/cocotb_board/
  board_pins.py): garbage bytes, a wrong-version header, back-to-back frames, a framing error,
  a break in the middle of a frame.
* ``test_serial_transport_through_pty_matches_golden``: end to end. The simulator bridges a
  pseudo-terminal to the UART pins; this process opens it with the driver's ``serial:``
  transport, exactly as it would open a board's /dev/ttyUSB1, solves a small system, and the
  result must equal the emulated SPU's ("model" transport) bit for bit, with the raw accumulators
  equal to the golden model's.

The design is a board's clocking at 24 MHz (3 Mbaud: 8 clock cycles per bit, the tightest
UART divisor the boards have used; the defaults make 12 at 36 MHz and 20 at 60 MHz) around a
small SPU (N=4) so that the simulation stays short.
"""

import contextlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cocotb_spu.options import need_simulator

CLOCK_HZ = 24e6
BAUD = 3_000_000
BOARD_NAME = "sim-board"
COCOTB_DIR = Path(__file__).parent / "cocotb_board"


def small_config():
    from thermospu.rtl.spec.config import SPUConfig
    return SPUConfig(n=4, lanes=2, a_bits=8, b_bits=10, x_bits=12, out_bits=8, sigma_bits=6,
                     max_samples_log2=10)


def board_simulation(config=None):
    """The Icarus build of a board top of ``config`` (default :func:`small_config`) and the
    environment its cocotb tests read."""
    from thermospu.boards.top import SPUBoardTop
    from thermospu.rtl.sim.runner import SimulationBuild, ensure_importable, verilog_source

    need_simulator("icarus")
    config = config or small_config()
    top = SPUBoardTop(config, CLOCK_HZ, BAUD, board=BOARD_NAME)
    build = SimulationBuild(verilog_source(top, name="board_top"), "board_top", "icarus",
                            label=f"board-top-n{config.n}")
    ensure_importable(COCOTB_DIR)
    env = {"BOARD_DIVISOR": str(top.divisor), "BOARD_CLOCK_HZ": str(CLOCK_HZ),
           "BOARD_NAME": BOARD_NAME}
    return build, env


def test_uart_pins():
    build, env = board_simulation()
    build.run("board_pins", extra_env=env,
              testcase=["answers_info_after_garbage", "back_to_back_frames",
                        "framing_error_lights_error_and_frame_after_is_answered",
                        "break_abandons_half_frame_and_clears_error"])


def test_serial_transport_through_pty_matches_golden(tmp_path):
    import thermospu.driver as driver
    from thermospu.rtl.spec import golden
    from thermospu.rtl.spec.config import JobParams

    rng = np.random.default_rng(3)
    m = rng.standard_normal((4, 4))
    a = m @ m.T + 4 * np.eye(4)
    b = rng.standard_normal(4)
    config = small_config()
    # Raw accumulators of a noisy job with moments, straight from the transport.
    a_q = rng.integers(-128, 128, size=(4, 4))
    b_q = rng.integers(-512, 512, size=(1, 4))
    params = JobParams(n_active=4, k=3, b_shift=2, sigma_q=40, sigma_shift=3, burn_in=20,
                       samples=16, thin=2, moments=True)
    with pty_board(tmp_path, config) as uri, driver.open(uri) as board:
        assert board.config == config
        (raw,) = board.backend.run_jobs(a_q, b_q, params, [0xC0FFEE])
        x_board, diagnostics = board.solve_with_info(a, b, samples=64, seed=11)
    (golden_raw,) = golden.run_jobs(config, a_q, b_q, params, [0xC0FFEE])
    assert raw == golden_raw, (raw, golden_raw)
    assert raw.saturations == golden_raw.saturations and raw.count == 16

    with driver.open("model", **config.to_dict()) as model:
        x_model = model.solve(a, b, samples=64, seed=11)
    print(f"board (simulated, via pty): x = {x_board}, {diagnostics.steps} steps")
    assert diagnostics.steps > 0
    np.testing.assert_array_equal(x_board, x_model)


@contextlib.contextmanager
def pty_board(tmp_path, config):
    """A simulated board of ``config`` behind a pseudo-terminal (the simulator bridges it to
    the UART pins); yields the ``serial:`` URI that opens it, as a board's /dev/ttyUSB1."""
    build, env = board_simulation(config)
    pty_file, done_file = tmp_path / "pty", tmp_path / "done"
    env.update(BOARD_PTY_FILE=str(pty_file), BOARD_DONE_FILE=str(done_file))
    build.build()
    failure = []

    def simulate():
        try:
            build.run("board_pins", testcase="pty_bridge", extra_env=env,
                      test_dir=tmp_path / "sim")
        except BaseException as error:      # SystemExit from the runner included
            failure.append(error)

    simulator = threading.Thread(target=simulate, daemon=True)
    simulator.start()
    try:
        deadline = time.monotonic() + 120
        while not pty_file.exists():
            assert simulator.is_alive(), f"simulator stopped before opening the pty: {failure}"
            assert time.monotonic() < deadline, "simulator did not open the pty"
            time.sleep(0.05)
        yield f"serial:{pty_file.read_text()}?baud={BAUD}&timeout=60"
    finally:
        done_file.write_text("done")
        simulator.join(timeout=120)
    assert not failure, failure[0]


def test_kfac_training_over_the_serial_transport_equals_the_model(tmp_path):
    """`thermospu train --solver spu --device serial:...`'s path: the board's configuration comes
    from its INFO (the run asks only for enough cells), and two K-FAC steps on a board give the
    same weights, bit for bit, as on the emulated SPU of the same configuration (one step: two
    factor inverses through a UART simulated bit by bit)."""
    from thermospu.rtl.spec.config import SPUConfig
    from kfac_devices import kfac_weights_after

    config = SPUConfig(n=4, lanes=2, a_bits=8, b_bits=8, x_bits=12, out_bits=8, sigma_bits=6,
                       max_samples_log2=10)
    with pty_board(tmp_path, config) as uri:
        on_board = kfac_weights_after(uri, in_bits=None, out_bits=None, steps=1)
    model_uri = "model?" + "&".join(f"{k}={v}" for k, v in config.to_dict().items())
    on_model = kfac_weights_after(model_uri, in_bits=8, out_bits=8, steps=1)
    for board_weight, model_weight in zip(on_board, on_model):
        assert torch.equal(board_weight, model_weight)
