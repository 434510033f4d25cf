"""DCGAN nets: shapes for every supported image, spectral norm, errors, the gradient penalty, training."""

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader

import ganbench.nets.dcgan  # noqa: F401  (registers "dcgan" until ganbench.nets imports it)
from ganbench.module import GAN
from ganbench.nets import build_nets
from ganbench.objectives import gradient_penalty

SMALL = {"generator_width": 8, "discriminator_width": 8}


def weight_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32, 64])
def test_shapes(channels, size):
    torch.manual_seed(0)
    generator, discriminator = build_nets("dcgan", (channels, size, size), latent_dim=100)
    x = generator(torch.randn(4, 100))
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert discriminator(x).shape == (4,)
    generator.eval()  # evaluation runs G in eval mode (BatchNorm running statistics), even on one sample
    assert generator(torch.randn(1, 100)).shape == (1, channels, size, size)


def test_default_discriminator_has_no_batchnorm_or_spectral_norm():
    _, discriminator = build_nets("dcgan", (3, 32, 32), latent_dim=16, **SMALL)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    assert not any(parametrize.is_parametrized(m) for m in discriminator.modules())


def test_discriminator_batchnorm_option():
    _, discriminator = build_nets("dcgan", (3, 64, 64), latent_dim=16, discriminator_batchnorm=True, **SMALL)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 3  # not on the input layer
    assert discriminator(torch.rand(2, 3, 64, 64)).shape == (2,)


@pytest.mark.parametrize("size", [28, 64])
def test_spectral_norm_is_applied(size):
    torch.manual_seed(0)
    _, discriminator = build_nets("dcgan", (3, size, size), latent_dim=16, spectral_norm=True, **SMALL)
    layers = weight_layers(discriminator)
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    discriminator.train()
    for _ in range(5):  # each train-mode forward runs a power iteration
        discriminator(torch.rand(2, 3, size, size) * 2 - 1)
    with torch.no_grad():
        for layer in layers:
            sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
            assert sigma == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("shape", [(3, 48, 48), (3, 32, 28), (2, 32, 32), (32, 32), (2,)])
def test_unsupported_shape_is_a_one_line_error(shape):
    with pytest.raises(ValueError) as info:
        build_nets("dcgan", shape, latent_dim=16)
    message = str(info.value)
    assert message.startswith("model.net: dcgan supports 28, 32 or 64 px square images with 1 or 3 channels")
    assert str(tuple(shape)) in message and "\n" not in message


def test_unknown_option_is_an_error():
    with pytest.raises(ValueError, match="model.net_options: dcgan has no option ngf"):
        build_nets("dcgan", (1, 28, 28), latent_dim=16, ngf=32)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_gradient_penalty_backpropagates_through_discriminator(spectral_norm):
    torch.manual_seed(0)
    generator, discriminator = build_nets(
        "dcgan", (3, 32, 32), latent_dim=16, spectral_norm=spectral_norm, **SMALL
    )
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    fake = generator(torch.randn(4, 16))
    penalty = gradient_penalty(discriminator, real, fake)
    penalty.backward()  # double backward: the penalty is a function of D's input gradient
    assert torch.isfinite(penalty)
    # Every weight gets a finite gradient; biases may get none (D's input gradient is independent of
    # its last bias, and of the others up to LeakyReLU's piecewise-constant slope).
    weights = [p for name, p in discriminator.named_parameters() if not name.endswith("bias")]
    assert weights and all(w.grad is not None and torch.isfinite(w.grad).all() for w in weights)
    assert all(w.grad.abs().sum() > 0 for w in weights)
    assert all(torch.isfinite(p.grad).all() for p in discriminator.parameters() if p.grad is not None)


class RandomImages(LightningDataModule):
    """Uniform noise in [-1, 1]; each batch holds the n_critic chunks of one GAN iteration."""

    def __init__(self, shape: tuple[int, ...], batch_size: int, batches: int) -> None:
        super().__init__()
        self.images = torch.rand(batch_size * batches, *shape) * 2 - 1
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        # Over the tensor itself, so that batches are tensors (a TensorDataset would yield lists).
        return DataLoader(self.images, batch_size=self.batch_size, shuffle=True)


def fit(model: GAN, data: LightningDataModule, max_steps: int, tmp_path) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        max_steps=max_steps,
        max_epochs=-1,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, data)
    return trainer


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_gan_trains_a_few_steps_at_28px(tmp_path):
    torch.manual_seed(0)
    widths = {"generator_width": 16, "discriminator_width": 16}
    model = GAN(net="dcgan", sample_shape=(1, 28, 28), latent_dim=64, net_options=widths)
    before = [p.detach().clone() for p in model.generator.parameters()]
    trainer = fit(model, RandomImages((1, 28, 28), batch_size=8, batches=2), max_steps=3, tmp_path=tmp_path)
    assert trainer.global_step == 3
    assert model.diverged_at is None
    after = list(model.generator.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert model.generate(3, seed=0).shape == (3, 1, 28, 28)
