"""Bad input to the driver's API gets a typed error (or a documented conversion), never a
silent wrong answer: complex values, autograd tensors, non-integer counts, bad seeds, too few
samples for an inverse, a LoadedMatrix of another device, an interrupted job."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import thermospu.driver as spu
from thermospu.driver.errors import ConfigError, InvalidInputError

A = np.array([[2.0, 0.3, 0.0], [0.3, 1.5, 0.2], [0.0, 0.2, 1.0]])
B = np.array([1.0, -0.5, 0.25])


@pytest.fixture(scope="module")
def dev():
    return spu.open("model", n=4, a_bits=12, out_bits=12, samples=400)


@pytest.mark.parametrize("what", ["A", "b"])
def test_complex_input_is_refused(dev, what):
    a, b = (A + 0j, B) if what == "A" else (A, B + 1j)
    with pytest.raises(InvalidInputError, match="complex"):
        dev.solve(a, b, seed=1)


def test_non_numeric_input_is_refused(dev):
    with pytest.raises(InvalidInputError):
        dev.solve([["a", "b"], ["c", "d"]], [1, 2], seed=1)


def test_an_autograd_tensor_is_detached(dev):
    a = torch.tensor(A, requires_grad=True)
    b = torch.tensor(B, requires_grad=True)
    np.testing.assert_array_equal(dev.solve(a, b, seed=3), dev.solve(A, B, seed=3))


@pytest.mark.parametrize("seed", [-1, 1.5, "abc", True, 2**64])
def test_bad_seeds_are_refused(dev, seed):
    with pytest.raises(InvalidInputError, match="seed"):
        dev.solve(A, B, seed=seed)


@pytest.mark.parametrize("samples", [100.7, 100.0, True, "100"])
def test_non_integer_sample_counts_are_refused(dev, samples):
    with pytest.raises(InvalidInputError, match="samples"):
        dev.solve(A, B, samples=samples, seed=1)


@pytest.mark.parametrize("option", [{"n": 8.9}, {"n": True}, {"retries": 1.5}])
def test_non_integer_device_options_are_refused(option):
    with pytest.raises(ConfigError, match="not an integer|not a valid retry count"):
        spu.open("model", **option)


def test_an_inverse_needs_more_samples_than_dimensions(dev):
    with pytest.raises(InvalidInputError, match="singular"):
        dev.inv(A, samples=3, seed=1)
    with pytest.warns(RuntimeWarning, match="mostly noise"):
        dev.inv(A, samples=20, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        dev.inv(A, samples=30, seed=1)


def test_a_loaded_matrix_serves_only_its_device(dev):
    loaded = dev.load(A)
    other = spu.open("model", n=4, a_bits=8, out_bits=12)
    with pytest.raises(InvalidInputError, match="another device configuration"):
        other.solve(loaded, B, seed=1)


def test_an_interrupted_job_is_aborted_on_the_device(dev, monkeypatch):
    backend, resets = dev.backend, []

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(backend, "run_jobs", interrupted)
    monkeypatch.setattr(backend, "reset", lambda: resets.append(1))
    with pytest.raises(KeyboardInterrupt):
        dev.solve(A, B, seed=1)
    assert resets == [1]


def test_a_busy_device_error_names_reset():
    from thermospu.driver.errors import DeviceBusyError

    assert "reset()" in str(DeviceBusyError("the device is running a job", command="RUN"))
