"""Command line: LightningCLI for fit/validate/test, plus ganbench's own commands."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import lazy_instance
from lightning.pytorch.cli import LightningCLI

from ganbench.data import GANDataModule
from ganbench.evaluation.callback import Evaluation
from ganbench.module import GAN
from ganbench.objectives import build_objective
from ganbench.runs.checkpoint import RunCheckpoint
from ganbench.runs.csv_logger import RunCSVLogger
from ganbench.runs.record import RunRecord
from ganbench.runs.wandb_logger import RunLogger


def resolved_n_critic(objective: str, options: dict[str, Any] | None, n_critic: int | None) -> int:
    """The n_critic the model will use: the explicit value, else the objective's default.

    Used at parse time to size the data module's batches; a bad name falls back to 1 here and is
    reported by the model with the list of valid names.
    """
    if n_critic is not None:
        return max(int(n_critic), 1)
    try:
        return build_objective(objective, **(options or {})).default_n_critic
    except (ValueError, TypeError):
        return 1


class GanbenchCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_lightning_class_args(Evaluation, "evaluation")
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.add_lightning_class_args(RunRecord, "record")
        parser.add_argument(
            "--num_threads",
            type=int | None,
            default=None,
            help="torch intra-op CPU threads (torch.set_num_threads); null keeps PyTorch's default",
        )
        parser.link_arguments("seed_everything", "data.seed")
        parser.link_arguments(
            ("model.objective", "model.objective_options", "model.n_critic"),
            "data.batches_per_iteration",
            compute_fn=resolved_n_critic,
        )
        parser.link_arguments("data.sample_shape", "model.sample_shape", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        if trainer.max_steps is not None and trainer.max_steps < -1:
            raise ValueError(f"trainer.max_steps: must be >= 0 (or -1 for no limit), got {trainer.max_steps}")
        if config.get("num_threads") is not None:
            if config.num_threads < 1:
                raise ValueError(f"num_threads: must be >= 1 or null, got {config.num_threads}")
            torch.set_num_threads(config.num_threads)
        if trainer.strategy == "ddp":
            # A D step never touches G's parameters (and vice versa): DDP must expect unused ones.
            trainer.strategy = "ddp_find_unused_parameters_true"
        if trainer.default_root_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{config.data.dataset}-{config.model.objective}-seed{config.seed_everything}-{stamp}"
            trainer.default_root_dir = str(Path("runs") / name)

    def _resolved_config(self) -> dict[str, Any]:
        config = self.config[self.subcommand] if self.subcommand else self.config
        parser = self._parser(self.subcommand) if self.subcommand else self.parser
        return yaml.safe_load(parser.dump(config, skip_none=False, skip_check=True))

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the model's hyperparameters from the checkpoint at parse time and lets
        # them override the config; check first that the checkpoint is readable and of the same GAN.
        self._check_checkpoint()
        super()._parse_ckpt_path()

    def _check_checkpoint(self) -> None:
        """A missing, corrupt or foreign checkpoint is a one-line error before anything is written."""
        subcommand = self.config.get("subcommand")
        path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not path or path in ("last", "best", "hpc", "registry"):
            return
        if not Path(path).is_file():
            raise ValueError(f"ckpt_path: no such file: {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for a damaged file
            raise ValueError(
                f"ckpt_path: {path} is not a readable checkpoint ({type(error).__name__})"
            ) from None
        if not isinstance(checkpoint, dict) or "ganbench" not in checkpoint:
            raise ValueError(f"ckpt_path: {path} is not a ganbench checkpoint")
        model = self.config[subcommand].model
        for key in ("objective", "net"):
            if checkpoint["ganbench"].get(key) != model[key]:
                raise ValueError(
                    f"ckpt_path: checkpoint was trained with {key}={checkpoint['ganbench'].get(key)!r}, "
                    f"but model.{key}={model[key]!r}"
                )

    def _prepare_run(self) -> None:
        trainer = self.trainer
        for callback in trainer.callbacks:
            if isinstance(callback, Evaluation):
                # Before fit/validate/test write anything: a bad setting loses no earlier result.
                self.datamodule.check_evaluation(**callback.settings)
        resuming = bool(self.config_init[self.subcommand].get("ckpt_path")) if self.subcommand else False
        config = self._resolved_config()
        if trainer.loggers and not any(isinstance(lg, RunCSVLogger) for lg in trainer.loggers):
            # Beside W&B, the training scalars as CSV in the run directory (train_log/metrics.csv).
            csv_logger = RunCSVLogger()
            csv_logger.use_run_dir(trainer.default_root_dir)
            trainer.loggers = [*trainer.loggers, csv_logger]
        for logger in trainer.loggers:
            if isinstance(logger, RunLogger):
                logger.use_run_dir(trainer.default_root_dir)
                if resuming:
                    logger.resume_in(trainer.default_root_dir)
                if trainer.is_global_zero:
                    logger.log_hyperparams({"resolved_config": config})  # the whole run, not only the model
        for callback in trainer.callbacks:
            if isinstance(callback, RunRecord):
                callback.config = config

    def before_fit(self) -> None:
        self._prepare_run()

    def before_validate(self) -> None:
        self._prepare_run()

    def before_test(self) -> None:
        self._prepare_run()


TRAINER_DEFAULTS: dict[str, Any] = {
    "max_steps": 5000,
    "max_epochs": -1,
    "log_every_n_steps": 50,
    "num_sanity_val_steps": 0,
    "limit_val_batches": 0,
    "enable_model_summary": False,
    "logger": lazy_instance(RunLogger),
}


def lightning_main(args: list[str] | None = None, run: bool = True) -> GanbenchCLI:
    return GanbenchCLI(
        GAN,
        GANDataModule,
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        args=args,
        run=run,
    )


def _theory(args: list[str]) -> int:
    from ganbench.evaluation.theory import main

    return main(args)


def _inception(args: list[str]) -> int:
    from ganbench.evaluation.inception import main

    return main(args)


def _lazy(module: str) -> Callable[[list[str]], int]:
    """A command whose module (and its imports) loads only when the command runs."""

    def run(args: list[str]) -> int:
        import importlib

        return importlib.import_module(module).main(args)

    return run


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "theory": _theory,
    "inception": _inception,
    "table": _lazy("ganbench.runs.table"),
    "sweep": _lazy("ganbench.runs.sweep"),
    "plot": _lazy("ganbench.runs.plot"),
    "classifier": _lazy("ganbench.evaluation.classifier"),
    "ensemble": _lazy("ganbench.ensemble"),
}


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench COMMAND ...``: ganbench's own commands, else LightningCLI."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in COMMANDS:
        return COMMANDS[words[0]](words[1:])
    try:
        lightning_main(argv)  # None: LightningCLI reads sys.argv itself
    except ValueError as error:
        # Bad input is a one-line message naming the field, not a traceback.
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


__all__ = ["main", "RunLogger", "RunRecord", "Evaluation"]
