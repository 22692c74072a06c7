"""K-FAC across processes on ``torch.distributed`` (gloo on CPU, NCCL on GPUs).

:class:`DistributedKFACPreconditioner` is a :class:`~thermospu.host_kfac.preconditioner.
KFACPreconditioner` for data-parallel training, one process per rank, each with its own
micro-batch of the global batch and its own solver (its own SPU device, or ``model`` everywhere).
Each :meth:`~DistributedKFACPreconditioner.step`:

1. averages every parameter gradient over the ranks (``all_reduce`` then ``/ world_size``), as
   ``DistributedDataParallel`` does; when the model is wrapped in DDP the gradients are averaged
   already: pass ``average_gradients=False`` (and the inner ``ddp.module`` as the model);
2. on a factor step, all-reduces the step's factor *sums* and sample counts, so every rank folds
   the factors of the global batch (not an average of per-rank factors) into identical moving
   averages;
3. on an inverse step, each layer's damped factors go to the solver of exactly one rank, its
   owner: layers are assigned once, greedily by inversion cost ``a³ + g³`` (largest first, to
   the least-loaded rank; ties to the lower rank), as KAISA does. Only the owner issues device
   jobs for the layer;
4. every step the owner preconditions the layer's (identical, averaged) gradient with its solver
   and broadcasts the result ``U = G_d⁻¹ V A_d⁻¹`` to the other ranks (kfac-pytorch's MEM-OPT
   placement, ``grad_worker_fraction = 1/world_size``); KL-clipping then runs on every rank
   with the same numbers.

A device failure on a rank (any ``SPUError`` escaping its solver, e.g. ``fallback=False``) makes
that rank solve the layer with a digital Cholesky solver from the same damped factors until the
layer's next successful inverse update; the other ranks only wait for the broadcast as they do
every step. ``metrics["rank_fallbacks"]`` counts these.

The result equals the one-process run on the global batch up to floating-point summation order
(``tests/test_kfac_distributed.py`` states the tolerance). Each rank's checkpoint
(:meth:`state_dict`) holds its own solver's state; save one per rank.

Processes: :func:`run_processes` starts N local CPU processes joined by gloo over loopback (what
``thermospu train --nproc N`` uses); :func:`torchrun_world` reads the environment ``torchrun``
sets and :func:`init_from_env` joins its group. A rank that finished leaves with
:func:`leave_process_group`, which ends the process without interpreter finalization (see its
docstring for the crash it avoids).
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
import warnings
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn

from .preconditioner import KFACPreconditioner
from .solvers import DigitalSolver, Solver

__all__ = ["DistributedKFACPreconditioner", "assign_layers", "gather_rank_reports",
           "run_processes", "torchrun_world", "init_from_env", "leave_process_group"]

#: How long a rank waits for the others in a collective before giving up.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=10)


def assign_layers(sizes: dict[str, tuple[int, int]], world_size: int) -> dict[str, int]:
    """Owner rank of each layer, given (A size, G size): greedy by cost ``a³ + g³``, the
    largest first to the least-loaded rank (ties to the lower rank, then in layer order)."""
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    load = [0] * world_size
    owners = {}
    order = sorted(sizes, key=lambda n: -(sizes[n][0] ** 3 + sizes[n][1] ** 3))
    for name in order:
        rank = min(range(world_size), key=lambda r: (load[r], r))
        owners[name] = rank
        load[rank] += sizes[name][0] ** 3 + sizes[name][1] ** 3
    return {name: owners[name] for name in sizes}


class DistributedKFACPreconditioner(KFACPreconditioner):
    """K-FAC for data-parallel training; see the module docstring for what each step does.

    Parameters
    ----------
    model : nn.Module
        This rank's replica (the inner module when wrapped in DDP).
    solver : Solver, optional
        This rank's solver (default :class:`DigitalSolver`); it only sees the layers it owns.
    process_group : ProcessGroup, optional
        Default the world. ``torch.distributed`` must be initialised.
    average_gradients : bool
        Average the parameter gradients over the ranks (False when DDP already does).
    seed : int
        The Monte-Carlo Fisher's label sampler uses ``seed + rank``.
    **options :
        As :class:`KFACPreconditioner`.
    """

    def __init__(self, model: nn.Module, solver: Solver | None = None, *, process_group=None,
                 average_gradients: bool = True, seed: int = 0, **options):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("DistributedKFACPreconditioner needs torch.distributed to be "
                               "initialised (dist.init_process_group, or run under torchrun)")
        self.group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)
        super().__init__(model, solver, seed=seed + self.rank, **options)
        self.average_gradients = average_gradients
        self.owners = assign_layers({n: (l.a_dim, l.g_dim) for n, l in self.layers.items()},
                                    self.world_size)
        self._backup = DigitalSolver("cholesky")
        self._on_backup: set[str] = set()
        self.metrics["rank_fallbacks"] = 0

    def _src(self, rank: int) -> int:
        return rank if self.group is None else dist.get_global_rank(self.group, rank)

    def owned_layers(self) -> list[str]:
        """The layers whose inversions this rank computes."""
        return [n for n in self.layers if self.owners.get(n) == self.rank]

    # --- the collective parts of a step -------------------------------------------------------
    @torch.no_grad()
    def step(self) -> None:
        """Average the gradients (unless DDP did), then a K-FAC step with the factors of the
        global batch, inversions on their owner ranks and broadcast preconditioned gradients."""
        if self.average_gradients:
            self._average_gradients()
        super().step()

    def _average_gradients(self) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        buckets: dict[tuple, list[nn.Parameter]] = {}
        for p in params:
            buckets.setdefault((p.device, p.dtype), []).append(p)
        for (device, dtype), group in buckets.items():
            flat = torch.cat([p.grad.reshape(-1) if p.grad is not None
                              else torch.zeros(p.numel(), device=device, dtype=dtype)
                              for p in group]
                             + [torch.tensor([float(p.grad is not None) for p in group],
                                             device=device, dtype=dtype)])
            dist.all_reduce(flat, group=self.group)
            has_grad = flat[-len(group):]
            pos = 0
            for p, present in zip(group, has_grad.tolist()):
                if present:
                    value = flat[pos:pos + p.numel()].view_as(p) / self.world_size
                    if p.grad is None:
                        p.grad = value.clone()
                    else:
                        p.grad.copy_(value)
                pos += p.numel()

    def _update_factors(self, decay: float) -> None:
        device = next(iter(self.layers.values())).module.weight.device if self.layers else None
        flat = self.capture.pack_pending(device)
        dist.all_reduce(flat, group=self.group)
        self.capture.unpack_pending(flat)
        self.capture.update_factors(decay)

    def _update_inverses(self) -> None:
        for name in self.owned_layers():
            l = self.layers[name]
            if l.A is not None and l.G is not None:
                self._solver_update(name, *self.damped_factors(name))

    def _preconditioned(self, grads):
        out = {}
        for name, v in grads.items():          # same layers, same order on every rank
            owner = self.owners[name]
            if owner == self.rank:
                u = self._solver_precondition(name, v).to(v.dtype).contiguous()
            else:
                u = torch.empty_like(v)
            dist.broadcast(u, src=self._src(owner), group=self.group)
            out[name] = u
        return out

    # --- this rank's solver, with the digital fallback ------------------------------------------
    def _fall_back(self, name: str, error: Exception) -> None:
        self.metrics["rank_fallbacks"] += 1
        self._on_backup.add(name)
        warnings.warn(f"K-FAC rank {self.rank}: the solver failed on layer {name!r} "
                      f"({type(error).__name__}: {error}); solving it digitally on this rank "
                      f"until its next inverse update", RuntimeWarning, stacklevel=4)

    def _solver_update(self, name, a_damped, g_damped) -> None:
        from thermospu.driver.errors import SPUError
        try:
            self.solver.update(name, a_damped, g_damped)
            self._on_backup.discard(name)
        except SPUError as error:
            self._fall_back(name, error)
            self._backup.update(name, a_damped, g_damped)

    def _solver_precondition(self, name, v) -> torch.Tensor:
        from thermospu.driver.errors import SPUError
        if name not in self._on_backup:
            try:
                return self.solver.precondition(name, v)
            except SPUError as error:
                self._fall_back(name, error)
                self._backup.update(name, *self.damped_factors(name))
        return self._backup.precondition(name, v)

    # --- reports and checkpoints ----------------------------------------------------------------
    def rank_report(self) -> dict:
        """This rank's share: its layers, its solver's counters (``device_jobs`` for an SPU
        solver, ``inverse_updates``), its digital fallbacks. Plain Python values."""
        return {"rank": self.rank, "world_size": self.world_size, "layers": self.owned_layers(),
                "solver": self.solver.name, "solver_metrics": dict(self.solver.metrics),
                "device_jobs": int(self.solver.metrics.get("device_jobs", 0)),
                "rank_fallbacks": self.metrics["rank_fallbacks"]}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "rank": self.rank, "owners": dict(self.owners),
                "backup": self._backup.state_dict(), "on_backup": sorted(self._on_backup)}

    def load_state_dict(self, state: dict) -> None:
        if state["owners"] != self.owners or state["rank"] != self.rank:
            raise ValueError(f"checkpoint of rank {state['rank']} with layer owners "
                             f"{state['owners']} does not match rank {self.rank} with "
                             f"{self.owners}; resume with the same world size and model")
        super().load_state_dict(state)
        self._backup.load_state_dict(state["backup"])
        self._on_backup = set(state["on_backup"])


def gather_rank_reports(preconditioner: DistributedKFACPreconditioner) -> list[dict]:
    """Every rank's :meth:`~DistributedKFACPreconditioner.rank_report`, in rank order, on every
    rank (a collective: all ranks must call it)."""
    reports = [None] * preconditioner.world_size
    dist.all_gather_object(reports, preconditioner.rank_report(), group=preconditioner.group)
    return reports


def torchrun_world() -> tuple[int, int] | None:
    """(rank, world size) when this process was started by ``torchrun`` (its ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` are all set), else None."""
    names = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    if not all(name in os.environ for name in names):
        return None
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


def init_from_env(backend: str = "gloo") -> None:
    """Join the process group ``torchrun`` described in the environment."""
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)


def leave_process_group(exit_code: int) -> NoReturn:
    """Destroy the process group, flush stdout and stderr, and end this rank's process with
    ``exit_code`` without Python's interpreter finalization (``os._exit``).

    Why: gloo's worker threads outlive ``destroy_process_group`` (nothing joins them), and the
    last collective's work object, holding tensors owned by Python, can still be waiting for the
    GIL in one of them when the interpreter starts finalizing; the thread is then unwound and
    C++ calls ``std::terminate`` ("terminate called without an active exception", exit status
    -6). On a busy 2-core machine a 2-rank SPU run hit this about once in 15 runs (core dump:
    ``ProcessGroupGloo::runLoop`` -> ``~AsyncAllgatherWork`` -> ``PyEval_RestoreThread`` during
    ``Py_FinalizeEx``). Everything a rank writes (metrics, checkpoints) is closed before this is
    called; ``os._exit`` skips only the finalization."""
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, fn, nproc: int, port: int, args: tuple) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=nproc, timeout=COLLECTIVE_TIMEOUT)
    try:
        fn(*args)
    except BaseException:
        dist.destroy_process_group()
        raise                       # torch.multiprocessing reports it to the parent
    leave_process_group(0)


def run_processes(fn, nproc: int, args: tuple = ()) -> None:
    """Run ``fn(*args)`` in ``nproc`` new processes (spawned; ``fn`` must be importable), each
    a rank of a gloo group on 127.0.0.1, and wait for all of them. When one fails the others
    are stopped and a ``ChildProcessError`` names the rank and its error's last line."""
    import torch.multiprocessing as mp

    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    try:
        mp.start_processes(_entry, args=(fn, nproc, _free_port(), args), nprocs=nproc,
                           join=True, start_method="spawn")
    except mp.ProcessRaisedException as error:
        last = [line for line in str(error).splitlines() if line.strip()][-1]
        raise ChildProcessError(f"rank {error.error_index} of {nproc} failed: {last}") from None
    except mp.ProcessExitedException as error:
        raise ChildProcessError(f"rank {error.error_index} of {nproc} exited with status "
                                f"{error.exit_code}") from None
