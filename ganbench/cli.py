"""Command line: LightningCLI for fit/validate/test, plus ganbench's own commands."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError, lazy_instance
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ganbench.data import GANDataModule
from ganbench.evaluation.callback import Evaluation
from ganbench.module import GAN, valid_iterations_per_step
from ganbench.objectives import build_objective
from ganbench.runs.checkpoint import RunCheckpoint, use_atomic_checkpoints
from ganbench.runs.csv_logger import RunCSVLogger
from ganbench.runs.record import RunRecord
from ganbench.runs.run_dir import check_writable, claim_run_dir
from ganbench.runs.saved_config import RunConfig
from ganbench.runs.terminal import RunProgressBar, print_run_summary, quiet_known_noise
from ganbench.runs.wandb_logger import RunLogger

# Model settings that choose how an iteration runs, not what it computes: a resumed run takes them from
# its own command line, not from its checkpoint's hyperparameters (LightningCLI's default for the rest).
EXECUTION_SETTINGS = ("iterations_per_step", "compile", "compile_step", "compile_mode", "channels_last")
CHECKPOINT_KEYWORDS = ("last",)  # --ckpt_path=last: DIR/checkpoints/last.ckpt of this run directory


def real_chunks_per_iteration(
    objective: str, options: dict[str, Any] | None, n_critic: int | None, packing: int | None = 1
) -> int:
    """Real batches per iteration: one per D step (n_critic), each ``packing`` times as large.

    Used at parse time to size the data module's batches; a bad value falls back to 1 here and is
    reported by the model with the list of valid choices.
    """
    from ganbench.step import resolve_n_critic

    try:
        steps = resolve_n_critic(build_objective(objective, **(options or {})), n_critic)
    except (ValueError, TypeError):
        steps = max(int(n_critic or 1), 1)
    return steps * max(int(packing or 1), 1)


DDP_STRATEGIES = {
    "ddp": "ddp_find_unused_parameters_true",
    "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
    "ddp_fork": "ddp_fork_find_unused_parameters_true",
    "ddp_notebook": "ddp_notebook_find_unused_parameters_true",
}


def _several_devices(devices: Any) -> bool:
    """Whether ``trainer.devices`` asks for more than one device (an int, "N", "-1", a list, "0,1")."""
    if isinstance(devices, (list, tuple)):
        return len(devices) > 1
    text = str(devices).strip()
    if "," in text:
        return len([d for d in text.split(",") if d.strip()]) > 1
    try:
        count = int(text)
    except ValueError:  # "auto"
        return False
    return count > 1 or count == -1  # -1: every device (DDP over one is harmless)


def check_fit_settings(trainer: Any, resume_step: int | None) -> None:
    """Trainer settings with which fit would train nothing, or that manual optimization refuses mid-run."""
    if trainer.max_steps == 0:
        raise ValueError("trainer.max_steps: 0 trains nothing; must be >= 1 (or -1 for no limit)")
    if trainer.max_epochs == 0:
        raise ValueError("trainer.max_epochs: 0 trains nothing; must be >= 1 (or -1: max_steps decides)")
    if trainer.limit_train_batches is not None and trainer.limit_train_batches == 0:
        raise ValueError("trainer.limit_train_batches: 0 trains nothing; must be > 0")
    if trainer.accumulate_grad_batches not in (None, 1):
        raise ValueError(
            f"trainer.accumulate_grad_batches: {trainer.accumulate_grad_batches} is not supported: the GAN "
            "steps its optimizers itself (manual optimization); valid choice: 1"
        )
    if trainer.gradient_clip_val not in (None, 0, 0.0):
        raise ValueError(
            "trainer.gradient_clip_val: not supported: the GAN steps its optimizers itself (manual "
            "optimization); valid choice: null"
        )
    if resume_step is not None and trainer.max_steps is not None and 0 <= trainer.max_steps < resume_step:
        raise ValueError(
            f"trainer.max_steps: {trainer.max_steps} is below the {resume_step} iterations the checkpoint "
            "already has; pass the run's trainer.max_steps or a larger one"
        )


# The most iterations "auto" puts in one training step: Lightning's ~1 ms a step becomes ~0.1 ms an iteration.
AUTO_ITERATIONS_PER_STEP = 10


def iteration_intervals(config: Any, resume_step: int | None) -> dict[str, int]:
    """The run's intervals in iterations (and a resumed checkpoint's step): where callbacks and Lightning's
    logging act, so a training step of K iterations must end on each of them."""
    intervals = {
        "trainer.max_steps": config.trainer.max_steps,
        "trainer.log_every_n_steps": config.trainer.log_every_n_steps,
        "evaluation.every_n_iterations": config.evaluation.get("every_n_iterations"),
        "checkpoint.every_n_train_steps": config.checkpoint.get("every_n_train_steps"),
        "the resumed checkpoint's global_step": resume_step,
    }
    return {name: value for name, value in intervals.items() if value is not None and value > 0}


def resolve_iterations_per_step(config: Any, resume_step: int | None) -> int:
    """``model.iterations_per_step`` as an integer K: the given one, checked against the run's intervals
    (callbacks and Lightning's logging see every K-th iteration), or for ``auto`` the largest K up to
    ``AUTO_ITERATIONS_PER_STEP`` that divides them all. ``auto`` keeps K = 1 where something may act
    between the intervals: callbacks of the user's own (``trainer.callbacks``), epochs cut by
    ``trainer.limit_train_batches``, or Lightning's validation every ``trainer.val_check_interval`` steps."""
    requested = config.model.get("iterations_per_step", 1)
    intervals = iteration_intervals(config, resume_step)
    common = math.gcd(*intervals.values())  # 0 (divisible by any K) when there is no interval
    if requested == "auto":
        trainer = config.trainer
        if (
            trainer.get("callbacks")
            or trainer.get("limit_train_batches") not in (None, 1.0)
            or trainer.get("val_check_interval") is not None
        ):
            return 1
        return max(k for k in range(1, AUTO_ITERATIONS_PER_STEP + 1) if common % k == 0)
    per_step = valid_iterations_per_step(requested)
    unaligned = [f"{name}={value}" for name, value in intervals.items() if value % per_step]
    if unaligned:
        choices = ", ".join(str(k) for k in range(1, common + 1) if common % k == 0)
        raise ValueError(
            f"model.iterations_per_step: {per_step} does not divide {', '.join(unaligned)}; "
            f"valid choices with these settings: {choices}, or auto"
        )
    return per_step


def launched_as_rank_zero() -> bool:
    """Whether this process is rank 0 of its launch (DDP children and torchrun ranks carry their rank
    in the environment before the trainer knows it)."""
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID"):
        value = os.environ.get(name)
        if value not in (None, "", "0"):
            return False
    return True


def optimizer_error(error: Exception) -> str:
    """Adam's messages name its own argument; name the config key instead."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "beta" in message:
        return f"model.betas: {message} (each must be in [0, 1))"
    if "learning rate" in message:
        return f"model.lr_generator/model.lr_discriminator: {message}"
    return f"model: the optimizers cannot be built: {message}"


class GanbenchCLI(LightningCLI):
    """LightningCLI with fit, validate and test (no ``predict``: a GAN has no data to predict on)."""

    run_lock: Any = None  # the run directory's lock, held while the subcommand runs
    resume_step: int | None = None  # global_step of the checkpoint fit resumes from
    iterations_per_step: int = 1  # model.iterations_per_step resolved (``auto`` or checked)

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {k: v for k, v in LightningCLI.subcommands().items() if k in LIGHTNING_COMMANDS}

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
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="replace the run already in trainer.default_root_dir (its files are deleted); without it "
            "a directory that holds a run is refused unless --ckpt_path resumes that run",
        )
        list_registered_names(parser)
        parser.link_arguments("seed_everything", "data.seed")
        parser.link_arguments(
            ("model.objective", "model.objective_options", "model.n_critic", "model.packing"),
            "data.batches_per_iteration",
            compute_fn=real_chunks_per_iteration,
        )
        parser.set_defaults({"model.iterations_per_step": "auto"})
        # The resolved K replaces both at instantiation (instantiate_classes); "auto" links as 1 till then.
        parser.link_arguments(
            "model.iterations_per_step",
            "data.iterations_per_batch",
            compute_fn=lambda per_step: 1 if per_step == "auto" else per_step,
        )
        parser.link_arguments("data.sample_shape", "model.sample_shape", apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.trainer
        if trainer.max_steps is not None and trainer.max_steps < -1:
            raise ValueError(f"trainer.max_steps: must be >= 0 (or -1 for no limit), got {trainer.max_steps}")
        if self.subcommand == "fit":
            check_fit_settings(trainer, self.resume_step)
        if self.subcommand in ("fit", None):  # None: a fit built without running it (ensembles, studies)
            self.iterations_per_step = resolve_iterations_per_step(config, self.resume_step)
        elif config.model.get("iterations_per_step") != "auto":  # validate/test train nothing
            self.iterations_per_step = config.model.iterations_per_step
        if config.get("num_threads") is not None:
            if config.num_threads < 1:
                raise ValueError(f"num_threads: must be >= 1 or null, got {config.num_threads}")
            torch.set_num_threads(config.num_threads)
        # A D step never touches G's parameters (and vice versa): DDP must expect unused ones.
        if trainer.strategy == "auto" and _several_devices(trainer.devices):
            trainer.strategy = "ddp"  # what Lightning picks for several devices
        if trainer.strategy in DDP_STRATEGIES:
            trainer.strategy = DDP_STRATEGIES[trainer.strategy]
        if trainer.default_root_dir is not None and not str(trainer.default_root_dir).strip():
            raise ValueError(
                "trainer.default_root_dir: empty; give a directory, or leave it out for runs/NAME"
            )
        if trainer.default_root_dir is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            name = f"{config.data.dataset}-{config.model.objective}-seed{config.seed_everything}-{stamp}"
            # A W&B sweep agent's run goes under runs/sweeps/SWEEP_ID, where `table runs/sweeps` finds it.
            sweep = os.environ.get("WANDB_SWEEP_ID")
            root = Path("runs") / "sweeps" / sweep if sweep else Path("runs")
            trainer.default_root_dir = str(root / name)
        check_writable(trainer.default_root_dir)  # a file or a read-only folder: before building anything

    def _resolved_config(self) -> dict[str, Any]:
        config = self.config[self.subcommand] if self.subcommand else self.config
        parser = self._parser(self.subcommand) if self.subcommand else self.parser
        return yaml.safe_load(parser.dump(config, skip_none=False, skip_check=True))

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the model's hyperparameters from the checkpoint at parse time and lets
        # them override the config; check first that the checkpoint is readable and of the same GAN.
        self._check_checkpoint()
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else None
        own = {key: config.model.get(key) for key in EXECUTION_SETTINGS} if config is not None else {}
        super()._parse_ckpt_path()
        for key, value in own.items():
            # How the iteration is executed changes no number: this run's setting, not the checkpoint's.
            # (instantiate_classes gives the data module the resolved K.)
            self.config[subcommand].model[key] = value

    def _check_checkpoint(self) -> None:
        """A missing, corrupt or foreign checkpoint is a one-line error before anything is written."""
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        config = self.config[subcommand]
        path = config.get("ckpt_path")
        if not path:
            return
        if path in CHECKPOINT_KEYWORDS:
            run_dir = config.trainer.default_root_dir
            if run_dir is None:
                raise ValueError("ckpt_path: 'last' needs --trainer.default_root_dir (the run to resume)")
            path = config.ckpt_path = str(Path(run_dir) / "checkpoints" / "last.ckpt")
        elif path in ("best", "hpc", "registry"):
            raise ValueError(
                f"ckpt_path: {path!r} is not available from the command line; "
                "valid choices: a checkpoint file, or 'last' (DIR/checkpoints/last.ckpt)"
            )
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
        model = config.model
        for key in ("objective", "net"):
            if checkpoint["ganbench"].get(key) != model[key]:
                raise ValueError(
                    f"ckpt_path: checkpoint was trained with {key}={checkpoint['ganbench'].get(key)!r}, "
                    f"but model.{key}={model[key]!r}"
                )
        if subcommand == "fit":
            if not checkpoint.get("optimizer_states") or "loops" not in checkpoint:
                raise ValueError(
                    f"ckpt_path: {path} holds weights only (no optimizer or loop state), so fit cannot "
                    "resume it; use it with validate/test, or start a new run without --ckpt_path"
                )
            self.resume_step = int(checkpoint.get("global_step", 0))
            run_dir = config.trainer.default_root_dir
            if run_dir is not None and not _inside(path, run_dir) and _holds_run(run_dir):
                raise ValueError(
                    f"ckpt_path: {path} is not a checkpoint of the run in trainer.default_root_dir="
                    f"{run_dir}; resume into that run's own directory or into a new one"
                )

    def _set_seed(self) -> None:
        seed = self._get(self.config, "seed_everything")
        if not isinstance(seed, bool) and isinstance(seed, int) and not 0 <= seed <= 2**32 - 1:
            raise ValueError(f"seed_everything: must be in [0, 4294967295] (numpy's range), got {seed}")
        super()._set_seed()

    def instantiate_classes(self) -> None:
        # The module and the data module get the resolved K; the config keeps what was asked ("auto"),
        # so DIR/config.yaml, metrics.json and W&B show it and a re-run with other intervals still works.
        config = self.config[self.subcommand] if self.subcommand else self.config
        requested = config.model.get("iterations_per_step")
        config.model.iterations_per_step = config.data.iterations_per_batch = self.iterations_per_step
        try:
            super().instantiate_classes()
        except MisconfigurationException as error:  # e.g. an accelerator this machine does not have
            raise ValueError(f"{trainer_field(error)}: {_first_line(error)}") from None
        finally:
            config.model.iterations_per_step = requested  # data.iterations_per_batch is a link: never saved
        if requested == "auto" and self.iterations_per_step > 1 and isinstance(self.model, GAN):
            # auto's K holds for these callbacks; one added later makes the fit run K = 1 (GAN.setup).
            self.model.auto_iterations_callbacks = tuple(self.trainer.callbacks)

    def _validate_model(self) -> None:
        """Build what fit builds later (the optimizers) and refuse settings that cannot train."""
        self.model.trainer = self.trainer  # as fit attaches it: the schedules read trainer.max_steps
        try:
            self.model.configure_optimizers()
        except (ValueError, TypeError) as error:
            raise ValueError(optimizer_error(error)) from None
        empty = [name for name, p in self.model.named_parameters() if p.numel() == 0]
        if empty:
            raise ValueError(
                f"model.net_options: {self.model.hparams.net} with these options has an empty weight "
                f"({empty[0]}: size 0); every layer needs a positive width"
            )
        for callback in self.trainer.callbacks:
            if isinstance(callback, RunCheckpoint) and callback.monitor is not None:
                self._check_monitor(callback.monitor)

    def _check_monitor(self, monitor: str) -> None:
        """``--checkpoint.monitor`` must be a metric the evaluation logs (``eval/KEY``)."""
        if not monitor.startswith("eval/"):
            raise ValueError(
                f"checkpoint.monitor: {monitor!r} is never logged; valid choices: eval/KEY, KEY a metric "
                "of the evaluation (e.g. eval/modes_captured)"
            )
        try:
            from ganbench.evaluation.metrics import get_metric
        except ImportError:  # no metric registry: the key cannot be checked before the run
            get_metric = None
        if get_metric is not None:
            get_metric(monitor.removeprefix("eval/"), field="checkpoint.monitor")
        evaluation = next((cb for cb in self.trainer.callbacks if isinstance(cb, Evaluation)), None)
        if evaluation is None or not evaluation.every_n_iterations:
            raise ValueError(
                f"checkpoint.monitor: {monitor!r} needs periodic evaluation "
                "(evaluation.every_n_iterations > 0)"
            )

    def _prepare_run(self) -> None:
        """Validate every option, then claim the run directory, then let the run write."""
        trainer = self.trainer
        for callback in trainer.callbacks:
            if isinstance(callback, Evaluation):
                # Before fit/validate/test write anything: a bad setting loses no earlier result.
                self.datamodule.check_evaluation(**callback.settings)
        if self.subcommand == "fit":
            self._validate_model()
        subcommand_config = self.config_init[self.subcommand] if self.subcommand else {}
        resuming = self.subcommand == "fit" and bool(subcommand_config.get("ckpt_path"))
        if launched_as_rank_zero():
            self.run_lock = claim_run_dir(
                trainer.default_root_dir,
                resuming=resuming,
                overwrite=bool(subcommand_config.get("overwrite")),
                command=self.subcommand or "fit",
            )
        use_atomic_checkpoints(trainer)
        config = self._resolved_config()
        if trainer.loggers and not any(isinstance(lg, RunCSVLogger) for lg in trainer.loggers):
            # Beside W&B, the training scalars as CSV in the run directory (train_log/metrics.csv).
            csv_logger = RunCSVLogger()
            csv_logger.use_run_dir(trainer.default_root_dir)
            trainer.loggers = [*trainer.loggers, csv_logger]
        for logger in trainer.loggers:
            if isinstance(logger, RunCSVLogger) and resuming and self.resume_step is not None:
                logger.resume_at(self.resume_step)
            if isinstance(logger, RunLogger):
                logger.use_run_dir(trainer.default_root_dir)
                logger.name_run(
                    config["data"]["dataset"],
                    config["model"]["objective"],
                    config.get("seed_everything"),
                    config["model"].get("net"),
                )
                if resuming:
                    logger.resume_in(trainer.default_root_dir)
                if trainer.is_global_zero:
                    logger.log_hyperparams({"resolved_config": config})  # the whole run, not only the model
        for callback in trainer.callbacks:
            if isinstance(callback, RunRecord):
                callback.config = config

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Any:
        user_callbacks = config.get("callbacks") or []
        user_callbacks = user_callbacks if isinstance(user_callbacks, list) else [user_callbacks]
        has_bar = any(isinstance(cb, ProgressBar) for cb in user_callbacks)
        if config.get("enable_progress_bar") is not False and not has_bar:
            # The losses and the headline metric in a terminal; a line every N iterations in a log.
            callbacks = [*callbacks, RunProgressBar()]
        return super()._instantiate_trainer(config, callbacks)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
            if launched_as_rank_zero() and self.trainer.default_root_dir:
                print_run_summary(self.trainer.default_root_dir)
        finally:
            if self.run_lock is not None:
                self.run_lock.release()
                self.run_lock = None

    def before_fit(self) -> None:
        self._prepare_run()

    def before_validate(self) -> None:
        self._prepare_run()

    def before_test(self) -> None:
        self._prepare_run()


def registered_names() -> dict[str, str]:
    """Each registry's names, for the help of the option that picks from it."""
    from ganbench.data.registry import DATASETS
    from ganbench.evaluation.metrics import KINDS, _load, metrics_of
    from ganbench.nets.registry import NETS
    from ganbench.objectives import OBJECTIVES
    from ganbench.regularizers import REGULARIZERS

    _load()
    metrics = sorted({m.key for kind in KINDS for m in metrics_of(kind)})
    return {
        "--model.objective": ", ".join(OBJECTIVES.names()),
        "--model.net": ", ".join(NETS.names()),
        "--data.dataset": ", ".join(DATASETS.names()),
        "--model.regularizers": ", ".join(REGULARIZERS.names()),
        "--checkpoint.monitor": ", ".join(f"eval/{m}" for m in metrics),
    }


def list_registered_names(parser: Any) -> None:
    """Append the registered names to the help of the options that take one (``fit --help`` and
    ``--print_config=comments`` show them)."""
    for option, names in registered_names().items():
        action = parser._option_string_actions.get(option)
        if action is not None:
            action.help = f"{action.help or ''} Registered: {names}.".strip()


def trainer_field(error: BaseException) -> str:
    """The trainer option a Lightning MisconfigurationException is about, from its message."""
    named = re.search(r"Trainer\((\w+)=", str(error))  # "`Trainer(devices='0')` value is not ..."
    if named:
        return f"trainer.{named.group(1)}"
    message = str(error).lower()
    for words, field in (
        (("accelerator", "gpu", "cuda", "mps", "tpu", "backend"), "trainer.accelerator"),
        (("strategy",), "trainer.strategy"),
        (("precision",), "trainer.precision"),
        (("devices", "device"), "trainer.devices"),
        (("num_nodes",), "trainer.num_nodes"),
    ):
        if any(word in message for word in words):
            return field
    return "trainer"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _inside(path: str | os.PathLike, directory: str | os.PathLike) -> bool:
    return Path(path).resolve().is_relative_to(Path(directory).resolve())


def _holds_run(directory: str | os.PathLike) -> bool:
    from ganbench.runs.run_dir import holds_run

    return holds_run(directory)


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
        save_config_callback=RunConfig,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"exit_on_error": False},
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


LIGHTNING_COMMANDS: dict[str, str] = {
    "fit": "train one GAN run into a run directory (fit --help lists every option and registered name)",
    "validate": "score a checkpoint's generator with the evaluation metrics",
    "test": "score a checkpoint's generator with the evaluation metrics (the final protocol)",
}

COMMAND_HELP: dict[str, str] = {
    "ensemble": "train several seeds of one config in one process (vmapped), one run directory each",
    "sweep": "run a W&B sweep file's grid or random search locally, resumable, with parallel workers",
    "table": "aggregate run directories into a table (Markdown, LaTeX, CSV) with CIs and tests",
    "plot": "plot a metric against iterations, or sample grids, from run directories",
    "figure1": "Goodfellow et al. 2014 fig. 1 from a 1-D run: p_data, p_g and D(x) at chosen iterations",
    "sample": "write samples from a checkpoint (scatter + .npz for toy data, a PNG grid for images)",
    "score": "score an (n, d) .npy of samples from anywhere with a config's dataset and metrics",
    "theory": "the optimal discriminator D* and the value it reaches, checked numerically",
    "saturation": "train D against a frozen G: saturation of minimax vs non-saturating losses",
    "inception": "convert offline Inception-v3 weights for torch-fidelity (FID, KID, IS)",
    "classifier": "train the small MNIST classifier that counts modes on MNIST and Stacked MNIST",
}


def top_level_help() -> str:
    """Every command with one line: LightningCLI's and ganbench's own."""
    width = max(map(len, [*LIGHTNING_COMMANDS, *COMMANDS]))
    lines = [
        "usage: python -m ganbench COMMAND [options]   (COMMAND --help for its options)",
        "",
        "commands:",
    ]
    for name, text in [*LIGHTNING_COMMANDS.items(), *((n, COMMAND_HELP.get(n, "")) for n in COMMANDS)]:
        lines.append(f"  {name:<{width}}  {text}")
    return "\n".join(lines)


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "theory": _theory,
    "inception": _inception,
    "table": _lazy("ganbench.runs.table"),
    "sweep": _lazy("ganbench.runs.sweep"),
    "plot": _lazy("ganbench.runs.plot"),
    "figure1": _lazy("ganbench.runs.goodfellow_figure"),
    "classifier": _lazy("ganbench.evaluation.classifier"),
    "score": _lazy("ganbench.evaluation.score"),
    "ensemble": _lazy("ganbench.ensemble_cli"),
    "saturation": _lazy("ganbench.evaluation.saturation"),
    "sample": _lazy("ganbench.sample"),
}


def check_config_files(words: list[str]) -> None:
    """``--config FILE`` that is missing or not YAML: one line naming the file (jsonargparse's own
    message names neither the file nor the option)."""
    for i, word in enumerate(words):
        if word in ("-c", "--config") and i + 1 < len(words):
            path = words[i + 1]
        elif word.startswith("--config="):
            path = word.split("=", 1)[1]
        else:
            continue
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ValueError(f"--config: cannot read {path} ({error.strerror})") from None
        try:
            content = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise ValueError(f"--config: {path} is not valid YAML ({where}{problem})") from None
        if content is not None and not isinstance(content, dict):
            raise ValueError(f"--config: {path} is not a config (expected a mapping of keys)")


def parse_error(error: ArgumentError) -> str:
    """jsonargparse's message on one line: ``Parser key "X":\n  Expected ...`` -> ``X: Expected ...``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines) if lines else "invalid arguments"
    for prefix in ('Parser key "', "Problem with given class_path '"):
        if text.startswith(prefix) and '":' in text:
            key, rest = text[len(prefix) :].split('":', 1)
            text = f"{key}:{rest.lstrip(';')}"
    return re.sub(r"<class '(\w+)'>", r"\1", text)


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench COMMAND ...``: ganbench's own commands, else LightningCLI.

    Exit codes: 0 done, 2 bad input (one line naming the field, nothing written), 1 a run that failed
    (one line; metrics.json says crashed), 130/143 interrupted by SIGINT/SIGTERM (metrics.json says so).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    quiet_known_noise()
    if words and words[0] in COMMANDS:
        return COMMANDS[words[0]](words[1:])
    if not words or words[0] in ("-h", "--help"):
        print(top_level_help(), file=sys.stdout if words else sys.stderr)
        return 0 if words else 2
    if not words[0].startswith("-") and words[0] not in LIGHTNING_COMMANDS:
        choices = ", ".join([*LIGHTNING_COMMANDS, *COMMANDS])
        print(
            f"error: command: {words[0]!r} is not a ganbench command; valid choices: {choices}",
            file=sys.stderr,
        )
        return 2
    try:
        check_config_files(words)
        lightning_main(argv)  # None: LightningCLI reads sys.argv itself
    except ArgumentError as error:
        print(f"error: {parse_error(error)}", file=sys.stderr)
        return 2
    except ValueError as error:
        # Bad input is a one-line message naming the field, not a traceback.
        print(f"error: {_first_line(error)}", file=sys.stderr)
        return 2
    except MisconfigurationException as error:  # a trainer setting Lightning refuses once fit started
        print(f"error: {trainer_field(error)}: {_first_line(error)}", file=sys.stderr)
        return 2
    except SIGTERMException:
        print(
            "ganbench: stopped by SIGTERM; metrics.json says interrupted (resume with --ckpt_path)",
            file=sys.stderr,
        )
        return 143
    except OSError as error:  # a full disk, a folder that vanished: the run's record says crashed
        where = error.filename or "the run directory"
        print(f"error: {where}: {error.strerror or _first_line(error)}", file=sys.stderr)
        return 1
    return 0


__all__ = ["main", "RunLogger", "RunRecord", "Evaluation"]
