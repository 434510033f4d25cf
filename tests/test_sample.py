"""``sample``: samples from toy and image checkpoints (fit's and an ensemble member's final.ckpt)."""

import json

import lightning
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganbench.cli import main
from ganbench.module import GAN


def save_checkpoint(module, run_dir, name="final.ckpt", data=None):
    """A weights-only checkpoint as ``ensemble`` writes it (checkpoints/final.ckpt), with a config."""
    checkpoint = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": lightning.__version__,
        "global_step": 7,
        "epoch": 0,
    }
    module.on_save_checkpoint(checkpoint)
    path = run_dir / "checkpoints" / name
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    if data is not None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump({"data": data}))
    return path


def test_toy_checkpoint_gives_the_ema_generators_samples_with_modes(tmp_path):
    torch.manual_seed(0)
    module = GAN(net="mlp", sample_shape=(2,), ema_decay=0.9)
    with torch.no_grad():  # EMA weights that differ from G's: the samples must be the EMA's
        for p in module.generator_ema.module.parameters():
            p.add_(0.1)
    ckpt = save_checkpoint(
        module, tmp_path / "run", data={"dataset": "ring", "dataset_options": {"radius": 2.0}}
    )
    out = tmp_path / "out"
    assert main(["sample", "--ckpt_path", str(ckpt), "--num_samples", "300", "--out", str(out)]) == 0
    arrays = np.load(out / "samples.npz")
    expected = module.evaluation_generator()(module.sample_noise(300, torch.Generator().manual_seed(0)))
    assert arrays["samples"].shape == (300, 2)
    np.testing.assert_allclose(arrays["samples"], expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(arrays["samples"], module.generator(module.sample_noise(300)).detach().numpy())
    np.testing.assert_allclose(np.linalg.norm(arrays["means"], axis=1), 2.0, rtol=1e-6)  # the run's ring
    assert float(arrays["sigma"]) == pytest.approx(0.01)
    np.testing.assert_array_equal(np.load(out / "samples.npy"), arrays["samples"])
    assert Image.open(out / "samples.png").size[0] > 100
    assert (out / "samples.pdf").read_bytes().startswith(b"%PDF")


def test_image_checkpoint_gives_a_png_grid(tmp_path):
    module = GAN(net="dcgan", sample_shape=(1, 28, 28), latent_dim=16)
    ckpt = save_checkpoint(module, tmp_path / "run", name="last.ckpt")
    out = tmp_path / "out"
    assert main(["sample", "--ckpt_path", str(ckpt), "--num_samples", "16", "--out", str(out)]) == 0
    assert np.load(out / "samples.npz")["samples"].shape == (16, 1, 28, 28)
    width, height = Image.open(out / "samples.png").size
    assert width == height == 4 * 28 + 5  # a 4 x 4 grid with 1 px padding


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["sample", "--ckpt_path", str(tmp_path / "no.ckpt"), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    (tmp_path / "x.ckpt").write_text(json.dumps({"not": "a checkpoint"}))
    assert main(["sample", "--ckpt_path", str(tmp_path / "x.ckpt"), "--out", str(tmp_path / "o")]) == 2
    assert "ckpt_path" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--ckpt_path", "x", "--out", str(tmp_path), "--num_samples", "0"])
    assert exit_info.value.code == 2
