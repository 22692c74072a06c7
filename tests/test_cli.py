"""The command line refuses every bad value up front, in one usage line with exit status 2, and
reports errors of the device or driver in one line with exit status 1 -- never a traceback."""

from __future__ import annotations

import pytest

from thermospu.host_kfac.cli import main

#: Each probe: arguments, and a phrase the one-line message must hold.
BAD_ARGUMENTS = [
    ("train --steps -5", "--steps"),
    ("train --steps 0", "--steps"),
    ("train --epochs 0", "--epochs"),
    ("train --batch-size 0", "--batch-size"),
    ("train --lr -1", "--lr"),
    ("train --lr nan", "--lr"),
    ("train --in-bits 0", "a_bits"),
    ("train --out-bits 40", "out_bits"),
    ("train --samples 0", "--samples"),
    ("train --samples 1", "--samples"),
    ("train --threads 0", "--threads"),
    ("train --seed -1", "--seed"),
    ("train --seed 1.5", "--seed"),
    ("train --factor-decay 1", "--factor-decay"),
    ("train --device garbage --solver spu", "unknown device"),
    ("train --device model", "--solver spu"),
    ("train --solver spu --optimizer adam", "--solver spu"),
    ("train --hidden 0", "--hidden"),
    ("train --hidden", "--hidden"),
    ("train --channels 0 --model cnn", "--channels"),
    ("train --channels 4", "--model cnn"),
    ("train --model cnn --channels 4 4 4 4", "leave no output"),
    ("train --activation sine", "--activation"),
    ("train --nproc 0", "--nproc"),
    ("train --nproc 2 --batch-size 33", "split evenly"),
    ("demo --size -3", "--size"),
    ("demo --samples 100.7", "--samples"),
    ("demo --device garbage", "unknown device"),
    ("compare --seeds 0", "--seeds"),
    ("compare --bits 1", "a_bits"),
    ("compare --hidden -1", "--hidden"),
    ("compare --channels 8", "--model cnn"),
    ("compare --batch-size 0", "--batch-size"),
    ("compare --device garbage", "unknown device"),
    ("sim-server --port 70000", "--port"),
    ("sim-server --port -1", "--port"),
]


@pytest.mark.parametrize("argv,phrase", BAD_ARGUMENTS, ids=[a for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_end_in_one_usage_line(argv, phrase, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv.split())
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"thermospu {argv.split()[0]}: error:") and phrase in last, err


def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as stop:
        main(["train", "--out", str(blocker / "sub")])
    assert stop.value.code == 2
    assert "cannot write" in capsys.readouterr().err


def test_a_device_error_is_one_line_and_exit_1(capsys):
    code = main(["demo", "--device", "serial:/dev/thermospu-no-such-port", "--no-training"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("thermospu demo: TransportError: ")


def test_debug_shows_the_traceback():
    from thermospu.driver.errors import TransportError

    with pytest.raises(TransportError):
        main(["--debug", "demo", "--device", "serial:/dev/thermospu-no-such-port",
              "--no-training"])


def test_nproc_refuses_checkpoints_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--nproc", "2", "--checkpoint", str(tmp_path)])
    assert stop.value.code == 2
    assert "one-process runs only" in capsys.readouterr().err.strip().splitlines()[-1]
