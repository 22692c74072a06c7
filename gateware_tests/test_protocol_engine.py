"""The gateware protocol engine (rtl/gateware/protocol/) on the SPU core, Amaranth simulator:
answers identical to the emulated device's, CRC identical to the host's, jobs identical to the
golden model's, and a fuzz of >= 500 random and mutated frames."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from protocol_harness import EngineSession, Oracle, make_dut, simulate

from thermospu.rtl.spec import golden, wire
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.wire import Command, JobState, Status

CONFIG = SPUConfig(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16)
CAPACITY = 64


def test_parameters_are_validated():
    from thermospu.rtl.gateware.protocol import ProtocolEngine

    with pytest.raises(ValueError, match="max_request_payload"):
        ProtocolEngine(CONFIG, max_request_payload=10)
    with pytest.raises(ValueError, match="idle_timeout"):
        ProtocolEngine(CONFIG, idle_timeout=0)
    with pytest.raises(TypeError):
        ProtocolEngine("n=4")


def test_a_refused_engine_leaves_no_unused_elaboratable_warning():
    import gc
    import warnings

    from amaranth.hdl import Fragment, Module, UnusedElaboratable

    from thermospu.rtl.gateware.protocol import ProtocolEngine

    def refuse(options):
        try:
            ProtocolEngine(CONFIG, **options)
        except ValueError:
            return                     # the exception, and the frames it holds, dropped here
        raise AssertionError(f"{options} was accepted")

    Fragment.get(Module(), None)       # Amaranth warns of unused elaboratables once one is used
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for options in ({"max_request_payload": 10}, {"idle_timeout": 0}, {"board": "\u00e9"}):
            refuse(options)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, UnusedElaboratable)], caught


def _frame(command, seq, payload=b""):
    return wire.encode_frame(command, seq, payload)


def _job_frames(a, b, params, seq0=1):
    """The frames the driver sends for one job, A..SET_PARAMS then RUN (as bytes per frame)."""
    n = params.n_active
    fmt = wire.WireFormat.for_config(CONFIG)
    frames = []
    for row in range(n):
        frames.append((Command.LOAD_A, struct.pack("<HH", row, 0) + wire.pack_signed(a[row], fmt.a_bytes)))
    frames.append((Command.LOAD_B, struct.pack("<HH", 0, 0) + wire.pack_signed(b, fmt.b_bytes)))
    states = golden.cell_seeds(params.seed, n).astype("<u4")
    for cell in range(0, n, 3):   # 3 cells per frame: 4 + 48 bytes fits the 64-byte buffer
        frames.append((Command.LOAD_SEEDS, struct.pack("<HH", 0, cell) + states[cell:cell + 3].tobytes()))
    frames.append((Command.SET_PARAMS, wire.encode_params(params, 1)))
    frames.append((Command.RUN, b""))
    return [_frame(c, (seq0 + i) & 0xFF, p) for i, (c, p) in enumerate(frames)]


def _results_frames(params, seq0):
    n = params.n_active
    frames = [_frame(Command.READ_MEAN, seq0, struct.pack("<HHH", 0, 0, n))]
    if params.moments:
        frames.append(_frame(Command.READ_MOMENTS, seq0 + 1, struct.pack("<HIH", 0, 0, n * (n + 1) // 2)))
    return frames


def _decode_results(mean_frame, moments_frame, params, status):
    fmt = wire.WireFormat.for_config(CONFIG)
    data = mean_frame.payload[1:]
    sum_yy = None
    if moments_frame is not None:
        sum_yy = wire.unpack_signed(moments_frame.payload[1:], fmt.sum_yy_bytes)
    return golden.JobResult(sum_y=wire.unpack_signed(data[4:], fmt.sum_y_bytes), sum_yy=sum_yy,
                            count=status.samples, saturations=struct.unpack_from("<I", data)[0],
                            steps=status.steps)


async def _run_job(ctx, session, a, b, params, seq0=1):
    for frame in _job_frames(a, b, params, seq0):
        (response,) = await session.exchange(ctx, frame)
        assert response.status == Status.OK, (response, frame)
    for _ in range(10_000):
        (response,) = await session.exchange(ctx, _frame(Command.STATUS, 0x77))
        status = wire.decode_status(response.payload[1:])
        if status.state == JobState.DONE:
            break
    else:
        raise AssertionError("job did not finish")
    responses = [(await session.exchange(ctx, f))[0] for f in _results_frames(params, 0x78)]
    assert all(r.status == Status.OK for r in responses), responses
    return _decode_results(responses[0], responses[1] if params.moments else None, params, status)


def test_info_crc_and_a_job_match_the_emulator_and_the_golden_model():
    dut = make_dut(CONFIG, CAPACITY)
    session = EngineSession(dut)
    rng = np.random.default_rng(2)
    a = rng.integers(-512, 512, (4, 4))
    b = rng.integers(-2048, 2048, 4)
    params = JobParams(n_active=4, k=3, b_shift=1, sigma_q=400, sigma_shift=2, burn_in=5,
                       samples=12, thin=2, seed=0xDEADBEEF)
    small = JobParams(n_active=3, k=2, b_shift=0, sigma_q=100, sigma_shift=1, burn_in=0,
                      samples=7, moments=False, seed=5)
    outcome = {}

    async def testbench(ctx):
        (info,) = await session.exchange(ctx, _frame(Command.INFO, 1))
        outcome["info"] = info
        outcome["job"] = await _run_job(ctx, session, a, b, params)
        outcome["small"] = await _run_job(ctx, session, a[:3, :3], b[:3], small, seq0=40)

    simulate(dut, testbench)
    assert session.decoder.rejected == 0           # every byte sent back passed the host's CRC
    info = wire.decode_info(outcome["info"].payload[1:])
    assert info.config == CONFIG and info.max_chains == 1 and info.max_request_payload == CAPACITY
    assert outcome["job"] == golden.run_job(CONFIG, a, b, params)
    assert outcome["small"] == golden.run_job(CONFIG, a[:3, :3], b[:3], small)


FUZZ_SEED = 4242
FUZZ_IDLE_FRAMES = 500
FUZZ_BUSY_FRAMES = 100
#: Commands the differential fuzz draws from: RUN is left out so that no job runs while the
#: two devices are compared (their timing differs; their answers must not).
IDLE_FUZZ_COMMANDS = tuple(c for c in Command if c != Command.RUN) + (0x00, 0x42, 0xFF)


def _comparable(frames):
    """What must agree between engine and emulator: everything but INFO's data (board name,
    versions and clock differ by design)."""
    return [(f.code, f.seq, f.status,
             None if f.code == Command.INFO | wire.RESPONSE_FLAG else f.payload) for f in frames]


async def _wait_done(ctx, session):
    for _ in range(100_000):
        (response,) = await session.exchange(ctx, _frame(Command.STATUS, 0x70))
        status = wire.decode_status(response.payload[1:])
        if status.state != JobState.RUNNING:
            return status
    raise AssertionError("job did not finish")


def test_fuzz_answers_match_the_emulated_device_frame_for_frame():
    from thermospu.rtl.spec.fuzz import fuzz_chunks

    dut = make_dut(CONFIG, CAPACITY)
    session = EngineSession(dut)
    oracle = Oracle(CONFIG, CAPACITY)
    rng = np.random.default_rng(8)
    a = rng.integers(-512, 512, (4, 4))
    b = rng.integers(-2048, 2048, 4)
    params = JobParams(n_active=4, k=3, b_shift=0, sigma_q=200, sigma_shift=1, burn_in=3,
                       samples=10, seed=77)
    chunks = list(fuzz_chunks(FUZZ_SEED, FUZZ_IDLE_FRAMES, CONFIG, CAPACITY, IDLE_FUZZ_COMMANDS))
    mismatches = []
    count = {"responses": 0}

    async def testbench(ctx):
        # A finished job first, so that READ_MEAN / READ_MOMENTS have results to disagree on.
        for frame in _job_frames(a, b, params):
            assert _comparable(await session.exchange(ctx, frame)) == _comparable(oracle.exchange(frame))
        await _wait_done(ctx, session)
        for i, chunk in enumerate(chunks):
            got = await session.exchange(ctx, chunk)
            want = oracle.exchange(chunk)
            count["responses"] += len(got)
            if _comparable(got) != _comparable(want):
                mismatches.append((i, chunk.hex(), got, want))

    simulate(dut, testbench)
    oracle.close()
    assert not mismatches, f"{len(mismatches)} of {len(chunks)} differ; first: {mismatches[0]}"
    assert session.decoder.rejected == 0
    print(f"engine fuzz: {len(chunks)} chunks, {count['responses']} responses, "
          f"{session.cycles} cycles, identical to the emulated device")


def test_fuzz_while_a_job_runs_cannot_touch_it():
    from thermospu.rtl.spec.fuzz import fuzz_chunks

    dut = make_dut(CONFIG, CAPACITY)
    session = EngineSession(dut)
    rng = np.random.default_rng(9)
    a = rng.integers(-512, 512, (4, 4))
    b = rng.integers(-2048, 2048, 4)
    params = JobParams(n_active=4, k=4, b_shift=1, sigma_q=500, sigma_shift=2, burn_in=1000,
                       samples=16, thin=3, seed=1234)
    commands = tuple(c for c in Command if c not in (Command.RUN, Command.RESET, Command.ABORT))
    chunks = list(fuzz_chunks(FUZZ_SEED + 1, FUZZ_BUSY_FRAMES, CONFIG, CAPACITY, commands))
    seen = {}
    outcome = {}

    async def testbench(ctx):
        for frame in _job_frames(a, b, params):
            (response,) = await session.exchange(ctx, frame)
            assert response.status == Status.OK
        for chunk in chunks:
            for response in await session.exchange(ctx, chunk):
                command = response.code & ~wire.RESPONSE_FLAG
                seen.setdefault(Status(response.status).name, set()).add(command)
        (response,) = await session.exchange(ctx, _frame(Command.STATUS, 1))
        outcome["still_running"] = wire.decode_status(response.payload[1:]).state == JobState.RUNNING
        status = await _wait_done(ctx, session)
        responses = [(await session.exchange(ctx, f))[0] for f in _results_frames(params, 0x78)]
        outcome["result"] = _decode_results(responses[0], responses[1], params, status)

    simulate(dut, testbench)
    assert outcome["still_running"], "the job ended before the fuzz did: lengthen its burn-in"
    # While the job ran, only INFO and STATUS may succeed; everything else was BUSY or rejected.
    assert seen.get("OK", set()) <= {Command.INFO, Command.STATUS}, seen
    assert "BUSY" in seen
    assert outcome["result"] == golden.run_job(CONFIG, a, b, params)
