"""What is trained and how: layer stacks (workloads), the K-FAC schedule and the SPU's accuracy.

A layer ``W`` of shape ``(g, a)`` (``g = d_out``, ``a = d_in + 1`` with the bias column) sees
``rows`` activation rows per step (batch size times tokens or nodes). Sizes are counts of
elements; intervals are training steps; accuracies are dimensionless.
"""

from __future__ import annotations

import dataclasses

from .units import CostModelError, parameter, validate

__all__ = ["Layer", "Workload", "width_sweep_workload", "vit_workload", "gnn_workload",
           "WORKLOADS", "KFACSchedule", "SolverAccuracy"]


@dataclasses.dataclass(frozen=True)
class Layer:
    """One linear layer ``W`` of shape ``(d_out, d_in)`` (plus a bias column if ``bias``).

    ``rows`` is the number of activation rows per step (batch size times tokens or nodes) that
    enter the forward/backward products and the factor sums.
    """

    d_in: int
    d_out: int
    rows: int
    bias: bool = True
    name: str = ""

    def __post_init__(self):
        for field in ("d_in", "d_out", "rows"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CostModelError(
                    f"Layer {self.name or ''}: {field} must be a positive integer, got {value!r}")
            if value > 1 << 26:
                raise CostModelError(f"Layer {self.name or ''}: {field}={value} exceeds 2**26")

    @property
    def a(self) -> int:
        """Size of the input factor A (d_in, plus one for the bias)."""
        return self.d_in + (1 if self.bias else 0)

    @property
    def g(self) -> int:
        """Size of the output-gradient factor G (d_out)."""
        return self.d_out

    @property
    def parameters(self) -> int:
        """Weights of the layer, bias included (count)."""
        return self.a * self.g


@dataclasses.dataclass(frozen=True)
class Workload:
    """A named stack of layers; ``description`` states the shapes and where they come from."""

    name: str
    layers: tuple[Layer, ...]
    description: str = ""

    def __post_init__(self):
        if not self.layers:
            raise CostModelError(f"workload {self.name!r} has no layers")
        object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def parameters(self) -> int:
        """Weights of all layers, biases included (count)."""
        return sum(layer.parameters for layer in self.layers)


def width_sweep_workload(width: int, *, depth: int = 1, rows: int = 512) -> Workload:
    """``depth`` square layers of width ``width`` (d_in = d_out = width, no bias) with ``rows``
    activation rows: the stack on which asymptotic exponents and crossover widths are defined."""
    layers = tuple(Layer(width, width, rows, bias=False, name=f"l{i}") for i in range(depth))
    return Workload(f"width-{width}", layers, f"{depth} x ({width} -> {width}), {rows} rows")


def vit_workload(width: int, mlp: int, depth: int, *, batch: int, tokens: int, patch_dim: int,
                 classes: int, name: str) -> Workload:
    """A ViT encoder's linear layers: patch embedding, per block qkv / proj / fc1 / fc2, head.
    Rows = batch * tokens for the blocks, batch for the head (class token only)."""
    rows = batch * tokens
    layers = [Layer(patch_dim, width, batch * (tokens - 1), name="patch-embed")]
    for i in range(depth):
        layers += [Layer(width, 3 * width, rows, name=f"block{i}.qkv"),
                   Layer(width, width, rows, name=f"block{i}.proj"),
                   Layer(width, mlp, rows, name=f"block{i}.fc1"),
                   Layer(mlp, width, rows, name=f"block{i}.fc2")]
    layers.append(Layer(width, classes, batch, name="head"))
    return Workload(name, tuple(layers),
                    f"ViT: width {width}, MLP {mlp}, {depth} blocks, {tokens} tokens, batch "
                    f"{batch}, patch dim {patch_dim}, {classes} classes")


def gnn_workload(latent: int, steps: int, *, graphs: int, nodes_per_graph: int,
                 edges_per_graph: int, name: str) -> Workload:
    """A GraphNetwork (Battaglia et al. 2018) with MLP updates: per message-passing step an
    edge MLP on [edge, sender, receiver, global] (4 latent -> latent), a node MLP on [node,
    aggregated edges, global] (3 latent -> latent), a global MLP on [global, mean node, mean
    edge] (3 latent -> latent), each two layers (the second latent -> latent)."""
    edges, nodes = graphs * edges_per_graph, graphs * nodes_per_graph
    layers = []
    for i in range(steps):
        for part, d_in, rows in (("edge", 4 * latent, edges), ("node", 3 * latent, nodes),
                                 ("global", 3 * latent, graphs)):
            layers += [Layer(d_in, latent, rows, name=f"step{i}.{part}.0"),
                       Layer(latent, latent, rows, name=f"step{i}.{part}.1")]
    return Workload(name, tuple(layers),
                    f"GraphNetwork: latent {latent}, {steps} message-passing steps, {graphs} "
                    f"graphs/batch, {nodes_per_graph} nodes and {edges_per_graph} edges per graph")


#: The workloads of the speedup table. Shapes follow the public model definitions (ViT: Dosovitskiy
#: et al. 2021, S/16 and B/16 at 224x224: 197 tokens, patch dim 16*16*3 = 768; GNN: the AlgoPerf
#: ogbg-molpcba GraphNetwork has latent 256 and 5 steps; molpcba graphs average ~26 nodes and ~28
#: bonds, i.e. ~56 directed edges). Batch sizes are assumed (1024 images, 512 graphs). The wide
#: transformer (GPT-like width 4096) shows where the width trend leads; the digits MLP is what
#: our own K-FAC trains, small enough for the ECP5 emulation.
WORKLOADS = {
    "vit-s16": vit_workload(384, 1536, 12, batch=1024, tokens=197, patch_dim=768, classes=1000,
                            name="vit-s16"),
    "vit-b16": vit_workload(768, 3072, 12, batch=1024, tokens=197, patch_dim=768, classes=1000,
                            name="vit-b16"),
    "gnn-molpcba": gnn_workload(256, 5, graphs=512, nodes_per_graph=26, edges_per_graph=56,
                                name="gnn-molpcba"),
    "transformer-4096": vit_workload(4096, 16384, 4, batch=8, tokens=1024, patch_dim=4096,
                                     classes=4096, name="transformer-4096"),
    "digits-mlp": Workload("digits-mlp", (Layer(64, 32, 128, name="hidden"),
                                          Layer(32, 10, 128, name="output")),
                           "the MLP our K-FAC trains on sklearn digits (host_kfac/models.py: "
                           "64 -> 32 -> 10, batch 128 as host_kfac/train.py)"),
}


@dataclasses.dataclass(frozen=True)
class KFACSchedule:
    """How often K-FAC refreshes its factors and their inverses, and how it preconditions."""

    factor_interval: int = parameter(1, "steps", "kfac-pytorch default factor_update_steps=1", 1,
                                     1 << 20, integer=True)
    inverse_interval: int = parameter(10, "steps", "assumed; K-FAC implementations refresh "
                                      "inverses every 10-100 steps", 1, 1 << 20, integer=True)
    digital_method: str = "eigen"   # "eigen" (kfac-pytorch's default) or "inverse"
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides

    def __post_init__(self):
        validate(self)
        if self.digital_method not in ("eigen", "inverse"):
            raise CostModelError(f"digital_method must be 'eigen' or 'inverse', got "
                                 f"{self.digital_method!r}")


@dataclasses.dataclass(frozen=True)
class SolverAccuracy:
    """What the SPU is asked for: condition number of the damped factors and target error."""

    condition_number: float = parameter(100.0, "1", "assumed; K-FAC damping gamma bounds it by "
                                        "1 + lambda_max / gamma", 1.0, 1e12)
    target_error: float = parameter(0.1, "1", "assumed: relative error of the preconditioned "
                                    "gradient K-FAC tolerates (cf. the paper's 8-bit robustness)",
                                    1e-8, 0.99)
    burn_in_tau: float = parameter(8.0, "relaxation times", "our driver's burn-in "
                                   "(autorange.plan_steps: e**-8 ~ 3e-4 of the start remains)",
                                   0.0, 1e6)
    noise_to_signal: float = parameter(0.1, "1", "assumed: solves run cold, per-sample noise 10 % "
                                       "of the solution, so eps = 0.1 needs one effective sample "
                                       "(our driver runs hot: ~1)", 0.0, 1e6)
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides

    def __post_init__(self):
        validate(self)
