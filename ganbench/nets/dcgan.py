"""DCGAN generator and discriminator (Radford et al., 2016, "Unsupervised representation learning
with deep convolutional generative adversarial networks") for 28, 32 and 64 px images.

G projects z to a 4x4 feature map (7x7 for 28 px, the usual MNIST DCGAN) and doubles the resolution
with stride-2 transposed convolutions + BatchNorm + ReLU, halving the width each time, up to a Tanh
output. D mirrors it with stride-2 convolutions + LeakyReLU(0.2) and ends in one logit per sample.
Optional spectral normalization of D (Miyato et al., 2018).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ganbench.nets.registry import NETS, NetPair

SIZES = (28, 32, 64)
CHANNELS = (1, 3)


def _start_size(size: int) -> int:
    return 7 if size == 28 else 4  # 28 = 7 * 2^2; 32 and 64 = 4 * 2^k


def _upsamplings(size: int) -> int:
    """Number of stride-2 stages between the start map and the image: 2, 3 or 4."""
    return (size // _start_size(size)).bit_length() - 1


def check_sample_shape(sample_shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, size) of a supported (C, H, W); otherwise a one-line ValueError."""
    shape = tuple(sample_shape)
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in SIZES or shape[0] not in CHANNELS:
        raise ValueError(
            "model.net: dcgan supports 28, 32 or 64 px square images with 1 or 3 channels, "
            f"got data sample shape {shape}"
        )
    return shape[0], shape[1]


def init_weights(module: nn.Module) -> None:
    """Weights ~ N(0, 0.02) (Radford et al., 2016, sec. 4); BatchNorm scale ~ N(1, 0.02) as in the
    PyTorch DCGAN example, so BN starts close to the identity."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, size: int, width: int) -> None:
        super().__init__()
        start, stages = _start_size(size), _upsamplings(size)
        widths = [width * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 8w, 4w, 2w, w at 64 px
        # The projection is a transposed conv with a start x start kernel on a 1x1 map: a linear layer
        # whose output is already laid out as a (widths[0], start, start) feature map.
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            # Bias-free: the BatchNorm right after would cancel it.
            layers += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]  # no BN on the output
        self.body = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z[:, :, None, None])  # (B, latent, 1, 1) -> (B, C, H, W) in [-1, 1]


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, width: int, spectral_norm: bool, batchnorm: bool) -> None:
        super().__init__()
        start, stages = _start_size(size), _upsamplings(size)
        widths = [width * 2**i for i in range(stages)]  # w, 2w, 4w, 8w at 64 px

        def conv(*args: int, bias: bool = True) -> nn.Module:
            layer = nn.Conv2d(*args, bias=bias)
            init_weights(layer)  # before spectral_norm, whose power iteration starts from this weight
            return _spectral_norm(layer) if spectral_norm else layer

        # No BatchNorm on the input layer (Radford et al., 2016, sec. 3).
        layers: list[nn.Module] = [conv(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for w_in, w_out in zip(widths[:-1], widths[1:], strict=True):
            layers.append(conv(w_in, w_out, 4, 2, 1, bias=not batchnorm))
            if batchnorm:
                bn = nn.BatchNorm2d(w_out)
                init_weights(bn)
                layers.append(bn)
            layers.append(nn.LeakyReLU(0.2))
        # A start x start conv over the whole (widths[-1], start, start) map: one logit per sample.
        layers.append(conv(widths[-1], 1, start, 1, 0))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).flatten()  # (B, C, H, W) -> (B, 1, 1, 1) -> (B,)


@NETS.register("dcgan")
def dcgan(
    sample_shape: tuple[int, ...],
    latent_dim: int,
    generator_width: int = 64,
    discriminator_width: int = 64,
    spectral_norm: bool = False,
    discriminator_batchnorm: bool = False,
) -> NetPair:
    """DCGAN pair for (C, H, W) with H = W in {28, 32, 64} and C in {1, 3}.

    ``generator_width``/``discriminator_width`` are ngf/ndf: the width of G's last and D's first
    hidden layer, doubled at each lower resolution. ``spectral_norm`` normalizes D's layers.
    ``discriminator_batchnorm`` is off by default: D sees real and fake in separate batches, so
    BatchNorm statistics would tell them apart, and it makes each logit depend on the whole batch,
    which breaks the per-sample gradient penalty of WGAN-GP (Gulrajani et al., 2017, sec. 4).
    """
    channels, size = check_sample_shape(sample_shape)
    for name, value in (("generator_width", generator_width), ("discriminator_width", discriminator_width)):
        if value < 1:
            raise ValueError(f"model.net_options: dcgan {name} must be >= 1, got {value}")
    return NetPair(
        DCGANGenerator(latent_dim, channels, size, generator_width),
        DCGANDiscriminator(channels, size, discriminator_width, spectral_norm, discriminator_batchnorm),
    )
