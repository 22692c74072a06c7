"""The SPU wire protocol: one definition shared by the host driver and the gateware.

Everything both ends must agree on lives here: frame layout, sync byte, protocol version,
command and status codes, the CRC, the payload layout of every command, and the byte widths of
the numbers on the wire. ``docs/protocol.md`` is the prose version of this module; the gateware
(:mod:`thermospu.rtl.gateware.protocol`) and the host (:mod:`thermospu.driver.transports.protocol`)
both import their constants from here. No Amaranth import: the host needs none.

Frame (both directions, all multi-byte fields little-endian)::

    offset  size  field
    0       1     SYNC      0xA5
    1       1     VERSION   PROTOCOL_VERSION (the 6-byte header keeps this layout in every version)
    2       1     CODE      request: a Command; response: the request's code | 0x80
    3       1     SEQ       chosen by the host, echoed in the response
    4       2     LEN       payload length in bytes, 0 ... 65535
    6       LEN   PAYLOAD   request: the command's arguments; response: Status byte, then data
    6+LEN   4     CRC       CRC-32/ISO-HDLC (zlib's crc32) of bytes 1 ... 5+LEN

The device answers every frame it sees with exactly one response frame (errors included), and
sends nothing unasked. Checks, in this order, each answered with its Status and nothing done:

1. header read: VERSION != PROTOCOL_VERSION -> BAD_VERSION; LEN > the device's request capacity
   (``max_request_payload`` in INFO) -> FRAME_TOO_LONG. The device then hunts for the next SYNC
   without reading the payload.
2. the line goes quiet mid-frame (the gateware counts ``idle_timeout`` clock cycles; the in-process
   device is told by its link) -> TRUNCATED, echoing whatever CODE and SEQ arrived (0 otherwise);
3. CRC mismatch -> BAD_CRC. Nothing of a frame takes effect before its CRC has been checked.
4. CODE not a Command -> UNKNOWN_COMMAND; LEN wrong for the command -> BAD_LENGTH; a job is
   running and the command needs the device idle -> BUSY; an argument out of range ->
   BAD_ARGUMENT; a precondition unmet (RUN before SET_PARAMS, READ_* with no finished job, or
   READ_MOMENTS of a job without moments) -> NOT_READY.

The host treats BAD_CRC, TRUNCATED, FRAME_TOO_LONG and BAD_VERSION (which a corrupted byte can
cause) and a missing answer as link errors and retries; the other statuses are the device's word
on a frame it received intact, so retrying cannot help.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import struct
import zlib

import numpy as np

from .config import JobParams, SPUConfig, job_limits

__all__ = [
    "PROTOCOL_VERSION", "SYNC", "HEADER_BYTES", "CRC_BYTES", "RESPONSE_FLAG", "MAX_PAYLOAD",
    "CRC_PARAMETERS", "crc32", "Layout", "FRAME_HEADER", "FRAME_CRC",
    "Command", "Status", "JobState", "LINK_ERRORS", "COMMANDS_NEEDING_IDLE",
    "Frame", "encode_frame", "FrameDecoder",
    "WireFormat", "DeviceInfo", "JobStatus",
    "pack_signed", "unpack_signed", "SEEDS_BYTES_PER_CELL",
    "LOAD_A_REQUEST", "LOAD_B_REQUEST", "LOAD_SEEDS_REQUEST", "SET_PARAMS", "SET_PARAMS_BYTES",
    "READ_MEAN_REQUEST", "READ_MOMENTS_REQUEST", "INFO_RESPONSE", "STATUS_RESPONSE",
    "READ_MEAN_RESPONSE", "REQUESTS", "RESPONSES", "VALUE_COMMANDS",
    "encode_params", "decode_params", "encode_info", "decode_info",
    "encode_status", "decode_status", "set_params_limits", "params_error",
    "FIXED_REQUEST_BYTES", "LOAD_HEADER_BYTES", "READ_MEAN_HEADER_BYTES",
]

PROTOCOL_VERSION = 1
SYNC = 0xA5
#: Set in the CODE of every response.
RESPONSE_FLAG = 0x80


class Layout:
    """A fixed-size little-endian record on the wire: named fields, each a :mod:`struct` code
    (``B`` u8, ``H`` u16, ``I`` u32, ``Q`` u64). The one definition of a request's or a
    response's fixed part; host, emulator, fuzzer and gateware read offsets and sizes from it.

    Parameters
    ----------
    name : str
        What the record is, for messages (e.g. "READ_MEAN request").
    fields : tuple of (str, str)
        ``(field name, struct code)`` in wire order.
    """

    def __init__(self, name: str, fields: tuple[tuple[str, str], ...]):
        self.name = name
        self.fields = tuple(fields)
        self._struct = struct.Struct("<" + "".join(code for _, code in self.fields))
        #: The record type :meth:`unpack` returns (a named tuple of the fields).
        self.Record = collections.namedtuple(name.replace(" ", "_"),
                                             [field for field, _ in self.fields])

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, {self.fields!r})"

    @property
    def size(self) -> int:
        """Bytes of the record."""
        return self._struct.size

    @property
    def field_bytes(self) -> tuple[tuple[str, int], ...]:
        """``(field name, bytes)`` in wire order."""
        return tuple((field, struct.calcsize("<" + code)) for field, code in self.fields)

    def span(self, field: str) -> tuple[int, int]:
        """``(offset, bytes)`` of ``field`` inside the record."""
        offset = 0
        for name, nbytes in self.field_bytes:
            if name == field:
                return offset, nbytes
            offset += nbytes
        raise KeyError(f"{self.name} has no field {field!r}; its fields: "
                       f"{[name for name, _ in self.fields]}")

    def max_value(self, field: str) -> int:
        """Largest unsigned value ``field`` can carry."""
        return (1 << 8 * self.span(field)[1]) - 1

    def pack(self, *values, **named) -> bytes:
        """The record's bytes from its field values (by position or name; all required)."""
        return self._struct.pack(*self.Record(*values, **named))

    def unpack(self, data: bytes):
        """The :attr:`Record` held by exactly ``data``; ValueError if its length is not
        :attr:`size`."""
        if len(data) != self.size:
            raise ValueError(f"{self.name} of {len(data)} bytes, expected {self.size}")
        return self.Record(*self._struct.unpack(data))

    def unpack_from(self, data: bytes, offset: int = 0):
        """The :attr:`Record` at ``offset`` of ``data`` (which may go on after it)."""
        return self.Record(*self._struct.unpack_from(data, offset))


#: The frame header (both directions): SYNC, VERSION, CODE, SEQ, LEN.
FRAME_HEADER = Layout("frame header", (("sync", "B"), ("version", "B"), ("code", "B"),
                                       ("seq", "B"), ("length", "H")))
#: The frame's trailer: CRC-32 of bytes 1 ... 5+LEN.
FRAME_CRC = Layout("frame CRC", (("crc", "I"),))
HEADER_BYTES = FRAME_HEADER.size
CRC_BYTES = FRAME_CRC.size
#: Longest payload: what LEN can say.
MAX_PAYLOAD = FRAME_HEADER.max_value("length")

#: The CRC-32/ISO-HDLC's parameters, as amaranth.lib.crc.Algorithm takes them; gateware_tests
#: check that the gateware's CRC and :func:`crc32` agree.
CRC_PARAMETERS = dict(crc_width=32, polynomial=0x04C11DB7, initial_crc=0xFFFFFFFF,
                      reflect_input=True, reflect_output=True, xor_output=0xFFFFFFFF)


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC of ``data`` (the frame's bytes 1 ... 5+LEN)."""
    return zlib.crc32(data)


class Command(enum.IntEnum):
    """Request codes. Each one's payload layouts are :data:`REQUESTS` and :data:`RESPONSES`
    below (little-endian); docs/protocol.md is their prose."""

    #: () -> DeviceInfo (:func:`encode_info`).
    INFO = 0x01
    #: (:data:`LOAD_A_REQUEST`, a codes...) -> (). Writes consecutive row-major cells of the
    #: N x N memory from A[row, col] on (continuing into the next rows).
    LOAD_A = 0x02
    #: (:data:`LOAD_B_REQUEST`, b codes...) -> (). Writes b of chain ``chain``, cells start ...
    LOAD_B = 0x03
    #: (:data:`LOAD_SEEDS_REQUEST`, 16 bytes per cell: x, y, z, w u32) -> (). Generator states.
    LOAD_SEEDS = 0x04
    #: (:data:`SET_PARAMS`) -> (). The job registers; checked by :func:`params_error`.
    SET_PARAMS = 0x05
    #: () -> (). Starts the job; cells start from x = 0 and from the loaded generator states.
    RUN = 0x06
    #: () -> JobStatus (:func:`encode_status`).
    STATUS = 0x07
    #: (:data:`READ_MEAN_REQUEST`) -> (:data:`READ_MEAN_RESPONSE`, sum_y codes...).
    READ_MEAN = 0x08
    #: (:data:`READ_MOMENTS_REQUEST`) -> (sum_yy codes...), upper triangle row-major.
    READ_MOMENTS = 0x09
    #: () -> (). Stops a running job (state ABORTED); harmless when idle.
    ABORT = 0x0A
    #: () -> (). Stops any job, forgets the job registers (state IDLE). Memories keep contents.
    RESET = 0x0B


class Status(enum.IntEnum):
    """First payload byte of every response."""

    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02
    UNKNOWN_COMMAND = 0x03
    BAD_VERSION = 0x04
    BAD_ARGUMENT = 0x05
    BUSY = 0x06
    NOT_READY = 0x07
    TRUNCATED = 0x08
    FRAME_TOO_LONG = 0x09


#: Statuses a corrupted or lost byte can cause (they are decided before the CRC is checked):
#: the host retries these.
LINK_ERRORS = frozenset({Status.BAD_CRC, Status.TRUNCATED, Status.FRAME_TOO_LONG,
                         Status.BAD_VERSION})

#: Commands refused with BUSY while a job runs (they would change or read a job in progress).
COMMANDS_NEEDING_IDLE = frozenset({Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS,
                                   Command.SET_PARAMS, Command.RUN, Command.READ_MEAN,
                                   Command.READ_MOMENTS})


class JobState(enum.IntEnum):
    """The job state machine reported by STATUS."""

    IDLE = 0      # no job since reset
    RUNNING = 1
    DONE = 2      # results readable
    ABORTED = 3


@dataclasses.dataclass(frozen=True)
class Frame:
    """One decoded frame: ``code`` (Command, or Command | RESPONSE_FLAG), ``seq``, ``payload``."""

    code: int
    seq: int
    payload: bytes
    version: int = PROTOCOL_VERSION

    @property
    def status(self) -> int:
        """Status byte of a response (its first payload byte)."""
        return self.payload[0]


def encode_frame(code: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """The bytes of one frame (any direction)."""
    if not 0 <= code <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError(f"code {code} and seq {seq} must be bytes")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    header = FRAME_HEADER.pack(SYNC, version, code, seq, len(payload))
    body = header[1:] + bytes(payload)
    return header[:1] + body + FRAME_CRC.pack(crc32(body))


class FrameDecoder:
    """Incremental frame parser for the host: feed bytes, collect intact frames.

    Garbage, frames of another version, over-long and CRC-failing frames are skipped; after a
    failed candidate the search resumes one byte after its SYNC, so a lost or corrupted byte
    costs at most the frame it hit.

    Parameters
    ----------
    max_payload : int
        Longest payload accepted (a longer LEN is taken as a corrupted header).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._buffer = bytearray()
        #: Candidate frames dropped (bad version, length or CRC): a measure of line noise.
        self.rejected = 0

    def clear(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        buf = self._buffer
        while True:
            start = buf.find(SYNC)
            if start < 0:
                buf.clear()
                break
            del buf[:start]
            if len(buf) < HEADER_BYTES:
                break
            header = FRAME_HEADER.unpack_from(buf)
            length = header.length
            if header.version != PROTOCOL_VERSION or length > self.max_payload:
                self.rejected += 1
                del buf[:1]
                continue
            end = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < end:
                break
            body = bytes(buf[1:HEADER_BYTES + length])
            if FRAME_CRC.unpack_from(buf, HEADER_BYTES + length).crc != crc32(body):
                self.rejected += 1
                del buf[:1]
                continue
            frames.append(Frame(code=header.code, seq=header.seq,
                                payload=bytes(buf[HEADER_BYTES:end - CRC_BYTES])))
            del buf[:end]
        return frames


# --- numbers on the wire -------------------------------------------------------------------

#: A cell's generator state: x, y, z, w as u32 each.
SEEDS_BYTES_PER_CELL = 16


def _bytes_for(bits: int) -> int:
    return math.ceil(bits / 8)


@dataclasses.dataclass(frozen=True)
class WireFormat:
    """Byte widths of the numbers on the wire for one machine (signed, little-endian, the
    value's two's complement sign-extended to whole bytes)."""

    a_bytes: int        # coupling code (a_bits)
    b_bytes: int        # bias code (b_bits)
    sum_y_bytes: int    # first-moment accumulator (sum_x_bits)
    sum_yy_bytes: int   # second-moment accumulator (sum_xx_bits)

    @classmethod
    def for_config(cls, config: SPUConfig) -> "WireFormat":
        return cls(a_bytes=_bytes_for(config.a_bits), b_bytes=_bytes_for(config.b_bits),
                   sum_y_bytes=_bytes_for(config.sum_x_bits),
                   sum_yy_bytes=_bytes_for(config.sum_xx_bits))


def pack_signed(values, nbytes: int) -> bytes:
    """Integers -> ``nbytes``-byte little-endian two's complement each (1 <= nbytes <= 8).
    Values must fit; they are not checked here (the host validates codes before packing)."""
    v = np.ascontiguousarray(np.asarray(values, dtype="<i8")).ravel()
    return v.view(np.uint8).reshape(-1, 8)[:, :nbytes].tobytes()


def unpack_signed(data: bytes, nbytes: int) -> np.ndarray:
    """Inverse of :func:`pack_signed`: int64 array, sign-extended from ``8 * nbytes`` bits."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % nbytes:
        raise ValueError(f"{raw.size} bytes is not a whole number of {nbytes}-byte values")
    wide = np.zeros((raw.size // nbytes, 8), dtype=np.uint8)
    wide[:, :nbytes] = raw.reshape(-1, nbytes)
    out = wide.view("<i8").ravel().copy()
    if nbytes < 8:
        shift = 64 - 8 * nbytes
        out = (out << shift) >> shift
    return out


# --- payload layouts, one per request and response ------------------------------------------
# Requests: the fixed part of each command's payload (LOAD_* go on with one or more values).

#: LOAD_A: values fill consecutive row-major cells of the N x N memory from A[row, col] on.
LOAD_A_REQUEST = Layout("LOAD_A request", (("row", "H"), ("col", "H")))
#: LOAD_B: b codes of chain ``chain`` from cell ``start`` on.
LOAD_B_REQUEST = Layout("LOAD_B request", (("chain", "H"), ("start", "H")))
#: LOAD_SEEDS: generator states (SEEDS_BYTES_PER_CELL each) of chain ``chain`` from ``start`` on.
LOAD_SEEDS_REQUEST = Layout("LOAD_SEEDS request", (("chain", "H"), ("start", "H")))
#: SET_PARAMS: the job registers plus the chain count; checked by :func:`params_error`.
SET_PARAMS = Layout("SET_PARAMS request", (
    ("n_active", "H"), ("chains", "H"), ("k", "B"), ("b_shift", "B"), ("sigma_shift", "B"),
    ("moments", "B"), ("sigma_q", "I"), ("thin", "H"), ("burn_in", "I"), ("samples", "Q"),
))
#: READ_MEAN: ``count`` sum_y entries of chain ``chain`` from cell ``start`` on.
READ_MEAN_REQUEST = Layout("READ_MEAN request", (("chain", "H"), ("start", "H"), ("count", "H")))
#: READ_MOMENTS: ``count`` sum_yy entries (upper triangle, row-major) from index ``start`` on.
READ_MOMENTS_REQUEST = Layout("READ_MOMENTS request",
                              (("chain", "H"), ("start", "I"), ("count", "H")))
_NOTHING = Layout("empty", ())

#: Command -> the fixed part of its request payload.
REQUESTS = {
    Command.INFO: _NOTHING, Command.LOAD_A: LOAD_A_REQUEST, Command.LOAD_B: LOAD_B_REQUEST,
    Command.LOAD_SEEDS: LOAD_SEEDS_REQUEST, Command.SET_PARAMS: SET_PARAMS,
    Command.RUN: _NOTHING, Command.STATUS: _NOTHING, Command.READ_MEAN: READ_MEAN_REQUEST,
    Command.READ_MOMENTS: READ_MOMENTS_REQUEST, Command.ABORT: _NOTHING, Command.RESET: _NOTHING,
}
#: Commands whose request goes on after its fixed part with one or more values.
VALUE_COMMANDS = frozenset({Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS})

# Responses: the fixed part of the data after the status byte of an OK answer.

#: INFO: the machine and the device's limits, then ``board_length`` ASCII bytes of board name.
INFO_RESPONSE = Layout("INFO response", (
    ("protocol_version", "B"), ("gateware_version", "H"), ("n", "H"), ("lanes", "H"),
    ("a_bits", "B"), ("b_bits", "B"), ("x_bits", "B"), ("out_bits", "B"), ("sigma_bits", "B"),
    ("max_samples_log2", "B"), ("max_chains", "H"), ("max_request_payload", "H"),
    ("clock_hz", "I"), ("board_length", "B"),
))
#: STATUS: JobState, Euler steps run so far, samples accumulated.
STATUS_RESPONSE = Layout("STATUS response", (("state", "B"), ("steps", "Q"), ("samples", "Q")))
#: READ_MEAN: the job's saturation count, then ``count`` sum_y values.
READ_MEAN_RESPONSE = Layout("READ_MEAN response", (("saturations", "I"),))

#: Command -> the fixed part of its OK response data (INFO and READ_* go on after it).
RESPONSES = {command: _NOTHING for command in Command} | {
    Command.INFO: INFO_RESPONSE, Command.STATUS: STATUS_RESPONSE,
    Command.READ_MEAN: READ_MEAN_RESPONSE,
}

#: Request payload lengths of the commands without values.
FIXED_REQUEST_BYTES = {command: layout.size for command, layout in REQUESTS.items()
                       if command not in VALUE_COMMANDS}
#: Bytes before the values of LOAD_A / LOAD_B / LOAD_SEEDS (the same for all three).
LOAD_HEADER_BYTES = LOAD_A_REQUEST.size
#: Bytes before the values of a READ_MEAN response.
READ_MEAN_HEADER_BYTES = READ_MEAN_RESPONSE.size
SET_PARAMS_BYTES = SET_PARAMS.size


# --- SET_PARAMS ----------------------------------------------------------------------------

def encode_params(params: JobParams, chains: int) -> bytes:
    """SET_PARAMS payload for ``chains`` chains sharing ``params`` (its seed is not sent: the
    generator states go by LOAD_SEEDS)."""
    fields = dict(params.to_dict(), chains=chains, moments=int(params.moments))
    return SET_PARAMS.pack(**{name: fields[name] for name, _ in SET_PARAMS.fields})


def decode_params(payload: bytes) -> dict:
    """SET_PARAMS payload -> dict of its fields (raw integers, unchecked)."""
    return SET_PARAMS.unpack(payload)._asdict()


def set_params_limits(config: SPUConfig, max_chains: int) -> dict[str, tuple[int, int]]:
    """SET_PARAMS field -> inclusive ``(lo, hi)``, in payload order: the job parameters'
    :data:`~thermospu.rtl.spec.config.JOB_LIMITS` plus 1 ... ``max_chains`` chains. The
    emulator (:func:`params_error`) and the gateware's protocol engine both check these."""
    limits = dict(job_limits(config), chains=(1, max_chains))
    return {name: limits[name] for name, _ in SET_PARAMS.fields}


def params_error(fields: dict, config: SPUConfig, max_chains: int) -> str | None:
    """Why the device must refuse these SET_PARAMS fields (BAD_ARGUMENT), or None: the first
    field, in payload order, outside :func:`set_params_limits`."""
    for name, (lo, hi) in set_params_limits(config, max_chains).items():
        if not lo <= fields[name] <= hi:
            return f"{name}={fields[name]} outside [{lo}, {hi}]"
    return None


# --- INFO ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """What INFO reports: the machine, the device's limits and who built it.

    Attributes
    ----------
    config : SPUConfig
    gateware_version : int
        Version of the gateware (or emulator) answering; major << 8 | minor.
    max_chains : int
        Independent chains one job can run (each with its own b and generator states).
    max_request_payload : int
        Longest request payload the device buffers (bytes).
    clock_hz : int
        The core's clock in Hz; 0 where there is no physical clock (emulated, simulated).
    board : str
        Board name, ASCII, at most 255 characters (e.g. "model", "sim:icarus", "icebreaker").
    """

    config: SPUConfig
    gateware_version: int
    max_chains: int
    max_request_payload: int
    clock_hz: int
    board: str


def encode_info(info: DeviceInfo) -> bytes:
    """INFO response data (after the status byte): :data:`INFO_RESPONSE`, then the board name."""
    c = info.config
    name = info.board.encode("ascii")
    if len(name) > INFO_RESPONSE.max_value("board_length"):
        raise ValueError(f"the board name {info.board!r} is longer than "
                         f"{INFO_RESPONSE.max_value('board_length')} characters")
    return INFO_RESPONSE.pack(
        protocol_version=PROTOCOL_VERSION, gateware_version=info.gateware_version, n=c.n,
        lanes=c.lanes, a_bits=c.a_bits, b_bits=c.b_bits, x_bits=c.x_bits, out_bits=c.out_bits,
        sigma_bits=c.sigma_bits, max_samples_log2=c.max_samples_log2,
        max_chains=info.max_chains, max_request_payload=info.max_request_payload,
        clock_hz=info.clock_hz, board_length=len(name)) + name


def decode_info(data: bytes) -> DeviceInfo:
    """INFO response data (after the status byte) -> DeviceInfo. Raises ValueError if malformed."""
    if len(data) < INFO_RESPONSE.size:
        raise ValueError(f"INFO data of {len(data)} bytes is shorter than {INFO_RESPONSE.size}")
    record = INFO_RESPONSE.unpack_from(data)
    if record.protocol_version != PROTOCOL_VERSION:
        raise ValueError(f"device speaks protocol version {record.protocol_version}, "
                         f"host {PROTOCOL_VERSION}")
    name = data[INFO_RESPONSE.size:]
    if len(name) != record.board_length:
        raise ValueError(f"INFO board name of {len(name)} bytes, header says "
                         f"{record.board_length}")
    config = SPUConfig(**{field.name: getattr(record, field.name)
                          for field in dataclasses.fields(SPUConfig)})
    return DeviceInfo(config, record.gateware_version, record.max_chains,
                      record.max_request_payload, record.clock_hz, name.decode("ascii"))


# --- STATUS --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class JobStatus:
    """What STATUS reports: job state, Euler steps run so far and samples accumulated."""

    state: JobState
    steps: int
    samples: int


def encode_status(status: JobStatus) -> bytes:
    """STATUS response data (after the status byte): :data:`STATUS_RESPONSE`."""
    return STATUS_RESPONSE.pack(status.state, status.steps, status.samples)


def decode_status(data: bytes) -> JobStatus:
    """STATUS response data -> JobStatus. Raises ValueError if its length is wrong."""
    state, steps, samples = STATUS_RESPONSE.unpack(data)
    return JobStatus(JobState(state), steps, samples)
