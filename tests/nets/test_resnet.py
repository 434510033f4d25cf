"""SNGAN ResNet nets: shapes, spectral norm, errors, the gradient penalty, a few WGAN-GP iterations."""

import pytest
import torch
from lightning.pytorch import LightningDataModule, Trainer
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader

import ganbench.nets.resnet  # noqa: F401  (registers "resnet" until ganbench.nets imports it)
from ganbench.module import GAN
from ganbench.nets import build_nets
from ganbench.objectives import gradient_penalty

SMALL = {"generator_width": 32, "discriminator_width": 32}


def weight_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(channels):
    torch.manual_seed(0)
    generator, discriminator = build_nets("resnet", (channels, 32, 32), latent_dim=100)  # default widths
    x = generator(torch.randn(2, 100))
    assert x.shape == (2, channels, 32, 32)
    assert x.min() >= -1 and x.max() <= 1
    assert discriminator(x).shape == (2,)
    generator.eval()
    assert generator(torch.randn(1, 100)).shape == (1, channels, 32, 32)


def test_spectral_norm_is_on_by_default_and_normalizes():
    torch.manual_seed(0)
    _, discriminator = build_nets("resnet", (3, 32, 32), latent_dim=16, **SMALL)
    layers = weight_layers(discriminator)
    # 2 convs per block, 2 learnable shortcuts (the down-sampling blocks) and the final linear.
    assert len(layers) == 4 * 2 + 2 + 1
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    discriminator.train()
    for _ in range(5):  # each train-mode forward runs a power iteration
        discriminator(torch.rand(2, 3, 32, 32) * 2 - 1)
    with torch.no_grad():
        for layer in layers:
            sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
            assert sigma == pytest.approx(1.0, abs=0.1)


def test_spectral_norm_can_be_turned_off():
    _, discriminator = build_nets("resnet", (3, 32, 32), latent_dim=16, spectral_norm=False, **SMALL)
    assert not any(parametrize.is_parametrized(m) for m in discriminator.modules())


@pytest.mark.parametrize("shape", [(3, 64, 64), (3, 28, 28), (3, 32, 16), (32, 32)])
def test_unsupported_shape_is_a_one_line_error(shape):
    with pytest.raises(ValueError) as info:
        build_nets("resnet", shape, latent_dim=16)
    message = str(info.value)
    assert message.startswith("model.net: resnet supports 32 px square images (C, 32, 32)")
    assert str(tuple(shape)) in message and "\n" not in message


def test_unknown_option_is_an_error():
    with pytest.raises(ValueError, match="model.net_options: resnet has no option discriminator_batchnorm"):
        build_nets("resnet", (3, 32, 32), latent_dim=16, discriminator_batchnorm=True)


def test_gradient_penalty_backpropagates_through_discriminator():
    torch.manual_seed(0)
    generator, discriminator = build_nets("resnet", (3, 32, 32), latent_dim=16, **SMALL)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    fake = generator(torch.randn(4, 16))
    penalty = gradient_penalty(discriminator, real, fake)
    penalty.backward()  # double backward: the penalty is a function of D's input gradient
    assert torch.isfinite(penalty)
    # Every weight gets a finite gradient; biases may get none (the input gradient ignores the last one).
    weights = [p for name, p in discriminator.named_parameters() if not name.endswith("bias")]
    assert weights and all(w.grad is not None and torch.isfinite(w.grad).all() for w in weights)
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


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_wgan_gp_trains_a_few_steps(tmp_path):
    torch.manual_seed(0)
    model = GAN(
        objective="wasserstein_gp", net="resnet", sample_shape=(3, 32, 32), latent_dim=32, net_options=SMALL
    )
    assert model.n_critic == 5
    before = [p.detach().clone() for p in model.generator.parameters()]
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        max_steps=2,
        max_epochs=-1,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, RandomImages((3, 32, 32), batch_size=5 * 8, batches=2))
    assert trainer.global_step == 2
    assert model.diverged_at is None
    after = list(model.generator.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert model.generate(3, seed=0).shape == (3, 3, 32, 32)
