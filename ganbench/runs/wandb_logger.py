"""W&B logging that never prompts: offline with a one-line notice when there are no credentials."""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger


def has_wandb_credentials() -> bool:
    """An API key in WANDB_API_KEY or in the netrc entry of the W&B host (where `wandb login` puts it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(path).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


class RunLogger(WandbLogger):
    """WandbLogger for ganbench: project ``ganbench``, files in the run directory, offline without a key.

    ``wandb.init`` raises UsageError when online without an API key; instead the run is logged
    offline (``wandb sync DIR/wandb/offline-run-*`` uploads it later) and one line says so.
    ``WANDB_MODE=offline`` and ``WANDB_MODE=disabled`` are honoured as W&B defines them.
    """

    def __init__(self, project: str = "ganbench", save_dir: str | None = None, offline: bool | None = None,
                 **kwargs: Any) -> None:
        mode = os.environ.get("WANDB_MODE", "").lower()
        if offline is None:
            offline = mode in ("offline", "dryrun")
            if mode not in ("offline", "dryrun", "disabled") and not has_wandb_credentials():
                offline = True
                print("ganbench: no W&B API key found; logging offline (upload later with `wandb sync`)",
                      file=sys.stderr)
        super().__init__(project=project, save_dir=save_dir, offline=offline, **kwargs)

    def use_run_dir(self, run_dir: str | os.PathLike) -> None:
        """Put W&B's files in the run directory unless a save_dir was given (before the run starts)."""
        if self._save_dir is None and self._experiment is None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._save_dir = self._wandb_init["dir"] = os.fspath(run_dir)
