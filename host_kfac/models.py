"""Small models for the K-FAC experiments: every weight layer is one K-FAC handles.

:func:`build_model` builds an MLP (``Linear`` layers of the given hidden widths) or a CNN (valid
convolutions of the given channel counts: ``Conv2d`` 3x3 on images such as digits' 8x8,
``Conv1d`` with kernel 5 and stride 2 on sequences such as MNIST-1D's 40 samples; then optional
hidden ``Linear`` layers and the classifier), with one activation between layers.
"""

from __future__ import annotations

from torch import nn

__all__ = ["build_model", "MODELS", "ACTIVATIONS", "DEFAULT_HIDDEN", "DEFAULT_CHANNELS"]

MODELS = ("mlp", "cnn")
#: Activation between layers, by name.
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}
#: Hidden widths of each model when none are given (the CNN: none, convolutions then classifier).
DEFAULT_HIDDEN = {"mlp": (32,), "cnn": ()}
#: Channel counts of the CNN's convolutions when none are given.
DEFAULT_CHANNELS = (8, 8)


def _linear_stack(features: int, hidden, classes: int, activation: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(features, width), ACTIVATIONS[activation]()]
        features = width
    return layers + [nn.Linear(features, classes)]


def mlp(features: int, classes: int, hidden=(32,), activation: str = "tanh") -> nn.Sequential:
    """features -> hidden[0] -> ... -> classes, ``activation`` after every hidden layer. For
    digits with the defaults (64-32-10 tanh) the K-FAC factors are A 65x65, G 32x32 and A 33x33,
    G 10x10."""
    return nn.Sequential(*_linear_stack(features, hidden, classes, activation))


def cnn(image_shape: tuple[int, int, int], classes: int, channels=DEFAULT_CHANNELS, hidden=(),
        activation: str = "tanh") -> nn.Sequential:
    """Valid convolutions with ``channels`` output channels each, then ``hidden`` Linear widths
    and the classifier. Images (height > 1): ``Conv2d`` 3x3, stride 1; sequences (height 1):
    ``Conv1d`` kernel 5, stride 2. Factors for digits with the defaults: A 10x10, G 8x8;
    A 73x73, G 8x8; A 129x129, G 10x10 (the classifier reads 8 channels x 4 x 4).

    Raises ``ValueError`` when the convolutions leave no output (too many for the input)."""
    c, h, w = image_shape
    image = h > 1
    layers: list[nn.Module] = [nn.Unflatten(1, image_shape if image else (c, w))]
    size = [h, w] if image else [w]
    for out_channels in channels:
        if image:
            layers.append(nn.Conv2d(c, out_channels, 3))
            size = [s - 2 for s in size]
        else:
            layers.append(nn.Conv1d(c, out_channels, 5, stride=2))
            size = [(s - 5) // 2 + 1 for s in size]
        if min(size) < 1:
            raise ValueError(f"{len(channels)} convolutions leave no output on inputs of shape "
                             f"{tuple(image_shape)}; use fewer channel counts")
        layers.append(ACTIVATIONS[activation]())
        c = out_channels
    flat = c
    for s in size:
        flat *= s
    return nn.Sequential(*layers, nn.Flatten(), *_linear_stack(flat, hidden, classes, activation))


def build_model(name: str, features: int, classes: int, image_shape, *, hidden=None,
                channels=None, activation: str = "tanh") -> nn.Sequential:
    """``"mlp"`` or ``"cnn"`` for a data set with ``features`` inputs viewed as ``image_shape``
    (channels, height, width). ``hidden`` (Linear widths) and ``channels`` (the CNN's convolution
    channels) default to :data:`DEFAULT_HIDDEN` and :data:`DEFAULT_CHANNELS`; ``activation`` is a
    key of :data:`ACTIVATIONS`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    hidden = DEFAULT_HIDDEN[name] if hidden is None else tuple(hidden)
    if any(width < 1 for width in hidden):
        raise ValueError(f"hidden widths must be at least 1, got {hidden}")
    if name == "mlp":
        if channels:
            raise ValueError("channels are the CNN's convolutions; the MLP has none")
        return mlp(features, classes, hidden, activation)
    channels = DEFAULT_CHANNELS if channels is None else tuple(channels)
    if not channels or any(count < 1 for count in channels):
        raise ValueError(f"the CNN needs at least one convolution of at least 1 channel, got "
                         f"{channels}")
    return cnn(tuple(image_shape), classes, channels, hidden, activation)
