"""One BLAS thread for the driver's host-side linear algebra.

The driver factors, inverts and multiplies matrices of at most N rows (the device's cells, a few
hundred at most). At that size OpenBLAS's worker threads cost more than they give, and on a busy
machine far more: a 129 x 129 Cholesky factorization took 7.8 ms with OpenBLAS's default two
threads and 0.29 ms with one on this project's 2-core machine while other jobs ran (an
eigendecomposition 71 ms against 3 ms). :func:`one_blas_thread` limits BLAS to one thread for
the duration of a device call (threadpoolctl, about 10 µs per call) and restores the caller's
setting afterwards; the emulated device's own threads (:mod:`thermospu.rtl.spec.kernel`) are not
BLAS threads and are not affected.
"""

from __future__ import annotations

import functools

import threadpoolctl

__all__ = ["one_blas_thread"]

_controller: threadpoolctl.ThreadpoolController | None = None


def one_blas_thread(method):
    """Decorator: run ``method`` with the BLAS libraries loaded in this process limited to one
    thread."""

    @functools.wraps(method)
    def limited(*args, **kwargs):
        global _controller
        if _controller is None:
            _controller = threadpoolctl.ThreadpoolController()
        with _controller.limit(limits=1, user_api="blas"):
            return method(*args, **kwargs)

    return limited
