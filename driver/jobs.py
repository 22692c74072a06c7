"""Independent jobs: one call's samples split into K jobs whose accumulators combine exactly.

A right-hand side (or an inverse) that asks for ``samples`` samples runs as K jobs of
``ceil(samples / K)`` samples each, every job with its own seed and its own burn-in. The jobs'
accumulators are integer sums, so adding them (:func:`combine`) gives exactly the accumulators of
one job of K times the samples drawn from K independent starts. The model transport runs the K
jobs as K parallel chains of one compiled run; a board or a simulator (one chain) runs them one
after another; the integers, and so the answers, are the same bit for bit.

Why split: K independent estimates give an honest standard error by batch means (the spread of
the K job estimates, no autocorrelation model), and the model transport's kernel runs chains in
pairs. The price is K burn-ins; :func:`job_count` keeps it below 1/8 of the sampling steps.
"""

from __future__ import annotations

import math

import numpy as np

from thermospu.rtl.spec.golden import JobResult

__all__ = ["MAX_JOBS", "BURN_IN_SHARE", "job_count", "samples_per_job", "combine", "group",
           "batch_std_error"]

#: Most jobs a call is split into by default: 16 batch means estimate a standard error to about
#: 18 % (1 / sqrt(2 (K - 1))); more adds burn-ins without improving it much.
MAX_JOBS = 16
#: Burn-in steps of all jobs together may cost at most this fraction of the sampling steps.
BURN_IN_SHARE = 1 / 8


def job_count(samples: int, burn_in: int, thin: int, requested: int | None = None) -> int:
    """K, the jobs one right-hand side (or one inverse) of ``samples`` samples is split into.

    ``requested`` (>= 1) is taken as given, capped so that every job keeps at least 2 samples.
    Otherwise the largest K <= :data:`MAX_JOBS` whose K burn-ins cost at most
    :data:`BURN_IN_SHARE` of the ``samples * thin`` sampling steps, and at least 1.
    """
    if requested is not None:
        if int(requested) != requested or requested < 1:
            raise ValueError(f"jobs must be a positive integer, got {requested!r}")
        return max(1, min(int(requested), samples // 2))
    affordable = int(BURN_IN_SHARE * samples * thin / max(burn_in, 1))
    return max(1, min(MAX_JOBS, affordable, samples // 2))


def samples_per_job(samples: int, jobs: int) -> int:
    """Samples each of ``jobs`` jobs draws so that together they draw at least ``samples``."""
    return math.ceil(samples / jobs)


def combine(results: list[JobResult]) -> JobResult:
    """One job's accumulators from several: sums of sum_y, sum_yy, count, saturations, steps.
    Exact (integer addition)."""
    first = results[0]
    sum_yy = None if first.sum_yy is None else sum(r.sum_yy for r in results)
    return JobResult(sum_y=sum(r.sum_y for r in results), sum_yy=sum_yy,
                     count=sum(r.count for r in results),
                     saturations=sum(r.saturations for r in results),
                     steps=sum(r.steps for r in results))


def group(results: list[JobResult], jobs: int) -> list[list[JobResult]]:
    """The results of consecutive runs of ``jobs`` jobs each (one group per right-hand side)."""
    return [results[i:i + jobs] for i in range(0, len(results), jobs)]


def batch_std_error(estimates: np.ndarray) -> np.ndarray:
    """Standard error of the mean of K independent estimates (axis 0), per entry: the sample
    std over the K estimates divided by sqrt(K) (batch means; needs K >= 2)."""
    k = estimates.shape[0]
    return np.std(estimates, axis=0, ddof=1) / math.sqrt(k)
