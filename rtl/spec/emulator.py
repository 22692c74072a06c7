"""An SPU emulated in this process that speaks the wire protocol byte by byte.

:class:`EmulatedDevice` is what the ``"model"`` transport talks to: it parses request frames
exactly as the gateware's protocol engine does (same checks, same order, same responses, see
:mod:`thermospu.rtl.spec.wire`), keeps the same memories (A, b and generator states per chain, job
registers) and runs jobs on the bit-exact golden model in a worker thread, so STATUS, BUSY and
ABORT behave as on hardware. The host cannot tell it from a board except by INFO.
"""

from __future__ import annotations

import threading

import numpy as np

from thermospu.rtl.spec import golden, kernel, wire
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.wire import Command, JobState, Status

__all__ = ["EmulatedDevice", "EMULATOR_VERSION"]

#: Reported as gateware_version by INFO (major << 8 | minor).
EMULATOR_VERSION = 0x0100

_HUNT, _HEADER, _PAYLOAD, _CRC = range(4)


class _Aborted(Exception):
    """Raised inside the golden model's progress callback to stop a job."""


class EmulatedDevice:
    """Byte-level emulation of an SPU board running the golden model.

    Parameters
    ----------
    config : SPUConfig
        The emulated machine.
    max_chains : int
        Chains per job (INFO ``max_chains``). The gateware has 1; the emulator runs many at
        once on the golden model's batched path, which is why it offers more.
    max_request_payload : int
        Request capacity in bytes (INFO ``max_request_payload``).
    board : str
        Name INFO reports.

    Use :meth:`receive` for bytes from the host, :meth:`take_output` for the answer bytes, and
    :meth:`line_idle` when the line has been quiet long enough to count as a dropped frame
    (the gateware's idle timeout).
    """

    def __init__(self, config: SPUConfig, *, max_chains: int = 256,
                 max_request_payload: int = wire.MAX_PAYLOAD, board: str = "model"):
        most_chains = wire.SET_PARAMS.max_value("chains")
        if not 1 <= max_chains <= most_chains:
            raise ValueError(f"max_chains={max_chains} is outside [1, {most_chains}]")
        if not wire.SET_PARAMS_BYTES <= max_request_payload <= wire.MAX_PAYLOAD:
            raise ValueError(f"max_request_payload={max_request_payload} outside "
                             f"[{wire.SET_PARAMS_BYTES}, {wire.MAX_PAYLOAD}]")
        self.config = config
        self.info = wire.DeviceInfo(config, EMULATOR_VERSION, max_chains, max_request_payload,
                                    0, board)
        self.format = wire.WireFormat.for_config(config)
        self._lock = threading.Lock()
        self._out = bytearray()
        # Parser.
        self._state = _HUNT
        self._header = bytearray()
        self._payload = bytearray()
        self._crc = bytearray()
        self._length = 0
        # Memories, allocated on first write (N x N codes can be large).
        self._a = None
        self._b = None
        self._seeds = None
        # Job.
        self._params: dict | None = None
        self._job_state = JobState.IDLE
        self._job_steps = 0
        self._job_samples = 0
        self._results: list[golden.JobResult] | None = None
        self._job_shape = (0, 0, False)     # n_active, chains, moments of the last RUN
        self._job_abort = threading.Event()
        self._thread: threading.Thread | None = None
        #: Frames answered, by status (a count per Status name).
        self.answered: dict[str, int] = {}

    # --- byte interface ----------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Take bytes from the host; responses become available from :meth:`take_output`."""
        view = memoryview(bytes(data))
        i = 0
        while i < len(view):
            if self._state == _HUNT:
                j = bytes(view[i:]).find(wire.SYNC)
                if j < 0:
                    return
                i += j + 1
                self._header[:] = bytes((wire.SYNC,))
                self._state = _HEADER
            elif self._state == _HEADER:
                take = min(wire.HEADER_BYTES - len(self._header), len(view) - i)
                self._header += view[i:i + take]
                i += take
                if len(self._header) == wire.HEADER_BYTES:
                    self._header_complete()
            elif self._state == _PAYLOAD:
                take = min(self._length - len(self._payload), len(view) - i)
                self._payload += view[i:i + take]
                i += take
                if len(self._payload) == self._length:
                    self._state = _CRC
            else:
                take = min(wire.CRC_BYTES - len(self._crc), len(view) - i)
                self._crc += view[i:i + take]
                i += take
                if len(self._crc) == wire.CRC_BYTES:
                    self._frame_complete()

    def line_idle(self) -> None:
        """The line went quiet: a frame begun and not finished is answered TRUNCATED."""
        if self._state != _HUNT:
            code, seq = self._echo()
            self._respond(code, seq, Status.TRUNCATED)
            self._state = _HUNT

    @property
    def mid_frame(self) -> bool:
        """True while a frame has begun (SYNC seen) and not ended."""
        return self._state != _HUNT

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def wait_for_job(self) -> None:
        """Block until the job started last has finished (or was stopped). Tests use it to
        make the device's answers independent of timing."""
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        """Stop any job and wait for its thread."""
        self._stop_job(None)
        if self._thread is not None:
            self._thread.join()

    # --- parser ------------------------------------------------------------------------------
    def _echo(self) -> tuple[int, int]:
        h = self._header
        return (h[2] if len(h) > 2 else 0), (h[3] if len(h) > 3 else 0)

    def _header_complete(self) -> None:
        code, seq = self._echo()
        header = wire.FRAME_HEADER.unpack(self._header)
        self._length = header.length
        if header.version != wire.PROTOCOL_VERSION:
            self._respond(code, seq, Status.BAD_VERSION)
            self._state = _HUNT
        elif self._length > self.info.max_request_payload:
            self._respond(code, seq, Status.FRAME_TOO_LONG)
            self._state = _HUNT
        else:
            self._payload.clear()
            self._crc.clear()
            self._state = _PAYLOAD if self._length else _CRC

    def _frame_complete(self) -> None:
        self._state = _HUNT
        code, seq = self._echo()
        body = bytes(self._header[1:]) + bytes(self._payload)
        if wire.FRAME_CRC.unpack(self._crc).crc != wire.crc32(body):
            self._respond(code, seq, Status.BAD_CRC)
            return
        status, data = self._execute(code, bytes(self._payload))
        self._respond(code, seq, status, data)

    def _respond(self, code: int, seq: int, status: Status, data: bytes = b"") -> None:
        self.answered[status.name] = self.answered.get(status.name, 0) + 1
        self._out += wire.encode_frame((code | wire.RESPONSE_FLAG) & 0xFF, seq,
                                       bytes((status,)) + data)

    # --- commands ----------------------------------------------------------------------------
    def _execute(self, code: int, payload: bytes) -> tuple[Status, bytes]:
        try:
            command = Command(code)
        except ValueError:
            return Status.UNKNOWN_COMMAND, b""
        if not self._length_ok(command, len(payload)):
            return Status.BAD_LENGTH, b""
        with self._lock:
            running = self._job_state == JobState.RUNNING
        if running and command in wire.COMMANDS_NEEDING_IDLE:
            return Status.BUSY, b""
        return getattr(self, "_cmd_" + command.name.lower())(payload)

    def _length_ok(self, command: Command, length: int) -> bool:
        fixed = wire.FIXED_REQUEST_BYTES.get(command)
        if fixed is not None:
            return length == fixed
        width = {Command.LOAD_A: self.format.a_bytes, Command.LOAD_B: self.format.b_bytes,
                 Command.LOAD_SEEDS: wire.SEEDS_BYTES_PER_CELL}[command]
        values = length - wire.LOAD_HEADER_BYTES
        return values > 0 and values % width == 0

    def _cmd_info(self, payload):
        return Status.OK, wire.encode_info(self.info)

    def _load_values(self, command: Command, payload: bytes, width: int,
                     bits: int) -> tuple[int, int, np.ndarray]:
        first, start = wire.REQUESTS[command].unpack_from(payload)
        values = wire.unpack_signed(payload[wire.LOAD_HEADER_BYTES:], width)
        # The device keeps the low ``bits`` bits of each value (two's complement).
        shift = 64 - bits
        return first, start, (values << shift) >> shift

    def _cmd_load_a(self, payload):
        row, col, values = self._load_values(Command.LOAD_A, payload, self.format.a_bytes,
                                             self.config.a_bits)
        n = self.config.n
        # Values fill consecutive row-major cells of the N x N memory from (row, col) on.
        first = row * n + col
        if row >= n or col >= n or first + len(values) > n * n:
            return Status.BAD_ARGUMENT, b""
        if self._a is None:
            self._a = np.zeros((n, n), dtype=np.int32)
        self._a.reshape(-1)[first:first + len(values)] = values
        return Status.OK, b""

    def _cmd_load_b(self, payload):
        chain, start, values = self._load_values(Command.LOAD_B, payload, self.format.b_bytes,
                                                 self.config.b_bits)
        if chain >= self.info.max_chains or start + len(values) > self.config.n:
            return Status.BAD_ARGUMENT, b""
        if self._b is None:
            self._b = np.zeros((self.info.max_chains, self.config.n), dtype=np.int32)
        self._b[chain, start:start + len(values)] = values
        return Status.OK, b""

    def _cmd_load_seeds(self, payload):
        chain, start = wire.LOAD_SEEDS_REQUEST.unpack_from(payload)
        words = np.frombuffer(payload[wire.LOAD_HEADER_BYTES:], dtype="<u4").reshape(-1, 4)
        if chain >= self.info.max_chains or start + len(words) > self.config.n:
            return Status.BAD_ARGUMENT, b""
        if self._seeds is None:
            self._seeds = np.zeros((self.info.max_chains, self.config.n, 4), dtype=np.uint32)
        self._seeds[chain, start:start + len(words)] = words
        return Status.OK, b""

    def _cmd_set_params(self, payload):
        fields = wire.decode_params(payload)
        if wire.params_error(fields, self.config, self.info.max_chains) is not None:
            return Status.BAD_ARGUMENT, b""
        self._params = fields
        return Status.OK, b""

    def _cmd_run(self, payload):
        if self._params is None:
            return Status.NOT_READY, b""
        fields = dict(self._params)
        n, chains = fields.pop("n_active"), fields.pop("chains")
        params = JobParams(n_active=n, moments=bool(fields.pop("moments")), **fields)
        a = self._a[:n, :n].copy() if self._a is not None else np.zeros((n, n), np.int32)
        b = self._b[:chains, :n].copy() if self._b is not None else np.zeros((chains, n), np.int32)
        seeds = (self._seeds[:chains, :n].copy() if self._seeds is not None
                 else np.zeros((chains, n, 4), np.uint32))
        abort = threading.Event()
        with self._lock:
            self._job_state = JobState.RUNNING
            self._job_steps = self._job_samples = 0
            self._results = None
            self._job_shape = (n, chains, params.moments)
            self._job_abort = abort
        self._thread = threading.Thread(target=self._run_job, args=(a, b, seeds, params, abort),
                                        name="thermospu-emulated-job", daemon=True)
        self._thread.start()
        return Status.OK, b""

    def _run_job(self, a, b, seeds, params: JobParams, abort: threading.Event) -> None:
        def progress(steps):
            if abort.is_set():
                raise _Aborted
            with self._lock:
                self._job_steps += steps

        # The generator states come from LOAD_SEEDS, not from a 64-bit seed. The compiled kernel
        # runs the golden model's arithmetic bit for bit (tests/test_spec_kernel.py).
        spu = kernel.FastSPU(self.config, a, b, params, [0] * b.shape[0],
                             cell_states=np.asarray(seeds, dtype=np.uint32).reshape(b.shape[0], -1, 4))
        try:
            results = spu.run(progress)
        except _Aborted:
            return
        with self._lock:
            if abort.is_set():      # aborted or reset after the last progress call
                return
            self._results = results
            self._job_steps = results[0].steps
            self._job_samples = results[0].count
            self._job_state = JobState.DONE

    def _stop_job(self, new_state: JobState | None) -> None:
        """Stop a running job without waiting for its thread (whose results are then dropped)
        and, if it was running or ``new_state`` is given, enter ``new_state`` / ABORTED."""
        with self._lock:
            self._job_abort.set()
            if new_state is not None:
                self._job_state = new_state
            elif self._job_state == JobState.RUNNING:
                self._job_state = JobState.ABORTED

    def _cmd_status(self, payload):
        with self._lock:
            status = wire.JobStatus(self._job_state, self._job_steps, self._job_samples)
        return Status.OK, wire.encode_status(status)

    def _cmd_read_mean(self, payload):
        chain, start, count = wire.READ_MEAN_REQUEST.unpack(payload)
        width = self.format.sum_y_bytes
        if (chain >= self.info.max_chains or count == 0 or start + count > self.config.n
                or 1 + wire.READ_MEAN_HEADER_BYTES + count * width > wire.MAX_PAYLOAD):
            return Status.BAD_ARGUMENT, b""
        n, chains, _ = self._job_shape
        if self._job_state != JobState.DONE or chain >= chains or start + count > n:
            return Status.NOT_READY, b""
        result = self._results[chain]
        return Status.OK, (wire.READ_MEAN_RESPONSE.pack(saturations=result.saturations)
                           + wire.pack_signed(result.sum_y[start:start + count], width))

    def _cmd_read_moments(self, payload):
        chain, start, count = wire.READ_MOMENTS_REQUEST.unpack(payload)
        width = self.format.sum_yy_bytes
        if (chain >= self.info.max_chains or count == 0 or start + count > self.config.n_moments
                or 1 + count * width > wire.MAX_PAYLOAD):
            return Status.BAD_ARGUMENT, b""
        n, chains, moments = self._job_shape
        if (self._job_state != JobState.DONE or not moments or chain >= chains
                or start + count > n * (n + 1) // 2):
            return Status.NOT_READY, b""
        return Status.OK, wire.pack_signed(self._results[chain].sum_yy[start:start + count], width)

    def _cmd_abort(self, payload):
        self._stop_job(None)
        return Status.OK, b""

    def _cmd_reset(self, payload):
        self._stop_job(JobState.IDLE)
        with self._lock:
            self._results = None
            self._params = None
        return Status.OK, b""
