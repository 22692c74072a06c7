"""Protocol fuzz against the model transport's device: >= 10**4 random and mutated frames.

Every frame must be answered with well-formed responses (or, if it is garbage without a SYNC,
dropped), nothing may hang or raise, and a valid job afterwards must still match the golden
model bit for bit. The gateware engine gets the same fuzz in gateware_tests/test_protocol_engine.py.
"""

from __future__ import annotations

import collections

import numpy as np

from thermospu.rtl.spec.emulator import EmulatedDevice
from thermospu.rtl.spec.fuzz import fuzz_chunks
from thermospu.driver.transports.links import InProcessLink
from thermospu.driver.transports.protocol import FramedBackend
from thermospu.rtl.spec import golden, wire
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.wire import Status

CONFIG = SPUConfig(n=6, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16)
CAPACITY = 128
FRAMES = 10_000
SEED = 20260127


def test_ten_thousand_fuzzed_frames_are_answered_and_a_job_afterwards_is_exact():
    device = EmulatedDevice(CONFIG, max_chains=2, max_request_payload=CAPACITY)
    decoder = wire.FrameDecoder()
    statuses = collections.Counter()
    answered_frames = 0
    for i, chunk in enumerate(fuzz_chunks(SEED, FRAMES, CONFIG, CAPACITY)):
        device.receive(chunk)
        if device.mid_frame:           # the line goes quiet after each chunk
            device.line_idle()
        responses = decoder.feed(device.take_output())
        assert decoder.rejected == 0, f"chunk {i}: the device sent a malformed frame"
        if chunk[0] == wire.SYNC:
            assert responses, f"chunk {i} ({chunk.hex()}) began a frame and got no answer"
        for response in responses:
            assert response.code & wire.RESPONSE_FLAG and response.payload
            statuses[Status(response.status).name] += 1
        answered_frames += len(responses)
    print(f"fuzz: {FRAMES} chunks, {answered_frames} responses: {dict(statuses)}")
    # Every kind of answer occurred, errors and successes alike.
    for status in Status:
        assert statuses[status.name] > 0, f"the fuzz never produced {status.name}"

    backend = FramedBackend(InProcessLink(device), "model", "fuzzed device", timeout=0.5)
    backend.reset()
    rng = np.random.default_rng(1)
    a = rng.integers(-512, 512, (6, 6))
    b = rng.integers(-2048, 2048, (3, 6))
    params = JobParams(n_active=6, k=3, b_shift=1, sigma_q=300, sigma_shift=2, burn_in=4, samples=30)
    assert backend.run_jobs(a, b, params, [1, 2, 3]) == golden.run_jobs(CONFIG, a, b, params, [1, 2, 3])
    device.close()
