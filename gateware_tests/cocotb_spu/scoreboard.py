"""Scoreboard: the device's accumulator contents against the golden model, bit for bit."""

from __future__ import annotations

import numpy as np

from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.spec.golden import JobResult, run_job

from .jobs import Job

__all__ = ["Scoreboard", "result_mismatches"]


def result_mismatches(expected: JobResult, got: JobResult, limit: int = 8) -> list[str]:
    """Human-readable differences between two results (empty when they are equal)."""
    out = []
    for name in ("count", "saturations", "steps"):
        e, g = getattr(expected, name), getattr(got, name)
        if e != g:
            out.append(f"{name}: expected {e}, got {g}")
    pairs = [("sum_y", expected.sum_y, got.sum_y)]
    if (expected.sum_yy is None) != (got.sum_yy is None):
        out.append(f"sum_yy: expected {'none' if expected.sum_yy is None else 'values'}, "
                   f"got {'none' if got.sum_yy is None else 'values'}")
    elif expected.sum_yy is not None:
        pairs.append(("sum_yy", expected.sum_yy, got.sum_yy))
    for name, e, g in pairs:
        e, g = np.asarray(e), np.asarray(g)
        if e.shape != g.shape:
            out.append(f"{name}: expected shape {e.shape}, got {g.shape}")
            continue
        bad = np.flatnonzero(e != g)
        for i in bad[:limit]:
            out.append(f"{name}[{i}]: expected {int(e[i])}, got {int(g[i])}")
        if len(bad) > limit:
            out.append(f"{name}: ... {len(bad) - limit} more differences")
    return out


class Scoreboard:
    """Collects (job, device result) pairs and checks each against :func:`run_job`.

    Mismatches are recorded, not raised, so one run reports every failing job; call
    :meth:`check` at the end.

    Attributes
    ----------
    compared : int
        Jobs compared bit for bit.
    failures : list of str
        One entry per mismatching job: the job, its parameters and the differences.
    """

    def __init__(self, config: SPUConfig, log=None):
        self.config, self.log = config, log
        self.compared = 0
        self.failures: list[str] = []

    def expected(self, job: Job) -> JobResult:
        return run_job(self.config, job.a_q, job.b_q, job.params)

    def compare(self, job: Job, got: JobResult, label: str = "") -> bool:
        """Compare one job; returns True when it matches bit for bit."""
        diffs = result_mismatches(self.expected(job), got)
        self.compared += 1
        if diffs:
            text = f"{label} {job.describe()}: " + "; ".join(diffs)
            self.failures.append(text)
            if self.log is not None:
                self.log.error("MISMATCH %s", text)
            return False
        return True

    def check(self) -> None:
        """Raise AssertionError listing every mismatch, if there was one."""
        if self.failures:
            raise AssertionError(f"{len(self.failures)} of {self.compared} jobs differ from the "
                                 "golden model:\n" + "\n".join(self.failures))
