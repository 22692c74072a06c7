"""Small models for the K-FAC experiments: every weight layer is one K-FAC handles."""

from __future__ import annotations

from torch import nn

__all__ = ["build_model", "MODELS"]

MODELS = ("mlp", "cnn")


def mlp(features: int, classes: int, hidden: int = 32) -> nn.Sequential:
    """features -> hidden -> classes with tanh. For digits (64-32-10) the K-FAC factors are
    A 65x65, G 32x32 and A 33x33, G 10x10."""
    return nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, classes))


def cnn(image_shape: tuple[int, int, int], classes: int, channels: int = 8) -> nn.Sequential:
    """Two 3x3 convolutions (valid padding; 1-wide kernels along a height of 1, for sequences)
    with tanh, then a linear classifier. Factors for digits: A 10x10, G 8x8; A 73x73, G 8x8;
    A 129x129, G 10x10 (the classifier reads 8 channels x 4 x 4)."""
    c, h, w = image_shape
    kernel = (3, 3) if h > 1 else (1, 5)
    stride = 1 if h > 1 else (1, 2)
    conv1 = nn.Conv2d(c, channels, kernel, stride=stride)
    conv2 = nn.Conv2d(channels, channels, kernel, stride=stride)
    out_h = h if h == 1 else h - 4
    out_w = w - 4 if h > 1 else ((w - 5) // 2 + 1 - 5) // 2 + 1
    return nn.Sequential(nn.Unflatten(1, image_shape), conv1, nn.Tanh(), conv2, nn.Tanh(),
                         nn.Flatten(), nn.Linear(channels * out_h * out_w, classes))


def build_model(name: str, features: int, classes: int, image_shape) -> nn.Sequential:
    """``"mlp"`` or ``"cnn"`` for a data set with ``features`` inputs viewed as ``image_shape``."""
    if name == "mlp":
        return mlp(features, classes)
    if name == "cnn":
        return cnn(tuple(image_shape), classes)
    raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
