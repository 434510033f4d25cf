"""W&B outages: no key, offline, disabled, unreachable server; the run always completes and records."""

import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from ganbench.runs.wandb_logger import RunLogger, has_wandb_credentials

REPO = Path(__file__).resolve().parents[2]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")
KEY = "a" * 40


def clean_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), OMP_NUM_THREADS="1", WANDB_DIR=str(tmp_path), **extra)
    return env


def fit(ganbench_cli, tmp_path, run_dir, env, *args):
    """``python -m ganbench fit`` on the ring, 20 iterations (a forked process: see tests/conftest.py)."""
    start = time.monotonic()
    result = ganbench_cli.run(
        [
            "fit",
            "--config",
            RING,
            "--trainer.max_steps=20",
            "--evaluation.every_n_iterations=10",
            "--evaluation.num_samples=200",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={run_dir}",
            *args,
        ],
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result, time.monotonic() - start


def offline_runs(run_dir):
    return sorted((Path(run_dir) / "wandb").glob("offline-run-*"))


def test_no_key_logs_offline_with_one_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    assert not has_wandb_credentials()
    assert RunLogger()._offline
    (tmp_path / ".netrc").write_text(f"machine api.wandb.ai\n  login user\n  password {KEY}\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert has_wandb_credentials()


@pytest.mark.parametrize("mode, offline", [("offline", True), ("dryrun", True), ("disabled", False)])
def test_wandb_mode_is_honoured(monkeypatch, mode, offline):
    monkeypatch.setenv("WANDB_MODE", mode)
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    assert RunLogger()._offline is offline


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory, ganbench_cli):
    """A run with no W&B key (so offline), shared by the tests that read or resume it."""
    tmp_path = tmp_path_factory.mktemp("offline")
    run_dir = tmp_path / "run"
    result, _ = fit(ganbench_cli, tmp_path, run_dir, clean_env(tmp_path))
    return result, run_dir


def test_run_without_key_completes_offline_with_history_for_sync(offline_run):
    result, run_dir = offline_run
    assert result.stderr.count("no W&B API key found") == 1
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"
    (run,) = offline_runs(run_dir)
    record = list(run.glob("run-*.wandb"))[0].read_bytes()  # what `wandb sync` uploads
    for text in (b"ring-nonsaturating-s0", b"objective:nonsaturating", b"net:mlp", b"dataset:ring"):
        assert text in record  # the run's name, group and tags travel with it


def test_unreachable_server_is_a_bounded_wait(tmp_path, ganbench_cli):
    run_dir = tmp_path / "run"
    env = clean_env(tmp_path, WANDB_API_KEY=KEY, WANDB_BASE_URL="http://127.0.0.1:9")  # a closed port
    result, seconds = fit(ganbench_cli, tmp_path, run_dir, env)
    assert "unreachable; logging offline" in result.stderr
    assert seconds < 60  # wandb.init alone retries for ~100 s here
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"
    assert offline_runs(run_dir)


def test_disabled_mode_completes_without_wandb_files(tmp_path, ganbench_cli):
    run_dir = tmp_path / "run"
    fit(ganbench_cli, tmp_path, run_dir, clean_env(tmp_path, WANDB_MODE="disabled"))
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"
    assert not offline_runs(run_dir)


def test_resumed_fit_continues_the_same_wandb_run(offline_run, tmp_path, ganbench_cli):
    run_dir = tmp_path / "run"
    shutil.copytree(offline_run[1], run_dir)  # the shared run stays as it was
    first_id = (run_dir / "wandb_run_id").read_text().strip()
    fit(
        ganbench_cli,
        tmp_path,
        run_dir,
        clean_env(tmp_path, WANDB_MODE="offline"),
        "--trainer.max_steps=30",
        f"--ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
    )
    assert (run_dir / "wandb_run_id").read_text().strip() == first_id
    assert all(run.name.endswith(first_id) for run in offline_runs(run_dir))
    assert len(offline_runs(run_dir)) == 2  # the first run's files and the resumed part


class NotWandb(http.server.BaseHTTPRequestHandler):
    """A server that answers every request, but not as W&B: an HTML error page."""

    code = 501

    def _answer(self):
        self.send_response(self.code)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>Not here</body></html>")

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("code", [501, 404])
def test_a_server_that_is_not_wandb_sends_the_run_offline(tmp_path, ganbench_cli, code):
    handler = type("Handler", (NotWandb,), {"code": code})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run_dir = tmp_path / "run"
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result, _ = fit(
            ganbench_cli, tmp_path, run_dir, clean_env(tmp_path, WANDB_API_KEY=KEY, WANDB_BASE_URL=url)
        )
    finally:
        server.shutdown()
    notices = [line for line in result.stderr.splitlines() if line.startswith("ganbench: W&B")]
    assert len(notices) == 1 and "logging offline" in notices[0]
    assert "Traceback" not in result.stderr
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and [h["iteration"] for h in record["history"]] == [10, 20]
    (run,) = offline_runs(run_dir)
    assert (run_dir / "wandb_run_id").read_text().strip() == run.name.rsplit("-", 1)[-1]


def test_offline_run_is_named_grouped_and_tagged(tmp_path, monkeypatch):
    import wandb

    if wandb.run is not None:  # an earlier in-process fit's run would be reused by WandbLogger
        wandb.finish()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    logger = RunLogger(save_dir=str(tmp_path))
    logger.name_run("grid", "hinge", 3, "mlp")
    run = logger.experiment
    try:
        assert run.name == "grid-hinge-s3"
        assert run.group == "grid-hinge"
        assert set(run.tags) == {"objective:hinge", "net:mlp", "dataset:grid"}
    finally:
        run.finish()


def test_users_own_name_and_group_win(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = RunLogger(save_dir=str(tmp_path), name="mine", group="study", tags=["x"])
    logger.name_run("grid", "hinge", 3, "mlp")
    assert (logger._wandb_init["name"], logger._wandb_init["group"]) == ("mine", "study")
    assert logger._wandb_init["tags"] == ["x"]
