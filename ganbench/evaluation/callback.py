"""Periodic and final evaluation of the live generator, during fit and on validate/test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer


def evaluator_for(dataset: Any) -> Callable[..., dict[str, Any]]:
    """The function that scores a generator on ``dataset``: toy mixtures and image sets have their own."""
    from ganbench.data.images import ImageSource
    from ganbench.data.toy import GaussianMixture

    if isinstance(dataset, GaussianMixture):
        from ganbench.evaluation.mixture import evaluate_mixture

        return evaluate_mixture
    if isinstance(dataset, ImageSource):
        from ganbench.evaluation.image_metrics import evaluate_images

        return evaluate_images
    raise ValueError(f"data.dataset: no evaluation for a {type(dataset).__name__}")


def evaluate_generator(
    datamodule: Any,
    module: Any,
    num_samples: int,
    seed: int,
    settings: dict[str, Any],
    plot_dir: str | Path | None,
    iteration: int,
    tag: str,
) -> tuple[dict[str, Any], Path | None]:
    """The metrics of ``num_samples`` samples from a fixed noise ``seed`` against the data module's dataset.

    With ``plot_dir`` the samples are also drawn to ``plot_dir/samples/{tag}_{iteration}.png``, and on
    1-D data D on a grid and the samples are kept in ``plot_dir/trace/`` (Goodfellow et al.'s fig. 1).
    Returns the metrics and the picture's path (None without ``plot_dir``).
    """
    from ganbench.evaluation.discriminator_trace import record_trace

    path = Path(plot_dir) / "samples" / f"{tag}_{iteration:07d}.png" if plot_dir is not None else None
    title = f"{module.objective.describe()}  iteration {iteration}"
    dataset = datamodule.dataset
    metrics = dict(evaluator_for(dataset)(dataset, module, num_samples, seed, path, title, **settings))
    if plot_dir is not None:
        record_trace(plot_dir, dataset, module, num_samples, seed, iteration, tag)
    return metrics, path


class Evaluation(Callback):
    """Scores the generator (EMA weights when on) with the data module's metrics.

    Every ``every_n_iterations`` iterations it scores ``num_samples`` samples (the convergence curve,
    kept in the module's ``evaluation_history``), and once at the end of fit ``final_num_samples``
    (the run's final ``metrics``). Samples come from a fixed noise seed, so successive evaluations
    differ only through the generator, and the training RNG is left untouched.

    Args:
        every_n_iterations: interval between evaluations during fit (0 turns periodic evaluation off).
        num_samples: samples per periodic evaluation (2,500 for the toy mode metrics, PacGAN).
        final_num_samples: samples for the final evaluation; None means ``num_samples``.
        seed: seed of the evaluation noise.
        plot: save a picture of the samples at each evaluation (``DIR/samples/``) and log it; on 1-D
            data also D on a grid and the samples (``DIR/trace/``, from iteration 0 in fit).
        inception_weights: image data: torch-fidelity Inception weights file (``inception export``).
        reference_split: image data: the real split generated samples are compared with.
        tf32: image data: allow TF32 in the Inception feature pass (default strict fp32).
        classifier: MNIST-like data: a ``classifier fit`` checkpoint for class-coverage metrics.
    """

    def __init__(
        self,
        every_n_iterations: int = 1000,
        num_samples: int = 2500,
        final_num_samples: int | None = None,
        seed: int = 1234,
        plot: bool = True,
        inception_weights: str | None = None,
        reference_split: str = "test",
        tf32: bool = False,
        classifier: str | None = None,
    ) -> None:
        if every_n_iterations < 0:
            raise ValueError(f"evaluation.every_n_iterations: must be >= 0, got {every_n_iterations}")
        for field, value in (("num_samples", num_samples), ("final_num_samples", final_num_samples)):
            if value is not None and value < 1:
                raise ValueError(f"evaluation.{field}: must be >= 1, got {value}")
        self.every_n_iterations = every_n_iterations
        self.num_samples = num_samples
        self.final_num_samples = final_num_samples or num_samples
        self.seed = seed
        self.plot = plot
        self.evaluations_run = 0  # on this process: rank 0 evaluates, other ranks receive
        weights = None
        if inception_weights is not None:
            from ganbench.evaluation.inception import resolve_weights

            # Checked, hashed and inspected once: a wrong file fails now, not after hours of training,
            # and no evaluation reads it again (torch-fidelity itself loads it to build its network).
            weights = resolve_weights(inception_weights)
        if reference_split not in ("train", "test"):
            raise ValueError(f"evaluation.reference_split: {reference_split!r}; valid choices: train, test")
        # Image metrics only (the toy mixtures ignore them): torch-fidelity's Inception weights file
        # (None: its default download), the real split the samples are compared with, TF32 in the
        # feature pass (off: strict fp32), and an MNIST classifier for class coverage.
        self.settings = {
            "inception_weights": weights,
            "reference_split": reference_split,
            "tf32": tf32,
            "classifier": classifier,
        }

    def evaluate(
        self, trainer: Trainer, module: LightningModule, num_samples: int, tag: str
    ) -> dict[str, Any]:
        """Rank 0 scores the generator; under DDP the other ranks wait and receive its numbers.

        Every rank holds the same generator weights, so one evaluation is the evaluation: the others
        would only repeat it (for images, a full Inception pass each).
        """
        metrics: dict[str, Any] | None = None
        if trainer.is_global_zero:
            metrics, path = evaluate_generator(
                trainer.datamodule,
                module,
                num_samples,
                self.seed,
                self.settings,
                trainer.default_root_dir if self.plot else None,
                trainer.global_step,
                tag,
            )
            self.evaluations_run += 1
            if path is not None:
                for logger in trainer.loggers:
                    if hasattr(logger, "log_image"):
                        logger.log_image(key=f"{tag}/samples", images=[str(path)], step=trainer.global_step)
        if trainer.world_size > 1:
            metrics = trainer.strategy.broadcast(metrics, src=0)
        assert metrics is not None
        return metrics

    def _log(self, trainer: Trainer, prefix: str, metrics: dict[str, Any]) -> None:
        values = {f"{prefix}/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        # Visible to callbacks too, so ModelCheckpoint(monitor="eval/modes_captured") keeps the best.
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in values.items()})
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)

    def on_train_start(self, trainer: Trainer, module: LightningModule) -> None:
        # Goodfellow et al.'s first panel is the untrained pair: on 1-D data, the trace of iteration 0.
        if self.plot and trainer.global_step == 0 and trainer.is_global_zero:
            from ganbench.evaluation.discriminator_trace import record_trace

            dataset = trainer.datamodule.dataset
            record_trace(trainer.default_root_dir, dataset, module, self.num_samples, self.seed, 0, "eval")

    def on_train_batch_end(self, trainer: Trainer, module: LightningModule, *args: Any) -> None:
        # Runs before ModelCheckpoint (Lightning calls checkpoint callbacks last), so a checkpoint
        # taken at iteration k holds the evaluation of iteration k and a resumed run keeps its curve.
        iteration = trainer.global_step
        if not self.every_n_iterations or iteration % self.every_n_iterations or module.check_divergence():
            return
        history = module.evaluation_history
        if history and history[-1]["iteration"] == iteration:
            return
        metrics = self.evaluate(trainer, module, self.num_samples, "eval")
        history.append({"iteration": iteration, **metrics})
        self._log(trainer, "eval", metrics)

    def on_train_end(self, trainer: Trainer, module: LightningModule) -> None:
        history = module.evaluation_history
        if module.check_divergence():
            last = history[-1] if history else {}
            module.final_metrics = {k: v for k, v in last.items() if k != "iteration"}
            return
        last = history[-1] if history else {}
        if last.get("iteration") == trainer.global_step and last.get("num_samples") == self.final_num_samples:
            module.final_metrics = {k: v for k, v in last.items() if k != "iteration"}
            return
        metrics = self.evaluate(trainer, module, self.final_num_samples, "final")
        module.final_metrics = metrics
        if last.get("iteration") != trainer.global_step:
            history.append({"iteration": trainer.global_step, **metrics})
        self._log(trainer, "final", metrics)

    def _evaluate_stage(self, trainer: Trainer, module: LightningModule, stage: str) -> None:
        if trainer.sanity_checking or trainer.state.fn == "fit":
            return
        metrics = self.evaluate(trainer, module, self.final_num_samples, stage)
        module.final_metrics = metrics
        module.log_dict(
            {f"{stage}/{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            sync_dist=False,
        )

    def on_validation_epoch_end(self, trainer: Trainer, module: LightningModule) -> None:
        self._evaluate_stage(trainer, module, "validate")

    def on_test_epoch_end(self, trainer: Trainer, module: LightningModule) -> None:
        self._evaluate_stage(trainer, module, "test")
