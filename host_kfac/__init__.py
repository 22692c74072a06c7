"""K-FAC in PyTorch with digital and thermodynamic (SPU) solvers, and the training experiments.

- :class:`KFACPreconditioner`: call between ``loss.backward()`` and any base optimizer's
  ``step()``; :class:`KFAC`: the same as a ``torch.optim.Optimizer`` (SGD with momentum).
- Solvers: :class:`DigitalSolver` (Cholesky / eigendecomposition on the host) and the SPU's
  :class:`ThermodynamicInverseSolver` (Method 1) and :class:`ThermodynamicLinsolveSolver`
  (Method 2), on the shared base :class:`ThermodynamicSolver`; :func:`thermodynamic_solver`
  picks one by name (``"inverse"`` or ``"linsolve"``).
- ``thermospu train`` / ``thermospu compare``: :mod:`.train`, :mod:`.compare`.

See ``docs/kfac.md``.
"""

import importlib

__all__ = ["KFAC", "KFACPreconditioner", "Solver", "DigitalSolver", "ThermodynamicSolver",
           "ThermodynamicInverseSolver", "ThermodynamicLinsolveSolver", "thermodynamic_solver"]

# Imported on first use: the CLI (.cli) imports sub-modules of this package
# to build its parser, and `thermospu --help` must not pay for importing torch.
_HOMES = {"KFAC": ".optimizer", "KFACPreconditioner": ".preconditioner",
          **{name: ".solvers" for name in __all__[2:]}}


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
