"""DIR/config.yaml: the resolved config that reproduces a run in a new run directory.

Lightning's SaveConfigCallback writes the config as parsed, run directory included, so
``fit --config DIR/config.yaml`` would write into DIR itself. Here the keys that belong to this
particular run (its directory, the checkpoint it resumed from, the overwrite switch) are reset, so a
re-run starts a new run directory; the file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback

from ganbench.runs.atomic import write_atomic

CONFIG_NAME = "config.yaml"
# key -> the value a re-run should start with
RUN_SPECIFIC = {"trainer.default_root_dir": None, "ckpt_path": None, "overwrite": False}


class RunConfig(SaveConfigCallback):
    """Saves ``DIR/config.yaml`` on rank 0 (``save_to_log_dir=False``: this class does the writing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["save_to_log_dir"] = False
        super().__init__(*args, **kwargs)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.config.clone()
        for key, value in RUN_SPECIFIC.items():
            if key in config:
                config[key] = value
        text = self.parser.dump(config, skip_none=False, skip_check=True)
        write_atomic(Path(trainer.default_root_dir) / CONFIG_NAME, text)
