"""Package discovery for the one ``thermospu`` namespace (metadata lives in pyproject.toml).

The source tree keeps the design card's top-level folders; each installs as ``thermospu.<folder>``
with all its sub-packages, found here rather than listed by hand, so a new sub-package cannot be
missing from the wheel.
"""

from setuptools import find_packages, setup

#: Source folder -> installed package (the only top-level names under ``thermospu``).
ROOTS = ("rtl", "driver", "host_kfac", "boards")

setup(
    package_dir={f"thermospu.{root}": root for root in ROOTS},
    packages=[f"thermospu.{name}"
              for name in find_packages(include=[f"{root}" for root in ROOTS]
                                        + [f"{root}.*" for root in ROOTS])],
)
