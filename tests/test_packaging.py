"""What a `pip install` user gets: the wheel built from this tree holds every module of rtl/,
driver/, host_kfac/ and boards/ under the one ``thermospu`` namespace, nothing else at top level,
the ``thermospu`` console script and the license. (tools/wheel_smoke.sh, run by CI, installs that
wheel into a fresh virtualenv and runs it from another folder.)"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("rtl", "driver", "host_kfac", "boards")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, cwd=out, timeout=300,
                   capture_output=True)
    (path,) = out.glob("thermospu-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_every_module(wheel):
    names = set(wheel.namelist())
    sources = [f"thermospu/{p.relative_to(ROOT).as_posix()}" for folder in SOURCE_FOLDERS
               for p in (ROOT / folder).rglob("*.py")]
    missing = sorted(s for s in sources if s not in names)
    assert not missing, f"the wheel lacks {missing}"


def test_nothing_else_at_top_level(wheel):
    packages = {name.split("/")[1] for name in wheel.namelist()
                if name.startswith("thermospu/") and name.count("/") >= 2}
    assert packages == set(SOURCE_FOLDERS)
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"thermospu"}


def test_console_script_and_license(wheel):
    dist_info = next(n.split("/")[0] for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    assert "thermospu = thermospu.host_kfac.cli:main" in entry_points
    assert any(n.startswith(f"{dist_info}/licenses/LICENSE") for n in wheel.namelist())
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
