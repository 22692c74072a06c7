"""K-FAC in PyTorch with digital and thermodynamic (SPU) solvers, and the training experiments.

- :class:`KFACPreconditioner`: call between ``loss.backward()`` and any base optimizer's
  ``step()``; :class:`KFAC`: the same as a ``torch.optim.Optimizer`` (SGD with momentum).
- Solvers: :class:`DigitalSolver` (Cholesky / eigendecomposition on the host) and
  :class:`ThermodynamicSolver` (the SPU, Method 1 ``"inverse"`` or Method 2 ``"linsolve"``).
- ``thermospu train`` / ``thermospu compare``: :mod:`.train`, :mod:`.compare`.

See ``docs/kfac.md``.
"""

import importlib

__all__ = ["KFAC", "KFACPreconditioner", "Solver", "DigitalSolver", "ThermodynamicSolver"]

# Imported on first use: the CLI (.cli) imports sub-modules of this package
# to build its parser, and `thermospu --help` must not pay for importing torch.
_HOMES = {"KFAC": ".optimizer", "KFACPreconditioner": ".preconditioner", "Solver": ".solvers",
          "DigitalSolver": ".solvers", "ThermodynamicSolver": ".solvers"}


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
