"""The wire protocol (rtl/spec/wire.py) and the emulated device's answers to every kind of frame."""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thermospu.rtl.spec.emulator import EmulatedDevice
from thermospu.rtl.spec import wire
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.wire import Command, JobState, Status

CONFIG = SPUConfig(n=8, lanes=4, a_bits=10, b_bits=12, x_bits=18, out_bits=10)


def test_crc_is_the_amaranth_catalogue_crc():
    from amaranth.lib import crc

    algorithm = crc.catalog.CRC32_ISO_HDLC
    assert {name: getattr(algorithm, name) for name in wire.CRC_PARAMETERS} == wire.CRC_PARAMETERS
    rng = np.random.default_rng(7)
    for length in (0, 1, 5, 64, 1000):
        data = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        assert wire.crc32(data) == algorithm().compute(data)


@given(st.integers(0, 0x7F), st.integers(0, 255), st.binary(max_size=300),
       st.lists(st.integers(1, 40), max_size=8))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_frames_survive_any_split_and_surrounding_garbage(code, seq, payload, cuts):
    frame = wire.encode_frame(code, seq, payload)
    stream = b"\x00\xa5\x13" + frame + b"\xa5\xa5" + frame
    decoder = wire.FrameDecoder()
    frames, i = [], 0
    for cut in cuts + [len(stream)]:
        frames += decoder.feed(stream[i:i + cut])
        i += cut
    frames += decoder.feed(stream[i:])
    assert [(f.code, f.seq, f.payload) for f in frames] == [(code, seq, payload)] * 2


def test_a_corrupted_frame_costs_only_itself():
    good = wire.encode_frame(Command.STATUS | wire.RESPONSE_FLAG, 3, b"\x00")
    for position in range(len(good)):
        bad = bytearray(good)
        bad[position] ^= 0x10
        frames = wire.FrameDecoder().feed(bytes(bad) + good)
        if position in (4, 5):
            # A corrupted LEN makes the decoder wait for that many bytes; once they have come
            # (or the host clears it after a timeout) the frame inside is found.
            assert frames == []
            frames = wire.FrameDecoder().feed(bytes(bad) + good + bytes(5000))
        assert [f.seq for f in frames] == [3], position


@given(st.integers(1, 8), st.data())
def test_signed_numbers_round_trip(nbytes, data):
    lo, hi = -(1 << (8 * nbytes - 1)), (1 << (8 * nbytes - 1)) - 1
    values = data.draw(st.lists(st.integers(lo, hi), max_size=20))
    packed = wire.pack_signed(values, nbytes)
    assert len(packed) == nbytes * len(values)
    assert wire.unpack_signed(packed, nbytes).tolist() == values


def test_info_and_status_round_trip():
    info = wire.DeviceInfo(CONFIG, 0x0102, 1, 512, 36_000_000, "icebreaker")
    assert wire.decode_info(wire.encode_info(info)) == info
    status = wire.JobStatus(JobState.RUNNING, 1 << 40, 12345)
    assert wire.decode_status(wire.encode_status(status)) == status


@given(st.integers(0, 9), st.integers(0, 30), st.integers(0, 40), st.integers(0, 1 << 17),
       st.integers(0, 30), st.integers(0, 1 << 32), st.integers(0, 1 << 25), st.integers(0, 1 << 16))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_device_accepts_exactly_the_params_the_golden_model_accepts(
        n_active, k, b_shift, sigma_q, sigma_shift, burn_in, samples, thin):
    fields = dict(n_active=n_active, k=k, b_shift=b_shift, sigma_q=sigma_q,
                  sigma_shift=sigma_shift, burn_in=burn_in, samples=samples, thin=thin)
    try:
        params = JobParams(**fields).validate(CONFIG)
    except ValueError:
        params = None
    if params is not None:
        assert wire.params_error(wire.decode_params(wire.encode_params(params, 1)), CONFIG, 1) is None
    else:
        raw = dict(fields, chains=1, moments=1)
        assert wire.params_error(raw, CONFIG, 1) is not None


# --- the emulated device answers ---------------------------------------------------------------

class Session:
    """Frames to an EmulatedDevice, responses decoded."""

    def __init__(self, device):
        self.device = device
        self.decoder = wire.FrameDecoder()
        self.seq = 0

    def raw(self, data: bytes) -> list[wire.Frame]:
        self.device.receive(data)
        frames = self.decoder.feed(self.device.take_output())
        if not frames and self.device.mid_frame:
            self.device.line_idle()
            frames = self.decoder.feed(self.device.take_output())
        return frames

    def call(self, command, payload=b""):
        self.seq = (self.seq + 1) & 0xFF
        (frame,) = self.raw(wire.encode_frame(command, self.seq, payload))
        assert (frame.code, frame.seq) == (command | wire.RESPONSE_FLAG, self.seq)
        return Status(frame.status), frame.payload[1:]


@pytest.fixture
def session():
    device = EmulatedDevice(CONFIG, max_chains=2, max_request_payload=64)
    yield Session(device)
    device.close()


def params_payload(chains=1, **overrides):
    fields = dict(n_active=4, k=3, b_shift=0, sigma_q=50, sigma_shift=1, burn_in=10, samples=20)
    fields.update(overrides)
    return wire.encode_params(JobParams(**fields), chains)


def test_every_error_status_is_reachable(session):
    s = session
    assert s.call(0x42)[0] == Status.UNKNOWN_COMMAND
    assert s.call(Command.STATUS, b"\x00")[0] == Status.BAD_LENGTH
    assert s.call(Command.LOAD_A, b"\x00\x00\x00\x00\x01")[0] == Status.BAD_LENGTH  # half a code
    assert s.call(Command.LOAD_A, struct.pack("<HH", 8, 0) + b"\x00\x00")[0] == Status.BAD_ARGUMENT
    assert s.call(Command.LOAD_B, struct.pack("<HH", 2, 0) + b"\x00\x00")[0] == Status.BAD_ARGUMENT
    assert s.call(Command.SET_PARAMS, params_payload(k=25)[:4] + params_payload()[4:])[0] == Status.OK
    assert s.call(Command.SET_PARAMS, params_payload(chains=3))[0] == Status.BAD_ARGUMENT
    assert s.call(Command.READ_MEAN, struct.pack("<HHH", 0, 0, 1))[0] == Status.NOT_READY
    assert s.call(Command.RESET)[0] == Status.OK
    assert s.call(Command.RUN)[0] == Status.NOT_READY
    # Frame-level errors echo the code and sequence number that arrived.
    frame = bytearray(wire.encode_frame(Command.INFO, 9))
    frame[-1] ^= 1
    (r,) = s.raw(bytes(frame))
    assert (r.code, r.seq, r.status) == (Command.INFO | 0x80, 9, Status.BAD_CRC)
    (r,) = s.raw(wire.encode_frame(Command.INFO, 10, version=2))
    assert (r.seq, r.status) == (10, Status.BAD_VERSION)
    (r,) = s.raw(wire.encode_frame(Command.LOAD_A, 11, bytes(65)))
    assert (r.seq, r.status) == (11, Status.FRAME_TOO_LONG)
    (r,) = s.raw(wire.encode_frame(Command.INFO, 12)[:5])
    assert (r.code, r.seq, r.status) == (Command.INFO | 0x80, 12, Status.TRUNCATED)
    assert s.call(Command.INFO)[0] == Status.OK    # and the device still answers


def test_busy_while_a_job_runs_and_abort_stops_it(session):
    s = session
    assert s.call(Command.SET_PARAMS, params_payload(burn_in=10**8))[0] == Status.OK
    assert s.call(Command.RUN)[0] == Status.OK
    for command, payload in [(Command.LOAD_A, bytes(6)), (Command.LOAD_B, bytes(6)),
                             (Command.SET_PARAMS, params_payload()), (Command.RUN, b""),
                             (Command.READ_MEAN, bytes(6))]:
        assert s.call(command, payload)[0] == Status.BUSY, command.name
    assert wire.decode_status(s.call(Command.STATUS)[1]).state == JobState.RUNNING
    assert s.call(Command.ABORT)[0] == Status.OK
    assert wire.decode_status(s.call(Command.STATUS)[1]).state == JobState.ABORTED
    assert s.call(Command.READ_MEAN, struct.pack("<HHH", 0, 0, 1))[0] == Status.NOT_READY


def test_a_job_through_raw_frames_matches_the_golden_model(session):
    from thermospu.rtl.spec import golden

    s, n = session, 4
    rng = np.random.default_rng(3)
    a = rng.integers(-512, 512, (n, n))
    b = rng.integers(-2048, 2048, n)
    for row in range(n):
        assert s.call(Command.LOAD_A, struct.pack("<HH", row, 0) + wire.pack_signed(a[row], 2))[0] == 0
    assert s.call(Command.LOAD_B, struct.pack("<HH", 0, 0) + wire.pack_signed(b, 2))[0] == 0
    states = golden.cell_seeds(99, n)
    for cell in range(n):   # one cell per frame: the 64-byte request capacity holds three
        assert s.call(Command.LOAD_SEEDS, struct.pack("<HH", 0, cell) + states[cell].astype("<u4").tobytes())[0] == 0
    params = JobParams(n_active=n, k=3, b_shift=0, sigma_q=50, sigma_shift=1, burn_in=10,
                       samples=20, seed=99)
    assert s.call(Command.SET_PARAMS, wire.encode_params(params, 1))[0] == 0
    assert s.call(Command.RUN)[0] == 0
    deadline = time.monotonic() + 10
    while wire.decode_status(s.call(Command.STATUS)[1]).state != JobState.DONE:
        assert time.monotonic() < deadline
    expected = golden.run_job(CONFIG, a, b, params)
    fmt = wire.WireFormat.for_config(CONFIG)
    status, data = s.call(Command.READ_MEAN, struct.pack("<HHH", 0, 1, 3))
    assert struct.unpack_from("<I", data)[0] == expected.saturations
    assert wire.unpack_signed(data[4:], fmt.sum_y_bytes).tolist() == expected.sum_y[1:].tolist()
    status, data = s.call(Command.READ_MOMENTS, struct.pack("<HIH", 0, 2, 8))
    assert wire.unpack_signed(data, fmt.sum_yy_bytes).tolist() == expected.sum_yy[2:].tolist()
    assert s.call(Command.READ_MOMENTS, struct.pack("<HIH", 0, 2, 9))[0] == Status.NOT_READY
    assert s.call(Command.READ_MEAN, struct.pack("<HHH", 1, 0, 1))[0] == Status.NOT_READY
