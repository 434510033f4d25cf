"""W&B logging that never prompts: offline with a one-line notice when there are no credentials."""

from __future__ import annotations

import netrc
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment

RUN_ID_FILE = "wandb_run_id"


def wandb_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    return url.hostname or "api.wandb.ai", url.port or (443 if url.scheme == "https" else 80)


def server_reachable(timeout: float) -> bool:
    """Whether a TCP connection to the W&B server opens within ``timeout`` seconds."""
    try:
        with socket.create_connection(wandb_host(), timeout=timeout):
            return True
    except OSError:
        return False


def has_wandb_credentials() -> bool:
    """An API key in WANDB_API_KEY or in the netrc entry of the W&B host (where `wandb login` puts it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = wandb_host()[0]
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(path).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


class RunLogger(WandbLogger):
    """WandbLogger for ganbench: project ``ganbench``, files in the run directory, offline without a key.

    ``wandb.init`` raises UsageError when online without an API key; instead the run is logged
    offline (``wandb sync DIR/wandb/offline-run-*`` uploads it later) and one line says so.
    ``WANDB_MODE=offline`` and ``WANDB_MODE=disabled`` are honoured as W&B defines them. When the
    server cannot be reached, ``wandb.init`` gives up after ``init_timeout`` seconds (W&B's default
    is 90) and the run goes on offline instead of crashing.
    """

    def __init__(
        self,
        project: str = "ganbench",
        save_dir: str | None = None,
        offline: bool | None = None,
        init_timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        mode = os.environ.get("WANDB_MODE", "").lower()
        if offline is None:
            offline = mode in ("offline", "dryrun")
            if mode not in ("offline", "dryrun", "disabled"):
                # wandb.init retries an unreachable server for minutes; a short probe bounds the wait.
                if not has_wandb_credentials():
                    offline = True
                    print(
                        "ganbench: no W&B API key found; logging offline (upload later with `wandb sync`)",
                        file=sys.stderr,
                    )
                elif not server_reachable(timeout=min(init_timeout, 10.0)):
                    offline = True
                    print(
                        f"ganbench: W&B server {':'.join(map(str, wandb_host()))} unreachable; "
                        "logging offline (upload later with `wandb sync`)",
                        file=sys.stderr,
                    )
        if "settings" not in kwargs:
            import wandb

            kwargs["settings"] = wandb.Settings(init_timeout=init_timeout)
        super().__init__(project=project, save_dir=save_dir, offline=offline, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)  # W&B warns about the setting even when it is None

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        try:
            run = WandbLogger.experiment.fget(self)
        except Exception as error:  # wandb raises CommError, UsageError, TimeoutError... when online fails
            if self._offline:
                raise
            import wandb

            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(f"ganbench: W&B unreachable ({first_line}); logging offline instead", file=sys.stderr)
            wandb.finish(exit_code=1)
            self._experiment, self._offline = None, True
            # W&B ignores WANDB_MODE once its session started: the mode must be an init argument.
            self._wandb_init["mode"] = "offline"
            run = WandbLogger.experiment.fget(self)
        self._remember_run_id(run)
        return run

    def _remember_run_id(self, run: Any) -> None:
        run_id = getattr(run, "id", None)
        if self._save_dir is not None and isinstance(run_id, str):
            path = Path(self._save_dir) / RUN_ID_FILE
            if not path.exists() or path.read_text().strip() != run_id:
                path.write_text(run_id + "\n")

    def resume_in(self, run_dir: str | os.PathLike) -> None:
        """Continue the W&B run recorded in ``run_dir`` (same run id) instead of starting a new one."""
        path = Path(run_dir) / RUN_ID_FILE
        if self._experiment is None and self._wandb_init.get("id") is None and path.is_file():
            self._id = self._wandb_init["id"] = path.read_text().strip()
            self._wandb_init["resume"] = "allow"

    def name_run(self, dataset: str, objective: str, seed: Any, net: str | None = None) -> None:
        """Name the run ``{dataset}-{objective}-s{seed}``, group it by ``{dataset}-{objective}`` and tag
        it with objective, net and dataset (before the run starts); the user's own name, group and tags
        win (``--trainer.logger.init_args.name=...``)."""
        if self._experiment is not None:
            return
        init = self._wandb_init
        if not init.get("name"):
            init["name"] = f"{dataset}-{objective}-s{seed}"
            self._name = init["name"]
        if not init.get("group"):
            init["group"] = f"{dataset}-{objective}"
        if not init.get("tags"):
            tags = [f"objective:{objective}", f"dataset:{dataset}"]
            if net:
                tags.insert(1, f"net:{net}")
            init["tags"] = tags

    def use_run_dir(self, run_dir: str | os.PathLike) -> None:
        """Put W&B's files in the run directory unless a save_dir was given (before the run starts)."""
        if self._save_dir is None and self._experiment is None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._save_dir = self._wandb_init["dir"] = os.fspath(run_dir)
