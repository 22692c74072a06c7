"""Distributed K-FAC on 2 CPU processes (gloo, loopback) against the 1-process run.

Tolerance: parameters after 6 steps equal the 1-process run on the same global batch to
``rtol=1e-4, atol=1e-5`` (float32; measured differences are ~1e-7, from summation order).
"""

from __future__ import annotations

import datetime
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from kfac_helpers import ExactDevice
from thermospu.host_kfac.distributed import (DistributedKFACPreconditioner, assign_layers,
                                             gather_rank_reports, leave_process_group)
from thermospu.host_kfac.preconditioner import KFACPreconditioner
from thermospu.host_kfac.solvers import ThermodynamicInverseSolver

STEPS, GLOBAL_BATCH, WORLD = 6, 16, 2
OPTIONS = dict(lr=0.05, damping=0.05, inv_update_interval=2, kl_clip=1e-2)


def make_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 6),
                         nn.Tanh(), nn.Linear(6, 4))


def global_batch(step: int):
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randn(GLOBAL_BATCH, 2, 6, generator=g), torch.randint(0, 4, (GLOBAL_BATCH,),
                                                                        generator=g)


def train(net, pre, rows=slice(None)):
    sgd = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for step in range(STEPS):
        x, y = global_batch(step)
        sgd.zero_grad()
        F.cross_entropy(net(x[rows]), y[rows]).backward()
        pre.step()
        sgd.step()


def _worker(rank, port, out_dir, fail_on):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=60))
    try:
        net = make_net()
        device = ExactDevice(fail_on=fail_on if rank == 1 else ())
        solver = ThermodynamicInverseSolver(device, fallback=False)
        pre = DistributedKFACPreconditioner(net, solver, **OPTIONS)
        per_rank = GLOBAL_BATCH // WORLD
        train(net, pre, slice(rank * per_rank, (rank + 1) * per_rank))
        reports = gather_rank_reports(pre)
        torch.save({"params": [p.detach().clone() for p in net.parameters()],
                    "reports": reports, "calls": len(device.calls)},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    except BaseException:
        dist.destroy_process_group()
        raise
    leave_process_group(0)      # not interpreter finalization: see its docstring


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_ranks(tmp_path, fail_on=(), deadline_s=120):
    context = mp.start_processes(_worker, args=(_free_port(), str(tmp_path), tuple(fail_on)),
                                 nprocs=WORLD, join=False, start_method="spawn")
    end = time.monotonic() + deadline_s
    while not context.join(timeout=1):
        if time.monotonic() > end:
            for p in context.processes:
                p.kill()
            pytest.fail(f"the {WORLD}-process run did not finish in {deadline_s} s")
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def one_process():
    net = make_net()
    device = ExactDevice()
    pre = KFACPreconditioner(net, ThermodynamicInverseSolver(device, fallback=False), **OPTIONS)
    train(net, pre)
    return net, pre


def test_layers_are_assigned_greedily_by_cost():
    owners = assign_layers({"a": (10, 10), "b": (9, 9), "c": (3, 3), "d": (2, 2)}, 2)
    assert owners == {"a": 0, "b": 1, "c": 1, "d": 1}
    assert set(assign_layers({"a": (4, 4)}, 3).values()) == {0}


@pytest.mark.parametrize("fail_on", [(), (0,)], ids=["healthy", "rank1-device-fails"])
def test_two_processes_equal_one_process(tmp_path, fail_on):
    results = run_two_ranks(tmp_path, fail_on)
    net, pre = one_process()
    for result in results:
        for p, q in zip(net.parameters(), result["params"]):
            torch.testing.assert_close(q, p.detach(), rtol=1e-4, atol=1e-5)
    reports = results[0]["reports"]
    assert reports == results[1]["reports"]
    owned = [set(r["layers"]) for r in reports]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    assert owned[0] | owned[1] == set(pre.layers)
    total_jobs = pre.solver.metrics["device_jobs"]            # 3 layers x 2 factors x 3 updates
    assert total_jobs == 18
    for rank, report in enumerate(reports):
        # each rank issues the jobs of its own layers only
        # (a failed update loses the failed job and the G job it never reached)
        assert report["device_jobs"] == 2 * 3 * len(report["layers"]) - 2 * len(fail_on) * rank
    if fail_on:
        assert reports[1]["rank_fallbacks"] == 1 and reports[0]["rank_fallbacks"] == 0
        assert results[1]["calls"] == 2 * 3 * len(reports[1]["layers"]) - 1
