"""The host half of the wire protocol: requests with bounded retries, and jobs made of requests.

:class:`ProtocolClient` sends one request frame and waits for its response, retrying on
timeouts and link errors, and turns device error statuses into typed exceptions.
:class:`FramedBackend` is the :class:`~.base.Backend` every transport uses: it runs jobs as the
sequence LOAD_A (once per matrix), then per group of chains LOAD_B, LOAD_SEEDS, SET_PARAMS, RUN,
STATUS polls, READ_MEAN, READ_MOMENTS; the link underneath is the only thing that differs
between the emulated, simulated and physical SPU.

Every call of :meth:`FramedBackend.run_jobs` has one overall deadline (``deadline`` seconds, or
a default from the job's size: :meth:`FramedBackend.default_deadline`); a device that keeps
saying RUNNING, or stops answering, ends in :class:`DeviceTimeoutError` by then, plus at most
two request timeouts spent sending ABORT so that the job does not outlive the call.
Whatever the link raises (an ``OSError`` of any kind, pyserial's ``SerialException``) reaches the
caller as a :class:`LinkError`, and a malformed answer as a :class:`ProtocolError`: every failure
of the transport is an :class:`~thermospu.driver.errors.SPUError`.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import time

import numpy as np

from thermospu.rtl.spec import golden, wire
from thermospu.rtl.spec.config import ConfigError, JobParams
from thermospu.rtl.spec.golden import JobResult
from thermospu.rtl.spec.wire import Command, JobState, Status

from ..errors import (DeviceBusyError, DeviceError, DeviceNotReadyError, DeviceRejectedError,
                      DeviceTimeoutError, LinkError, ProtocolError, SPUError, TransportError)
from .base import Backend
from .links import Link

__all__ = ["ProtocolClient", "FramedBackend", "Deadline", "check_link_options", "MAX_SECONDS",
           "MAX_RETRIES", "DEADLINE_MARGIN", "DEADLINE_FACTOR", "SIM_CYCLES_PER_S"]

#: Largest ``timeout`` or ``deadline`` accepted (s), about 11.6 days: longer waits are mistakes,
#: and select() and pyserial overflow on unbounded ones.
MAX_SECONDS = 1e6
#: Largest ``retries`` accepted.
MAX_RETRIES = 1000
#: Seconds added to every default deadline (link latency, scheduling, the first STATUS poll).
DEADLINE_MARGIN = 30.0
#: Factor between a call's estimated duration at the slowest plausible rate and its default
#: deadline.
DEADLINE_FACTOR = 4.0
#: The slowest plausible rate of a simulated gateware (clock cycles per wall-clock second):
#: Icarus runs 5,000 to 9,000 (docs/simspeed.md; Verilator ~40 times more); also used for a
#: device reporting no clock (``clock_hz`` 0 in INFO).
SIM_CYCLES_PER_S = 1000.0


def _check_seconds(name: str, value) -> float:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not 0 < value <= MAX_SECONDS):
        raise ConfigError(f"{name}={value!r} is not a valid number of seconds: it must be "
                          f"finite, > 0 and <= {MAX_SECONDS:g}.")
    return float(value)


def check_link_options(options: dict) -> dict:
    """``options`` with ``timeout`` and ``deadline`` (seconds; a ``deadline`` of None means the
    default) and ``retries`` (a count) checked; other keys pass unchanged.

    Raises :class:`ConfigError` unless each seconds value is a finite real in
    (0, :data:`MAX_SECONDS`] and ``retries`` an int in [0, :data:`MAX_RETRIES`] (bool is
    neither)."""
    out = dict(options)
    for name in ("timeout", "deadline"):
        if out.get(name) is not None:
            out[name] = _check_seconds(name, out[name])
    if "retries" in out:
        value = out["retries"]
        if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                or not 0 <= value <= MAX_RETRIES):
            raise ConfigError(f"retries={value!r} is not a valid retry count: it must be an "
                              f"int from 0 to {MAX_RETRIES}.")
        out["retries"] = int(value)
    return out


class Deadline:
    """The moment by which one device call must end.

    Parameters
    ----------
    seconds : float
        Time allowed from now (s).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (<= 0 once passed)."""
        return self.at - time.monotonic()

_STATUS_ERRORS = {
    Status.BUSY: DeviceBusyError,
    Status.NOT_READY: DeviceNotReadyError,
    Status.BAD_ARGUMENT: DeviceRejectedError,
    Status.BAD_LENGTH: DeviceRejectedError,
    Status.UNKNOWN_COMMAND: DeviceRejectedError,
    Status.BAD_VERSION: DeviceRejectedError,
}


class ProtocolClient:
    """Request/response over a :class:`~.links.Link`, with bounded retries.

    Each attempt gets a fresh sequence number; responses with another SEQ (late answers to an
    earlier attempt, or garbage that happens to pass the CRC) are dropped. A missing answer and
    the link-error statuses (:data:`~thermospu.rtl.spec.wire.LINK_ERRORS`) are retried up to ``retries``
    times; then :class:`DeviceTimeoutError` or :class:`ProtocolError` names the transport and
    command. Any other error status raises its typed exception at once. An ``OSError`` from the
    link (pyserial's ``SerialException`` is one) raises :class:`LinkError` at once.

    Parameters
    ----------
    link : Link
    transport : str
        Name used in error messages (the URI).
    timeout : float
        Seconds to wait for each response: finite, > 0 (:func:`check_link_options`).
    retries : int
        Extra attempts after the first, >= 0.

    Attributes
    ----------
    stats : dict
        Counters: requests, attempts, retries, bytes_sent, bytes_received, rejected_frames.
    """

    def __init__(self, link: Link, transport: str, *, timeout: float = 1.0, retries: int = 3):
        checked = check_link_options(dict(timeout=timeout, retries=retries))
        timeout, retries = checked["timeout"], checked["retries"]
        self.link, self.transport = link, transport
        self.timeout, self.retries = timeout, retries
        self._decoder = wire.FrameDecoder()
        self._seq = 0
        self.stats = dict(requests=0, attempts=0, retries=0, bytes_sent=0, bytes_received=0)
        #: Attempts the last request took (1 = answered first time).
        self.last_attempts = 0
        #: The :class:`Deadline` of the device call under way (set by FramedBackend.run_jobs),
        #: or None.
        self.deadline: Deadline | None = None

    @property
    def rejected_frames(self) -> int:
        """Response candidates dropped for a bad CRC, length or version."""
        return self._decoder.rejected

    def request(self, command: Command | int, payload: bytes = b"") -> bytes:
        """Send ``command`` with ``payload``; return the response data after the status byte.

        While :attr:`deadline` is set, no attempt waits past it: :class:`DeviceTimeoutError`
        once it has passed."""
        deadline = self.deadline
        try:
            command = Command(command)
            name = command.name
        except ValueError:
            name = f"command 0x{command:02x}"
        self.stats["requests"] += 1
        last_problem = None
        for attempt in range(1 + self.retries):
            self._check_deadline(deadline, name)
            self.last_attempts = attempt + 1
            self.stats["attempts"] += 1
            if attempt:
                self.stats["retries"] += 1
            self._seq = (self._seq + 1) & 0xFF
            frame = wire.encode_frame(command, self._seq, payload)
            self._link_io(self.link.write, frame, name=name)
            self.stats["bytes_sent"] += len(frame)
            response = self._await(command, self._seq, name, deadline)
            if response is None:
                self._check_deadline(deadline, name)
                # A response whose LEN was corrupted would hold the decoder waiting for bytes
                # that never come (and swallow the next answer): start afresh.
                self._decoder.clear()
                last_problem = None
                continue
            if not response.payload:
                raise ProtocolError(f"{self.transport}: {name} answered with an empty "
                                    f"payload (no status byte)", transport=self.transport,
                                    command=name)
            try:
                status = Status(response.status)
            except ValueError:
                raise ProtocolError(f"{self.transport}: {name} answered with unknown "
                                    f"status 0x{response.status:02x}", transport=self.transport,
                                    command=name) from None
            if status == Status.OK:
                return response.payload[1:]
            if status in wire.LINK_ERRORS:
                last_problem = status
                continue
            raise _STATUS_ERRORS[status](
                f"{self.transport}: device refused {name} with {status.name}",
                transport=self.transport, command=name, status=status.name)
        attempts = 1 + self.retries
        if last_problem is None:
            raise DeviceTimeoutError(
                f"{self.transport}: no answer to {name} within {self.timeout:g} s "
                f"({attempts} attempts); reset() or reopen the device once the link works",
                transport=self.transport, command=name)
        if last_problem == Status.BAD_VERSION:
            raise DeviceRejectedError(
                f"{self.transport}: the device refused {name} {attempts} times with BAD_VERSION: "
                f"it does not speak protocol version {wire.PROTOCOL_VERSION}",
                transport=self.transport, command=name, status=last_problem.name)
        raise ProtocolError(f"{self.transport}: {name} failed {attempts} times, last "
                            f"with {last_problem.name}", transport=self.transport,
                            command=name, status=last_problem.name)

    def _check_deadline(self, deadline: Deadline | None, name: str) -> None:
        if deadline is not None and deadline.remaining() <= 0:
            raise DeviceTimeoutError(
                f"{self.transport}: the device call ran past its deadline of "
                f"{deadline.seconds:g} s waiting for the answer to {name}. Call reset() on the "
                f"device before the next job, or open it with a larger deadline= (seconds per "
                f"call) if jobs this long are expected.", transport=self.transport, command=name)

    def _link_io(self, operation, argument, *, name: str):
        """``operation(argument)`` (the link's write or read), an ``OSError`` from it raised as
        :class:`LinkError`."""
        try:
            return operation(argument)
        except OSError as e:
            raise LinkError(f"{self.transport}: the link failed during {name} "
                            f"({type(e).__name__}: {e}). Check the connection, then reopen the "
                            f"device or call reset().", transport=self.transport,
                            command=name) from e

    def _await(self, command: int, seq: int, name: str,
               deadline: Deadline | None) -> wire.Frame | None:
        until = time.monotonic() + self.timeout
        if deadline is not None:
            until = min(until, deadline.at)
        want = command | wire.RESPONSE_FLAG
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return None
            data = self._link_io(self.link.read, remaining, name=name)
            self.stats["bytes_received"] += len(data)
            for frame in self._decoder.feed(data):
                if frame.seq == seq and frame.code == want:
                    return frame

    def resync(self) -> None:
        """Forget partly received bytes and whatever is waiting on the line."""
        self._decoder.clear()
        while self._link_io(self.link.read, 0.0, name="resync"):
            pass


def _chunks(total: int, size: int):
    for start in range(0, total, size):
        yield start, min(size, total - start)


class FramedBackend(Backend):
    """Runs jobs on a device through the wire protocol over ``link``.

    Parameters
    ----------
    link : Link
    name : str
        The URI it was opened with.
    description : str
        What is answering, for people.
    expected_config : SPUConfig, optional
        For emulating transports: the configuration asked for; the device's INFO must match.
    timeout, retries : float, int
        Per-request timeout (s) and retry bound (:class:`ProtocolClient`).
    deadline : float or None
        Seconds one :meth:`run_jobs` call may take in all, finite and > 0; None (default):
        :meth:`default_deadline` of each call's job.
    poll_interval : float
        Longest pause (s) between STATUS polls while a job runs (polls start at 1/64 of it and
        double).

    Attributes
    ----------
    cycles_per_s : float
        The slowest plausible rate of the device (clock cycles per second; for the emulated
        device, multiply-accumulates per second), for :meth:`default_deadline`.
    seconds_per_byte : float
        The slowest plausible time the link and device take per byte of a frame.
    """

    cycles_per_s = SIM_CYCLES_PER_S
    seconds_per_byte = 1 / SIM_CYCLES_PER_S

    def __init__(self, link: Link, name: str, description: str, *, expected_config=None,
                 timeout: float = 1.0, retries: int = 3, deadline: float | None = None,
                 poll_interval: float = 0.01):
        self.name = name
        self.link = link
        try:
            self.deadline = check_link_options(dict(deadline=deadline))["deadline"]
            self.client = ProtocolClient(link, name, timeout=timeout, retries=retries)
        except BaseException:
            link.close()
            raise
        self.poll_interval = poll_interval
        try:
            self.device_info = wire.decode_info(self.client.request(Command.INFO))
        except ValueError as e:
            link.close()
            raise ProtocolError(f"{name}: malformed INFO response: {e}", transport=name,
                                command="INFO") from e
        except BaseException:
            link.close()
            raise
        self.config = self.device_info.config
        if expected_config is not None and expected_config != self.config:
            link.close()
            raise TransportError(f"{name}: the device is {self.config}, not the requested "
                                 f"{expected_config}")
        self.format = wire.WireFormat.for_config(self.config)
        self.description = f"{description}, N={self.config.n}"
        self._loaded_a = None   # (n, digest) of the coupling matrix in the device's memory
        if self.device_info.clock_hz:
            self.cycles_per_s = float(self.device_info.clock_hz)

    # --- Backend -----------------------------------------------------------------------------
    def info(self) -> dict:
        d = self.device_info
        return dict(super().info(), gateware_version=f"{d.gateware_version >> 8}."
                    f"{d.gateware_version & 0xFF}", board=d.board, max_chains=d.max_chains,
                    max_request_payload=d.max_request_payload, clock_hz=d.clock_hz,
                    protocol_version=wire.PROTOCOL_VERSION)

    def reset(self) -> None:
        """RESET the device (stopping any job) after dropping whatever is half-received; the
        coupling matrix is reloaded by the next job."""
        self._loaded_a = None
        self.client.resync()
        self.client.request(Command.RESET)

    def close(self) -> None:
        self.link.close()

    def default_deadline(self, params: JobParams, chains: int) -> float:
        """Seconds allowed to a :meth:`run_jobs` call of ``chains`` chains of ``params`` when
        no ``deadline`` was given: :data:`DEADLINE_MARGIN` + :data:`DEADLINE_FACTOR` x the
        call's duration at the slowest plausible rate, i.e. its Euler steps at
        ``n_active**2 + 64`` cycles each (a bound of the gateware's cycles per step and per
        second-moment pass) over :attr:`cycles_per_s`, plus the bytes of A, b, seeds and
        results at :attr:`seconds_per_byte`; at most :data:`MAX_SECONDS`."""
        n, fmt = params.n_active, self.format
        cycles = chains * params.steps * (n * n + 64)
        moments = n * (n + 1) // 2 * fmt.sum_yy_bytes if params.moments else 0
        data = n * n * fmt.a_bytes + chains * n * (
            fmt.b_bytes + wire.SEEDS_BYTES_PER_CELL + fmt.sum_y_bytes) + chains * moments
        seconds = cycles / self.cycles_per_s + data * self.seconds_per_byte
        return min(MAX_SECONDS, DEADLINE_MARGIN + DEADLINE_FACTOR * seconds)

    def run_jobs(self, a_q, b_q, params: JobParams, seeds, progress=None) -> list[JobResult]:
        """See :meth:`Backend.run_jobs`; the whole call ends within ``deadline`` seconds (or
        :meth:`default_deadline`), else :class:`DeviceTimeoutError` (a running job is
        aborted first)."""
        a_q, b_q = golden.check_job_inputs(self.config, a_q, b_q, params, seeds)
        seconds = self.deadline
        if seconds is None:
            seconds = self.default_deadline(params, len(seeds))
        self.client.deadline = Deadline(seconds)
        try:
            self._load_a(a_q)
            results = []
            for first, count in _chunks(len(seeds), self.device_info.max_chains):
                results += self._run_group(b_q[first:first + count], seeds[first:first + count],
                                           params, progress)
            return results
        except BaseException:
            # The device may have stopped mid-load or been reset: reload A next time.
            self._loaded_a = None
            raise
        finally:
            self.client.deadline = None

    # --- steps of a job ----------------------------------------------------------------------
    def _values_per_frame(self, width: int) -> int:
        return (self.device_info.max_request_payload - wire.LOAD_HEADER_BYTES) // width

    def _load_a(self, a_q: np.ndarray) -> None:
        n = a_q.shape[0]
        key = (n, hashlib.blake2b(np.ascontiguousarray(a_q, dtype=np.int64).tobytes(),
                                  digest_size=16).digest())
        if key == self._loaded_a:
            return
        self._loaded_a = None
        width, big_n = self.format.a_bytes, self.config.n
        per_frame = self._values_per_frame(width)
        # LOAD_A writes consecutive row-major cells of the N x N memory, so when n == N the
        # whole matrix is one run; otherwise each row is its own run.
        runs = [(0, a_q.ravel())] if n == big_n else [(r * big_n, a_q[r]) for r in range(n)]
        for base, values in runs:
            for start, count in _chunks(len(values), per_frame):
                row, col = divmod(base + start, big_n)
                self.client.request(Command.LOAD_A, wire.LOAD_A_REQUEST.pack(row, col)
                                    + wire.pack_signed(values[start:start + count], width))
        self._loaded_a = key

    def _run_group(self, b_q, seeds, params: JobParams, progress) -> list[JobResult]:
        n = params.n_active
        b_per_frame = self._values_per_frame(self.format.b_bytes)
        cells_per_frame = self._values_per_frame(wire.SEEDS_BYTES_PER_CELL)
        for chain, (b, seed) in enumerate(zip(b_q, seeds)):
            for start, count in _chunks(n, b_per_frame):
                self.client.request(Command.LOAD_B, wire.LOAD_B_REQUEST.pack(chain, start)
                                    + wire.pack_signed(b[start:start + count], self.format.b_bytes))
            states = golden.cell_seeds(int(seed), n).astype("<u4")
            for start, count in _chunks(n, cells_per_frame):
                self.client.request(Command.LOAD_SEEDS, wire.LOAD_SEEDS_REQUEST.pack(chain, start)
                                    + states[start:start + count].tobytes())
        self.client.request(Command.SET_PARAMS, wire.encode_params(params, len(seeds)))
        self._start()
        status = self._wait(progress, params)
        return [self._read_chain(chain, params, status) for chain in range(len(seeds))]

    def _start(self) -> None:
        try:
            self.client.request(Command.RUN)
        except DeviceBusyError:
            # A retried RUN whose first attempt started the job (its answer was lost) finds
            # the device busy with exactly this job.
            if self.client.last_attempts == 1:
                raise

    def _wait(self, progress, params: JobParams) -> wire.JobStatus:
        reported = 0
        pause = self.poll_interval / 64
        status = None
        while True:
            if self.client.deadline.remaining() <= 0:
                self._abort_at_deadline(status, params)
            try:
                data = self.client.request(Command.STATUS)
            except DeviceTimeoutError:
                # The deadline may run out inside the request: the job must not outlive it.
                if self.client.deadline.remaining() <= 0:
                    self._abort_at_deadline(status, params)
                raise
            try:
                status = wire.decode_status(data)
            except ValueError as e:
                raise ProtocolError(f"{self.name}: malformed STATUS response ({e})",
                                    transport=self.name, command="STATUS") from e
            if progress is not None and status.steps > reported:
                progress(status.steps - reported)
                reported = status.steps
            if status.state == JobState.DONE:
                return status
            if status.state != JobState.RUNNING:
                raise DeviceError(f"{self.name}: the job stopped in state {status.state.name} "
                                  f"(aborted or reset by someone else?)")
            time.sleep(max(0.0, min(pause, self.client.deadline.remaining())))
            pause = min(2 * pause, self.poll_interval)

    def _abort_at_deadline(self, status: wire.JobStatus | None, params: JobParams) -> None:
        """ABORT the job that outlived the call's deadline, then raise DeviceTimeoutError
        (``status``: the last STATUS answer, None before the first)."""
        # ABORT gets its own time: two request timeouts (a dead line must not hold the caller).
        deadline, self.client.deadline = self.client.deadline, Deadline(2 * self.client.timeout)
        try:
            self.client.request(Command.ABORT)
            outcome = "it was aborted"
        except SPUError as e:
            outcome = f"ABORT failed too ({type(e).__name__})"
        seen = ("no STATUS answer came in time" if status is None else
                f"the device still said RUNNING after {status.steps} of {params.steps} Euler "
                f"steps per chain")
        raise DeviceTimeoutError(
            f"{self.name}: the job did not finish within the call's deadline of "
            f"{deadline.seconds:g} s ({seen}); {outcome}. Call reset() "
            f"on the device before the next job, or open it with a larger deadline= (seconds "
            f"per call) if jobs this long are expected.", transport=self.name, command="STATUS")

    def _read_chain(self, chain: int, params: JobParams, status: wire.JobStatus) -> JobResult:
        n = params.n_active
        width = self.format.sum_y_bytes
        per_frame = (wire.MAX_PAYLOAD - 1 - wire.READ_MEAN_HEADER_BYTES) // width
        sum_y, saturations = [], 0
        for start, count in _chunks(n, per_frame):
            data = self.client.request(Command.READ_MEAN,
                                       wire.READ_MEAN_REQUEST.pack(chain, start, count))
            self._expect_length(Command.READ_MEAN, data,
                                wire.READ_MEAN_HEADER_BYTES + count * width)
            saturations = wire.READ_MEAN_RESPONSE.unpack_from(data).saturations
            sum_y.append(wire.unpack_signed(data[wire.READ_MEAN_HEADER_BYTES:], width))
        sum_yy = None
        if params.moments:
            width = self.format.sum_yy_bytes
            per_frame = (wire.MAX_PAYLOAD - 1) // width
            parts = []
            for start, count in _chunks(n * (n + 1) // 2, per_frame):
                data = self.client.request(Command.READ_MOMENTS,
                                           wire.READ_MOMENTS_REQUEST.pack(chain, start, count))
                self._expect_length(Command.READ_MOMENTS, data, count * width)
                parts.append(wire.unpack_signed(data, width))
            sum_yy = np.concatenate(parts)
        return JobResult(sum_y=np.concatenate(sum_y), sum_yy=sum_yy, count=status.samples,
                         saturations=saturations, steps=status.steps)

    def _expect_length(self, command: Command, data: bytes, expected: int) -> None:
        if len(data) != expected:
            raise ProtocolError(f"{self.name}: {command.name} returned {len(data)} bytes, "
                                f"expected {expected}", transport=self.name, command=command.name)
