"""Every reader of the specification's tables agrees with them, so that a changed rule cannot
drift: the job limits (``config.JOB_LIMITS``) as config validation, the job registers' ranges,
the SET_PARAMS check and the gateware engine see them; and every wire layout (``wire.REQUESTS``,
``wire.RESPONSES``, the frame header and CRC) packs and unpacks as its table says."""

from __future__ import annotations

import dataclasses
import random

import pytest

from thermospu.rtl.spec import config as spec_config
from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec import wire
from thermospu.rtl.spec.config import JOB_LIMITS, ConfigError, JobLimit, JobParams, SPUConfig
from thermospu.rtl.spec.wire import Command

CONFIGS = [
    SPUConfig(),
    SPUConfig(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16),
    # sigma_shift_max clips at 0 here.
    SPUConfig(n=2, a_bits=2, b_bits=2, x_bits=4, out_bits=2, sigma_bits=20),
]
#: A valid job on every config above; each test moves one field to its bounds.
BASE = JobParams(n_active=1, k=0, b_shift=0, sigma_q=0, sigma_shift=0, burn_in=0, samples=1)
#: Table fields that are not sent by SET_PARAMS nor held in a job register.
HOST_ONLY = {"seed"}


def _limit_cases():
    return [pytest.param(config, limit, id=f"n{config.n}-{limit.name}")
            for config in CONFIGS for limit in JOB_LIMITS]


def _set_params_fields(params: JobParams, **changes) -> dict:
    """SET_PARAMS fields of ``params`` for one chain, then ``changes`` applied raw."""
    return dict(wire.decode_params(wire.encode_params(params, 1)), **changes)


def test_the_table_names_every_job_parameter_once():
    names = [limit.name for limit in JOB_LIMITS]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(JobParams))
    assert len(set(names)) == len(names)
    device_fields = set(names) - HOST_ONLY
    assert set(rm.JOB_REGISTERS.values()) == device_fields
    assert {name for name, _ in wire.SET_PARAMS.fields} == device_fields | {"chains"}


@pytest.mark.parametrize("config,limit", _limit_cases())
def test_config_validation_accepts_the_bound_and_refuses_one_past_it(config, limit):
    lo, hi = limit.bounds(config)
    if limit.kind is bool:
        assert dataclasses.replace(BASE, **{limit.name: bool(hi)}).validate(config)
        bad = [hi + 1, lo]      # an int is not a bool, even in range
    else:
        assert dataclasses.replace(BASE, **{limit.name: hi}).validate(config)
        assert dataclasses.replace(BASE, **{limit.name: lo}).validate(config)
        bad = [hi + 1, lo - 1]
    for value in bad:
        with pytest.raises(ConfigError, match=limit.name):
            dataclasses.replace(BASE, **{limit.name: value}).validate(config)


@pytest.mark.parametrize("config,limit", _limit_cases())
def test_job_register_range_is_the_table(config, limit):
    if limit.name in HOST_ONLY:
        with pytest.raises(KeyError):
            rm.job_register_range(limit.name, config)
    else:
        assert rm.job_register_range(limit.name, config) == limit.bounds(config)


@pytest.mark.parametrize("config,limit", _limit_cases())
def test_the_wire_check_accepts_the_bound_and_refuses_one_past_it(config, limit):
    if limit.name in HOST_ONLY:
        return
    lo, hi = limit.bounds(config)
    # The SET_PARAMS field is wide enough for every valid value ...
    assert hi <= wire.SET_PARAMS.max_value(limit.name)
    assert wire.params_error(_set_params_fields(BASE, **{limit.name: hi}), config, 1) is None
    assert wire.params_error(_set_params_fields(BASE, **{limit.name: lo}), config, 1) is None
    for value in (hi + 1, lo - 1):
        # ... and a value past the bound is refused where the field can carry it at all.
        if 0 <= value <= wire.SET_PARAMS.max_value(limit.name):
            error = wire.params_error(_set_params_fields(BASE, **{limit.name: value}), config, 1)
            assert error is not None and error.startswith(f"{limit.name}=")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"n{c.n}")
def test_the_chain_count_is_checked_against_the_device(config):
    assert wire.set_params_limits(config, 7)["chains"] == (1, 7)
    assert wire.params_error(_set_params_fields(BASE, chains=7), config, 7) is None
    assert wire.params_error(_set_params_fields(BASE, chains=8), config, 7).startswith("chains=")
    assert wire.params_error(_set_params_fields(BASE, chains=0), config, 7).startswith("chains=")


@pytest.mark.parametrize("config", CONFIGS[1:], ids=lambda c: f"n{c.n}")
def test_the_engine_takes_its_limits_from_the_spec(config, monkeypatch):
    """The protocol engine's SET_PARAMS comparisons are built from ``wire.set_params_limits``
    for its one chain (gateware_tests/test_protocol_engine_limits.py simulates them)."""
    from amaranth.hdl import Fragment

    from thermospu.rtl.gateware.protocol import ProtocolEngine

    calls = []
    original = wire.set_params_limits

    def spy(cfg, max_chains):
        calls.append((cfg, max_chains))
        return original(cfg, max_chains)

    monkeypatch.setattr(wire, "set_params_limits", spy)
    Fragment.get(ProtocolEngine(config), None)
    assert calls == [(config, 1)]


def test_a_changed_limit_reaches_every_reader(monkeypatch):
    """Change one bound in the table: validation, the registers and the wire check follow."""
    config = CONFIGS[1]
    changed = tuple(dataclasses.replace(limit, hi=7) if limit.name == "k" else limit
                    for limit in JOB_LIMITS)
    monkeypatch.setattr(spec_config, "JOB_LIMITS", changed)
    assert dataclasses.replace(BASE, k=7).validate(config)
    with pytest.raises(ConfigError, match="k=8"):
        dataclasses.replace(BASE, k=8).validate(config)
    assert rm.job_register_range("k", config) == (0, 7)
    assert wire.set_params_limits(config, 1)["k"] == (0, 7)
    assert wire.params_error(_set_params_fields(BASE, k=8), config, 1).startswith("k=8")


def test_sigma_shift_max_is_a_property_of_the_machine():
    for config in CONFIGS:
        noise = (config.sigma_max_code * spec_config.G_MAX) << config.sigma_shift_max
        assert noise < 1 << (config.fine_bits - 2) or config.sigma_shift_max == 0
        assert dict(spec_config.job_limits(config))["sigma_shift"] == (0, config.sigma_shift_max)
    assert CONFIGS[2].sigma_shift_max == 0


def test_a_job_limit_is_a_constant_or_a_function_of_the_machine():
    assert JobLimit("x", 1, 5).bounds(CONFIGS[0]) == (1, 5)
    assert JobLimit("x", 0, lambda c: c.n).bounds(CONFIGS[1]) == (0, 4)


# --- layouts ---------------------------------------------------------------------------------

LAYOUTS = sorted({id(layout): layout for layout in (
    *wire.REQUESTS.values(), *wire.RESPONSES.values(), wire.FRAME_HEADER, wire.FRAME_CRC)
}.values(), key=lambda layout: layout.name)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_every_layout_round_trips(layout):
    rng = random.Random(layout.name)
    for _ in range(50):
        values = [rng.choice([0, 1, layout.max_value(name), rng.randrange(layout.max_value(name))])
                  for name, _ in layout.fields]
        data = layout.pack(*values)
        assert len(data) == layout.size
        assert tuple(layout.unpack(data)) == tuple(values)
        assert layout.unpack(data) == layout.unpack_from(data + b"tail")
        assert layout.pack(**layout.unpack(data)._asdict()) == data
        # Each field sits at its span, little-endian.
        for (name, _), value in zip(layout.fields, values):
            offset, nbytes = layout.span(name)
            assert int.from_bytes(data[offset:offset + nbytes], "little") == value
    with pytest.raises(ValueError, match=layout.name):
        layout.unpack(bytes(layout.size + 1))


def test_sizes_are_derived_from_the_layouts():
    assert wire.HEADER_BYTES == 6 and wire.CRC_BYTES == 4 and wire.MAX_PAYLOAD == 0xFFFF
    assert wire.SET_PARAMS_BYTES == wire.SET_PARAMS.size == 26
    assert wire.FIXED_REQUEST_BYTES == {c: wire.REQUESTS[c].size for c in Command
                                        if c not in wire.VALUE_COMMANDS}
    assert wire.FIXED_REQUEST_BYTES[Command.READ_MEAN] == 6
    assert wire.FIXED_REQUEST_BYTES[Command.READ_MOMENTS] == 8
    assert {wire.REQUESTS[c].size for c in wire.VALUE_COMMANDS} == {wire.LOAD_HEADER_BYTES}
    assert wire.READ_MEAN_HEADER_BYTES == wire.READ_MEAN_RESPONSE.size == 4
    status = wire.JobStatus(wire.JobState.DONE, 2**64 - 1, 3)
    assert len(wire.encode_status(status)) == wire.STATUS_RESPONSE.size == 17
    assert wire.decode_status(wire.encode_status(status)) == status


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"n{c.n}")
def test_info_and_params_round_trip(config):
    info = wire.DeviceInfo(config, 0x0102, 3, 512, 12_000_000, "icebreaker")
    data = wire.encode_info(info)
    assert len(data) == wire.INFO_RESPONSE.size + len("icebreaker")
    assert wire.decode_info(data) == info
    params = dataclasses.replace(BASE, n_active=config.n, k=5, samples=config.max_samples,
                                 thin=3, burn_in=9, moments=False)
    fields = wire.decode_params(wire.encode_params(params, 2))
    assert fields == dict({name: getattr(params, name) for name in fields if name != "chains"},
                          chains=2, moments=0)


def test_frames_are_built_from_the_header_and_crc_layouts():
    frame = wire.encode_frame(Command.READ_MEAN, 9, wire.READ_MEAN_REQUEST.pack(0, 1, 2))
    header = wire.FRAME_HEADER.unpack_from(frame)
    assert header == wire.FRAME_HEADER.Record(wire.SYNC, wire.PROTOCOL_VERSION,
                                              Command.READ_MEAN, 9, 6)
    crc = wire.FRAME_CRC.unpack_from(frame, wire.HEADER_BYTES + header.length).crc
    assert crc == wire.crc32(frame[1:wire.HEADER_BYTES + header.length])
    (decoded,) = wire.FrameDecoder().feed(frame)
    assert wire.READ_MEAN_REQUEST.unpack(decoded.payload) == (0, 1, 2)


def test_docs_protocol_tables_name_the_layouts_fields():
    """docs/protocol.md's command table and SET_PARAMS line say what the layouts say."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    bits = {"B": 8, "H": 16, "I": 32, "Q": 64}

    def typed_fields(cell: str) -> list[tuple[str, int]]:
        return [(name, int(width)) for name, width in re.findall(r"(\w+) u(8|16|32|64)\b", cell)]

    def of(layout) -> list[tuple[str, int]]:
        return [(name, bits[code]) for name, code in layout.fields]

    rows = {m.group(2): m.group(3, 4) for m in re.finditer(
        r"^\| (0x0[0-9A-F]) \| (\w+) \| ([^|]*) \| ([^|]*) \|", text, re.MULTILINE)}
    assert set(rows) == {c.name for c in Command}
    for command in Command:
        request, response = rows[command.name]
        if command != Command.SET_PARAMS:
            assert typed_fields(request) == of(wire.REQUESTS[command]), command.name
        if command != Command.INFO:
            assert typed_fields(response) == of(wire.RESPONSES[command]), command.name
    line = re.search(r"\*\*SET_PARAMS\*\* payload: `([^`]*)`", text).group(1)
    assert typed_fields(line) == of(wire.SET_PARAMS)
    assert f"{wire.SET_PARAMS.size} bytes" in rows["SET_PARAMS"][0]
