"""SNGAN ResNet generator and discriminator for 32 px images (Miyato et al., 2018, appendix: the
CIFAR-10 ResNet, itself after Gulrajani et al., 2017).

G: linear to a 4x4 map, three up-sampling residual blocks (4 -> 8 -> 16 -> 32), BN, ReLU, 3x3 conv, Tanh.
D: an "optimized" first block and three residual blocks (32 -> 16 -> 8 -> 8 -> 8), ReLU, global sum
pooling, linear; every D layer spectrally normalized by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganbench.nets.registry import NETS, NetPair

SIZE = 32
START = 4  # G's first feature map is START x START

Wrap = Callable[[nn.Module], nn.Module]


def check_sample_shape(sample_shape: tuple[int, ...]) -> int:
    """The channels of a supported (C, 32, 32); otherwise a one-line ValueError."""
    shape = tuple(sample_shape)
    if len(shape) != 3 or shape[0] < 1 or shape[1:] != (SIZE, SIZE):
        raise ValueError(
            f"model.net: resnet supports 32 px square images (C, 32, 32), got data sample shape {shape}"
        )
    return shape[0]


def _layer(layer: nn.Conv2d | nn.Linear, gain: float, wrap: Wrap) -> nn.Module:
    # Xavier-uniform init as in the SNGAN code (gain sqrt(2) in the residual branches, 1 elsewhere),
    # applied before spectral_norm so that its power iteration starts from the final weight.
    nn.init.xavier_uniform_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return wrap(layer)


def _identity(module: nn.Module) -> nn.Module:
    return module


class GeneratorBlock(nn.Module):
    """BN, ReLU, 2x nearest up-sampling, conv3x3, BN, ReLU, conv3x3; shortcut: up-sampling, conv1x1."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(width), nn.BatchNorm2d(width)
        self.conv1 = _layer(nn.Conv2d(width, width, 3, padding=1), math.sqrt(2), _identity)
        self.conv2 = _layer(nn.Conv2d(width, width, 3, padding=1), math.sqrt(2), _identity)
        self.shortcut = _layer(nn.Conv2d(width, width, 1), 1.0, _identity)

    def forward(self, x: Tensor) -> Tensor:  # (B, W, H, H) -> (B, W, 2H, 2H)
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DiscriminatorBlock(nn.Module):
    """ReLU, conv3x3, ReLU, conv3x3 [, 2x2 average pooling]; shortcut: [conv1x1, average pooling].

    ``first`` is the "optimized" block on the image: no ReLU before the first conv (the input is
    pixels, not features), and the shortcut pools before its conv1x1, which is cheaper.
    """

    def __init__(self, in_width: int, width: int, downsample: bool, first: bool, wrap: Wrap) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = _layer(nn.Conv2d(in_width, width, 3, padding=1), math.sqrt(2), wrap)
        self.conv2 = _layer(nn.Conv2d(width, width, 3, padding=1), math.sqrt(2), wrap)
        # Identity shortcut when the block keeps both width and resolution.
        learnable = downsample or in_width != width
        self.shortcut = _layer(nn.Conv2d(in_width, width, 1), 1.0, wrap) if learnable else None

    def forward(self, x: Tensor) -> Tensor:  # (B, W_in, H, H) -> (B, W, H/2, H/2) or (B, W, H, H)
        # Not in-place: x is reused by the shortcut, and the gradient penalty backpropagates twice.
        h = self.conv1(x if self.first else F.relu(x))
        h = self.conv2(F.relu(h))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.shortcut is None:
            return h + x
        if self.first:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        s = self.shortcut(x)
        return h + (F.avg_pool2d(s, 2) if self.downsample else s)


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.project = _layer(nn.Linear(latent_dim, START * START * width), 1.0, _identity)
        self.blocks = nn.Sequential(*(GeneratorBlock(width) for _ in range(3)))  # 4 -> 8 -> 16 -> 32
        self.bn = nn.BatchNorm2d(width)
        self.out = _layer(nn.Conv2d(width, channels, 3, padding=1), 1.0, _identity)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).view(z.shape[0], self.width, START, START)  # (B, W, 4, 4)
        h = self.blocks(h)  # (B, W, 32, 32)
        return torch.tanh(self.out(F.relu(self.bn(h))))  # (B, C, 32, 32) in [-1, 1]


class ResNetDiscriminator(nn.Module):
    def __init__(self, channels: int, width: int, spectral_norm: bool) -> None:
        super().__init__()
        wrap = _spectral_norm if spectral_norm else _identity
        self.blocks = nn.Sequential(
            DiscriminatorBlock(channels, width, downsample=True, first=True, wrap=wrap),  # 32 -> 16
            DiscriminatorBlock(width, width, downsample=True, first=False, wrap=wrap),  # 16 -> 8
            DiscriminatorBlock(width, width, downsample=False, first=False, wrap=wrap),  # 8
            DiscriminatorBlock(width, width, downsample=False, first=False, wrap=wrap),  # 8
        )
        self.out = _layer(nn.Linear(width, 1), 1.0, wrap)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling: (B, W, 8, 8) -> (B, W)
        return self.out(h).squeeze(1)  # (B,)


@NETS.register("resnet")
def resnet(
    sample_shape: tuple[int, ...],
    latent_dim: int,
    generator_width: int = 256,
    discriminator_width: int = 128,
    spectral_norm: bool = True,
) -> NetPair:
    """SNGAN ResNet pair for (C, 32, 32); widths are the channels of every G / D block (256 / 128)."""
    channels = check_sample_shape(sample_shape)
    for name, value in (("generator_width", generator_width), ("discriminator_width", discriminator_width)):
        if value < 1:
            raise ValueError(f"model.net_options: resnet {name} must be >= 1, got {value}")
    return NetPair(
        ResNetGenerator(latent_dim, channels, generator_width),
        ResNetDiscriminator(channels, discriminator_width, spectral_norm),
    )
