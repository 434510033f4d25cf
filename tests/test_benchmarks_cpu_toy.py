"""benchmarks/cpu_toy.py: its plain PyTorch loop trains exactly what ganbench trains."""

import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from ganbench.data import GANDataModule
from ganbench.module import GAN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import cpu_toy  # noqa: E402


class Reseed(Callback):
    """The DataLoader iterator draws from the global RNG: start G's noise where the plain loop does."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if batch_idx == 0:
            torch.manual_seed(cpu_toy.SEED)


def test_plain_loop_is_ganbench_iteration(tmp_path):
    steps = 3
    iteration, plain_generator = cpu_toy.plain_iteration_factory()
    initial = {name: value.detach().clone() for name, value in plain_generator.named_parameters()}
    torch.manual_seed(cpu_toy.SEED)
    for i in range(steps):
        iteration(i)

    seed_everything(cpu_toy.SEED)
    module = GAN(
        objective="nonsaturating",
        net_options={"hidden": cpu_toy.HIDDEN, "generator_layers": 2, "discriminator_layers": 2},
        latent_dim=cpu_toy.LATENT_DIM,
        lr_generator=cpu_toy.LR,
        lr_discriminator=cpu_toy.LR,
        betas=cpu_toy.BETAS,
    )
    data = GANDataModule(
        dataset="ring",
        dataset_options={
            "num_modes": cpu_toy.RING_MODES,
            "radius": cpu_toy.RING_RADIUS,
            "sigma": cpu_toy.RING_SIGMA,
        },
        batch_size=cpu_toy.BATCH,
        seed=cpu_toy.SEED,
    )
    trainer = Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
        default_root_dir=tmp_path, callbacks=[Reseed()],
    )  # fmt: skip
    trainer.fit(module, data)
    trained = dict(plain_generator.named_parameters())
    assert any(not torch.equal(value, initial[name]) for name, value in trained.items())  # it trained
    for name, value in module.generator.named_parameters():
        torch.testing.assert_close(value, trained[name], rtol=0, atol=0)


def test_fit_rows_run_the_iterations_per_step_they_are_labelled_with(tmp_path):
    """fit's default (auto) groups AUTO_PER_STEP iterations in these runs; ONE_PER_STEP groups none."""
    from ganbench.cli import lightning_main

    for extra, per_step in (([], cpu_toy.AUTO_PER_STEP), ([cpu_toy.ONE_PER_STEP], 1)):
        args = cpu_toy.fit_args(2000, tmp_path / f"run{per_step}", extra)[1:]  # no subcommand word
        cli = lightning_main(args, run=False)
        assert cli.model.hparams.iterations_per_step == per_step
        assert cli.datamodule.iterations_per_batch == per_step


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sizes", "64"], "--ensemble-iterations: one count per --sizes entry; got 2 for 1 sizes (64)"),
        (["--sizes", "64,x"], "--sizes and --ensemble-iterations: comma lists of integers"),
        (["--sizes", "0", "--ensemble-iterations", "4"], "every entry must be >= 1"),
        (["--skip", "dcgan,ensembles"], "--skip: unknown ensembles; valid choices: compiled, "),
        (["--fit-steps", "15"], "--fit-steps and --fit-warmup: must be multiples of"),
    ],
)
def test_bad_arguments_are_one_line_errors_before_any_timing(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        cpu_toy.parse_args(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error: " in error and message in error


def test_default_and_matching_arguments_parse():
    args = cpu_toy.parse_args(["--sizes", "64", "--ensemble-iterations", "40", "--skip", "dcgan,one_stack"])
    assert (args.sizes, args.ensemble_iterations, args.skip) == ("64", "40", "dcgan,one_stack")
    assert cpu_toy.parse_args([]).sizes == "64,256"
