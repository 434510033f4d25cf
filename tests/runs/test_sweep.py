"""``ganbench sweep``: W&B sweep files expanded and run locally, resumably (a fake program, no training)."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from ganbench.runs.sweep import Sweep, SweepError, SweepRun, command_args, main, plan

REPO = Path(__file__).resolve().parents[2]

# The fake program: writes metrics.json in its --trainer.default_root_dir with the status its --status
# parameter asks for (exit 1 when "crashed"), and counts its calls and its OMP_NUM_THREADS.
FAKE = """
import json, os, pathlib, sys
args = dict(word[2:].split("=", 1) for word in sys.argv[1:])
run = pathlib.Path(args["trainer.default_root_dir"])
with open(run / "calls", "a") as f:
    f.write(os.environ.get("OMP_NUM_THREADS", "unset") + "\\n")
(run / "metrics.json").write_text(json.dumps({"status": args["status"], "wall_time_s": 0.5}))
sys.exit(1 if args["status"] == "crashed" else 0)
"""


def write_sweep(path: Path, parameters: dict, method: str = "grid", command=None, **extra) -> Path:
    config = {"program": "train.py", "method": method, "parameters": parameters, **extra}
    if command is not None:
        config["command"] = command
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_grid_expands_to_the_product_with_w_and_b_commands(tmp_path):
    sweep = Sweep.load(
        write_sweep(
            tmp_path / "s.yaml",
            {
                "model.objective": {"values": ["minimax", "nonsaturating", "hinge"]},
                "seed_everything": {"values": [0, 1]},
                "trainer.max_steps": {"value": 100},
            },
            command=["${env}", "${interpreter}", "-m", "ganbench", "fit", "--config", "c.yaml", "${args}"],
        )
    )
    runs = plan(sweep, tmp_path / "root")
    assert len(runs) == 6 and len({run.name for run in runs}) == 6
    first = runs[0]
    assert first.name == "model.objective=minimax,seed_everything=0,trainer.max_steps=100"
    assert first.argv == [
        "/usr/bin/env",
        sys.executable,
        "-m",
        "ganbench",
        "fit",
        "--config",
        "c.yaml",
        "--model.objective=minimax",
        "--seed_everything=0",
        "--trainer.max_steps=100",
        f"--trainer.default_root_dir={tmp_path / 'root' / first.name}",
    ]
    assert [run.params["seed_everything"] for run in runs] == [0, 1] * 3  # first parameter slowest
    capped = Sweep.load(write_sweep(tmp_path / "c.yaml", {"a": {"values": [1, 2, 3]}}, run_cap=2))
    assert [run.params for run in plan(capped, tmp_path)] == [{"a": 1}, {"a": 2}]


def test_default_command_and_argument_macros_follow_w_and_b(tmp_path, monkeypatch):
    params = {"lr": 0.001, "flag": True, "off": False, "name": "x"}
    args = command_args(params)
    assert args["args"] == ["--lr=0.001", "--flag=True", "--off=False", "--name=x"]
    assert args["args_no_hyphens"] == ["lr=0.001", "flag=True", "off=False", "name=x"]
    assert args["args_no_boolean_flags"] == ["--lr=0.001", "--flag", "--name=x"]
    assert args["args_no_equals"] == ["--lr", "0.001", "--flag", "True", "--off", "False", "--name", "x"]
    assert json.loads(args["args_json"][0]) == params
    # The same words as W&B's own agent writes.
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    wandb_args = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    assert args == {key: wandb_args[key] for key in args}

    sweep = Sweep.load(write_sweep(tmp_path / "d.yaml", {"lr": {"value": 0.1}}))  # W&B's default command
    assert plan(sweep, Path("r"))[0].argv == [
        "/usr/bin/env",
        sys.executable,
        "train.py",
        "--lr=0.1",
        "--trainer.default_root_dir=r/lr=0.1",
    ]
    monkeypatch.setenv("GANBENCH_TEST_VAR", "here")
    command = [
        "prog",
        "--x=${envvar:GANBENCH_TEST_VAR}",
        "${envvar:GANBENCH_UNSET_VAR}",
        "${args_no_hyphens}",
    ]
    sweep = Sweep.load(write_sweep(tmp_path / "e.yaml", {"lr": {"value": 0.1}}, command=command))
    assert plan(sweep, Path("r"))[0].argv[:4] == ["prog", "--x=here", "GANBENCH_UNSET_VAR", "lr=0.1"]
    bad = Sweep.load(write_sweep(tmp_path / "f.yaml", {"lr": {"value": 0.1}}, command=["${argz}"]))
    with pytest.raises(SweepError, match=r"unknown macro \$\{argz\}; valid choices: .*\$\{args\}"):
        plan(bad, Path("r"))


def test_random_search_is_seeded_within_bounds_and_capped(tmp_path):
    parameters = {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        "width": {"min": 16, "max": 64},  # ints: int_uniform, as W&B infers it
        "beta": {"min": 0.0, "max": 1.0},  # floats: uniform
        "objective": {"values": ["minimax", "hinge"]},
    }
    sweep = Sweep.load(write_sweep(tmp_path / "r.yaml", parameters, method="random", run_cap=20))
    draws = sweep.expand(seed=3)
    assert len(draws) == 20 and draws == sweep.expand(seed=3) and draws != sweep.expand(seed=4)
    assert all(1e-4 <= d["lr"] <= 1e-2 and 0 <= d["beta"] <= 1 for d in draws)
    assert all(isinstance(d["width"], int) and 16 <= d["width"] <= 64 for d in draws)
    assert {d["objective"] for d in draws} == {"minimax", "hinge"}
    uncapped = Sweep.load(write_sweep(tmp_path / "u.yaml", parameters, method="random"))
    with pytest.raises(SweepError, match="run_cap"):
        uncapped.expand()
    with pytest.raises(SweepError, match="grid needs value or values"):
        Sweep.load(write_sweep(tmp_path / "g.yaml", parameters)).expand()


def test_runs_in_parallel_resumes_and_retries_only_failed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    statuses = ["completed", "diverged", "crashed", "pending"]
    sweep = write_sweep(
        tmp_path / "fake.yaml",
        {"status": {"values": statuses}},
        command=["${interpreter}", "-c", FAKE, "${args}"],
    )
    root = tmp_path / "runs" / "sweeps" / "fake"  # the default root
    # A run finished before the sweep ever ran: skipped, never started.
    (root / "status=pending").mkdir(parents=True)
    (root / "status=pending" / "metrics.json").write_text(json.dumps({"status": "completed"}))

    def calls(status):
        path = root / f"status={status}" / "calls"
        return path.read_text().splitlines() if path.exists() else []

    assert main([str(sweep), "--workers", "2"]) == 1  # the crashed run fails the sweep
    out = capsys.readouterr()
    assert [len(calls(s)) for s in statuses] == [1, 1, 1, 0]
    assert calls("completed") == ["1"]  # OMP_NUM_THREADS=1 set for the runs
    assert "status=crashed: failed (exit 1, metrics.json status crashed" in out.out
    assert re.search(r"status=pending +completed \(earlier\)", out.out)
    assert "--retry-failed" in out.err
    state = json.loads((root / "sweep-state.json").read_text())["runs"]
    assert state["status=crashed"]["returncode"] == 1 and state["status=diverged"]["status"] == "diverged"

    assert main([str(sweep), "--workers", "2"]) == 1  # nothing runs again, the failure is still reported
    assert [len(calls(s)) for s in statuses] == [1, 1, 1, 0]
    assert "failed (earlier)" in capsys.readouterr().out

    assert main([str(sweep), "--dry-run", "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"status=crashed +would retry", out) and FAKE.strip().splitlines()[0] in out
    assert [len(calls(s)) for s in statuses] == [1, 1, 1, 0]

    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a value already set is kept
    assert main([str(sweep), "--retry-failed"]) == 1  # it crashes again
    assert [len(calls(s)) for s in statuses] == [1, 1, 2, 0] and calls("crashed")[-1] == "3"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (
            {"method": "bayes", "parameters": {"a": {"value": 1}}},
            "method: unknown 'bayes'; valid choices: grid, random",
        ),
        ({"method": "grid"}, "parameters:"),
        ({"method": "grid", "parameters": {"a": 3}}, "parameters.a: expected a mapping"),
        (
            {"method": "grid", "parameters": {"a": {"distribution": "beta", "min": 0, "max": 1}}},
            "valid choices: constant",
        ),
        ({"method": "grid", "parameters": {"a": {"value": 1}}, "run_cap": 0}, "run_cap"),
    ],
)
def test_bad_sweep_file_is_one_line_exit_2(tmp_path, capsys, content, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    assert main([str(path), "--dry-run", "--root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err and "Traceback" not in err


def test_flow_style_macros_are_a_yaml_error_naming_the_line(tmp_path, capsys):
    # ${env} is not a plain YAML scalar inside [...]: W&B's files list the command in block style.
    path = tmp_path / "flow.yaml"
    path.write_text("method: grid\nparameters: {a: {value: 1}}\ncommand: [${env}, ${args}]\n")
    assert main([str(path), "--dry-run"]) == 2
    assert "line 3" in capsys.readouterr().err


def test_every_command_of_the_shipped_sweeps_parses(tmp_path, monkeypatch):
    """Every configuration the shipped sweeps generate is parsed and instantiated with ganbench's
    LightningCLI (model, objective, data, trainer; no training), which checks the objective names; its
    other seeds' argvs differ from it only in their seed and directory, checked word by word (parsing is
    ~0.1 s a run; a seed parses as the first one does). A configuration that two files share (the core
    sweeps' are in the five-objective ones) is instantiated once."""
    from ganbench.cli import lightning_main

    monkeypatch.chdir(REPO)  # the sweeps' --config paths are relative to the repository root
    files = sorted((REPO / "configs" / "sweeps").glob("*.yaml"))
    expected_runs = {
        "grid25.yaml": 40,
        "ring8.yaml": 40,
        "grid25_wasserstein_gp.yaml": 10,
        "ring8_wasserstein_gp.yaml": 10,
        "grid25_relativistic.yaml": 10,
        "ring8_relativistic.yaml": 10,
        "grid25_core.yaml": 6,
        "ring8_core.yaml": 6,
        "pacgan_grid25.yaml": 40,
        "pacgan_ring8.yaml": 40,
    }
    assert sorted(f.name for f in files) == sorted(expected_runs)
    instantiated = set()  # the argvs instantiated, less their seed and directory
    for file in files:
        runs = plan(Sweep.load(file), tmp_path / "sweeps" / file.stem)
        count = expected_runs[file.name]
        assert len(runs) == count and len({run.name for run in runs}) == count
        for run in runs:
            assert run.argv[:5] == ["/usr/bin/env", sys.executable, "-m", "ganbench", "fit"]
            args = run.argv[5:]  # lightning_main(run=False) takes no subcommand word
            seed = run.params["seed_everything"]
            own = [f"--seed_everything={seed}", f"--trainer.default_root_dir={run.directory}"]
            assert [w for w in args if w.startswith(("--seed_everything=", "--trainer.default_"))] == own
            setting = tuple(w for w in args if w not in own)
            if setting in instantiated:
                continue
            instantiated.add(setting)
            cli = lightning_main(args, run=False)  # a bad flag or value exits with a message here
            for key, value in run.params.items():
                if key.startswith("model."):
                    assert cli.model.hparams[key.removeprefix("model.")] == value
                    assert cli.config.model[key.removeprefix("model.")] == value
            assert cli.datamodule.hparams.dataset == ("ring" if "ring8" in file.stem else "grid")
            assert cli.config.seed_everything == run.params["seed_everything"]
            assert cli.config.trainer.default_root_dir == str(run.directory)
        # --ensemble: one ganbench ensemble command per objective, over all of the file's seeds.
        from ganbench.runs.sweep import ensemble_command, ensemble_groups

        seeds = sorted({run.params["seed_everything"] for run in runs})
        for group in ensemble_groups(runs):
            argv = ensemble_command(group)
            assert argv[4:6] == ["ensemble", f"--seeds={','.join(map(str, seeds))}"]
    assert not (tmp_path / "sweeps").exists()  # parsing alone writes nothing


def test_ensemble_groups_the_seeds_of_each_configuration(tmp_path):
    from ganbench.runs.sweep import ensemble_command, ensemble_groups

    sweep = Sweep.load(
        write_sweep(
            tmp_path / "s.yaml",
            {"model.objective": {"values": ["minimax", "hinge"]}, "seed_everything": {"values": [0, 1, 2]}},
            command=["${env}", "${interpreter}", "-m", "ganbench", "fit", "--config", "c.yaml", "${args}"],
        )
    )
    groups = ensemble_groups(plan(sweep, tmp_path / "root"))
    assert [[run.params["seed_everything"] for run in g] for g in groups] == [[0, 1, 2], [0, 1, 2]]
    argv = ensemble_command(groups[1])
    assert argv[:5] == ["/usr/bin/env", sys.executable, "-m", "ganbench", "ensemble"]
    assert argv[5] == "--seeds=0,1,2"
    dirs = [argv[i + 1] for i, word in enumerate(argv) if word == "--run_dir"]
    assert dirs == [str(run.directory) for run in groups[1]]
    assert "--model.objective=hinge" in argv and "--config" in argv
    assert not any(w.startswith(("--seed_everything", "--trainer.default_root_dir")) for w in argv)
    # A sweep without seeds, or whose command is not a ganbench fit, cannot be stacked.
    no_seed = Sweep.load(write_sweep(tmp_path / "n.yaml", {"model.objective": {"values": ["minimax"]}}))
    with pytest.raises(SweepError, match="seed_everything"):
        ensemble_groups(plan(no_seed, tmp_path / "root"))
    other = Sweep.load(write_sweep(tmp_path / "o.yaml", {"seed_everything": {"values": [0, 1]}}))
    with pytest.raises(SweepError, match="ganbench fit"):
        ensemble_command(plan(other, tmp_path / "root"))


def test_local_runner_with_ensembles_trains_and_resumes(tmp_path, capsys):
    ring = REPO / "configs" / "toy" / "ring8.yaml"
    command = ["${env}", "${interpreter}", "-m", "ganbench", "fit", "--config", str(ring),
               "--trainer.max_steps=4", "--evaluation.every_n_iterations=2", "--evaluation.num_samples=200",
               "--evaluation.plot=false", "--data.batch_size=32", "${args}"]  # fmt: skip
    path = write_sweep(
        tmp_path / "s.yaml",
        {"model.objective": {"values": ["minimax", "hinge"]}, "seed_everything": {"values": [0, 1]}},
        command=command,
    )
    root = tmp_path / "root"
    assert main([str(path), "--root", str(root), "--ensemble", "--workers", "2"]) == 0
    records = [json.loads(p.read_text()) for p in sorted(root.glob("*/metrics.json"))]
    assert [(r["config"]["model"]["objective"], r["seed"], r["status"]) for r in records] == [
        ("hinge", 0, "completed"), ("hinge", 1, "completed"),
        ("minimax", 0, "completed"), ("minimax", 1, "completed"),
    ]  # fmt: skip
    assert all(r["ensemble"]["size"] == 2 and r["iterations"] == 4 for r in records)
    capsys.readouterr()
    # Run again: everything finished, nothing runs.
    assert main([str(path), "--root", str(root), "--ensemble"]) == 0
    assert "4 completed (earlier)" in capsys.readouterr().out


def test_an_interrupted_ensemble_is_resumed_by_the_sweep(tmp_path, capsys, monkeypatch):
    from ganbench.ensemble import SeedEnsemble
    from ganbench.ensemble_cli import main as ensemble_main
    from ganbench.runs.sweep import ensemble_command, ensemble_groups

    ring = REPO / "configs" / "toy" / "ring8.yaml"
    command = ["${env}", "${interpreter}", "-m", "ganbench", "fit", "--config", str(ring),
               "--trainer.max_steps=30", "--evaluation.every_n_iterations=10", "--evaluation.num_samples=200",
               "--evaluation.plot=false", "--checkpoint.every_n_train_steps=10", "--data.batch_size=32",
               "${args}"]  # fmt: skip
    path = write_sweep(tmp_path / "s.yaml", {"seed_everything": {"values": [0, 1]}}, command=command)
    root = tmp_path / "root"
    # The sweep's ensemble, stopped at iteration 25 (after its checkpoint at 20), as a preemption would.
    (group,) = ensemble_groups(plan(Sweep.load(path), root))
    step = SeedEnsemble.train_iteration

    def stop_at_25(self, real, generators, iteration, diagnostics):
        if iteration == 25:
            raise KeyboardInterrupt
        return step(self, real, generators, iteration, diagnostics)

    with monkeypatch.context() as patch:
        patch.setattr(SeedEnsemble, "train_iteration", stop_at_25)
        assert ensemble_main(ensemble_command(group)[5:]) == 130
    assert json.loads((group[0].directory / "metrics.json").read_text())["status"] == "interrupted"
    capsys.readouterr()

    assert main([str(path), "--root", str(root), "--ensemble"]) == 0
    assert "seed_everything=1: completed (ensemble of 2, resumed)" in capsys.readouterr().out
    for run in group:
        record = json.loads((run.directory / "metrics.json").read_text())
        assert record["status"] == "completed" and record["ensemble"]["resumed_at"] == 20
        assert [h["iteration"] for h in record["history"]] == [10, 20, 30]  # nothing twice


# ----------------------------------------------------------------- kill, preemption, live runs (issue 12)

# A run that records its pid and process group, then waits to be stopped.
SLEEPER = """
import os, pathlib, sys, time
args = dict(word[2:].split("=", 1) for word in sys.argv[1:])
run = pathlib.Path(args["trainer.default_root_dir"])
(run / "pid").write_text(f"{os.getpid()} {os.getpgid(0)}")
time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by init) counts as dead.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def wait_for(condition, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_a_killed_sweep_takes_its_runs_with_it(tmp_path):
    path = write_sweep(
        tmp_path / "s.yaml", {"n": {"values": [1, 2]}}, command=["${interpreter}", "-c", SLEEPER, "${args}"]
    )
    root = tmp_path / "root"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "ganbench", "sweep", str(path), "--root", str(root), "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_files = [root / "n=1" / "pid", root / "n=2" / "pid"]
    try:
        assert wait_for(lambda: all(p.exists() and p.read_text() for p in pid_files))
        runs = [tuple(map(int, p.read_text().split())) for p in pid_files]
        for pid, group in runs:
            assert group == pid != os.getpgid(sweep.pid)  # its own process group: ^C reaches it once
        sweep.kill()  # SIGKILL: no chance to clean up
        sweep.wait()
        assert wait_for(lambda: not any(alive(pid) for pid, _ in runs), timeout_s=20)
    finally:
        sweep.kill()
        for p in pid_files:
            if p.exists() and p.read_text():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(p.read_text().split()[0]), signal.SIGKILL)


def hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding the filelock ``path`` until killed."""
    code = (
        "import time; from filelock import FileLock; "
        f"lock = FileLock({str(path)!r}); lock.acquire(); print('held', flush=True); time.sleep(600)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_one_sweep_per_root_and_no_second_process_on_a_live_run(tmp_path, capsys, monkeypatch):
    from filelock import FileLock

    from ganbench.runs import sweep as sweep_module
    from ganbench.runs.run_dir import LOCK_NAME

    path = write_sweep(
        tmp_path / "s.yaml",
        {"status": {"values": ["completed"]}},
        command=["${interpreter}", "-c", FAKE, "${args}"],
    )
    root = tmp_path / "root"
    root.mkdir()
    holder = hold_lock(root / ".sweep.lock")  # another sweep on this root, still alive
    try:
        assert main([str(path), "--root", str(root)]) == 2
        assert "is in use by another sweep" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()

    run_dir = root / "status=completed"
    run_dir.mkdir()
    lock = FileLock(run_dir / LOCK_NAME, thread_local=False)
    lock.acquire()  # a run of an earlier sweep, still alive
    monkeypatch.setattr(sweep_module, "BUSY_WAIT_S", 1.0)
    try:
        assert main([str(path), "--root", str(root)]) == 1
    finally:
        lock.release()
    out = capsys.readouterr()
    assert "held by another live process" in out.err and "busy" in out.out
    assert not (run_dir / "calls").exists()  # never started a second process
    assert main([str(path), "--root", str(root)]) == 0  # once it ended, the run runs
    assert (run_dir / "calls").read_text().count("\n") == 1


def test_continuation_resumes_fit_runs_and_leaves_other_programs(tmp_path):
    from ganbench.runs.sweep import continuation

    fit = ["python", "-m", "ganbench", "fit", "--config", "c.yaml", f"--trainer.default_root_dir={tmp_path}"]
    other = ["python", "train.py", f"--trainer.default_root_dir={tmp_path}"]
    assert continuation(SweepRun("r", {}, tmp_path, fit)) == fit  # nothing there yet
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "running"}))
    assert continuation(SweepRun("r", {}, tmp_path, fit)) == [*fit, "--overwrite=true"]  # no checkpoint
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert continuation(SweepRun("r", {}, tmp_path, fit)) == [*fit, f"--ckpt_path={last}"]
    assert continuation(SweepRun("r", {}, tmp_path, other)) == other


def test_a_preempted_fit_run_is_resumed_not_restarted(tmp_path, capsys):
    ring = REPO / "configs" / "toy" / "ring8.yaml"
    command = ["${env}", "${interpreter}", "-m", "ganbench", "fit", "--config", str(ring),
               "--trainer.max_steps=100", "--evaluation.every_n_iterations=10",
               "--evaluation.num_samples=100", "--evaluation.plot=false",
               "--checkpoint.every_n_train_steps=10", "--trainer.logger=false",
               "--trainer.enable_progress_bar=false", "${args}"]  # fmt: skip
    path = write_sweep(tmp_path / "s.yaml", {"seed_everything": {"values": [0]}}, command=command)
    root = tmp_path / "root"
    run_dir = root / "seed_everything=0"
    # The run is preempted after its first checkpoint: SIGTERM, recorded as interrupted.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    preempted = subprocess.Popen(
        [*plan(Sweep.load(path), root)[0].argv[1:-1], "--trainer.max_steps=100000",
         f"--trainer.default_root_dir={run_dir}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(lambda: (run_dir / "checkpoints" / "epoch=0-step=10.ckpt").exists(), timeout_s=240)
        preempted.send_signal(signal.SIGTERM)
        assert preempted.wait(timeout=120) != 0
    finally:
        preempted.kill()
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "interrupted"
    stopped_at = record["iterations"]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == stopped_at >= 10  # SIGTERM saved the state it stopped at
    assert stopped_at < 100, "the run finished before it could be preempted"

    assert main([str(path), "--root", str(root)]) == 0
    assert "seed_everything=0: completed (resumed)" in capsys.readouterr().out
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["iterations"] == 100
    iterations = [h["iteration"] for h in record["history"]]
    assert iterations == list(range(10, 101, 10))  # the preempted part's curve is kept, nothing twice
    assert "--ckpt_path=" in (run_dir / "sweep.log").read_text()


def test_a_root_that_is_a_file_is_one_line(tmp_path, capsys):
    path = write_sweep(tmp_path / "s.yaml", {"a": {"values": [1]}}, command=["${interpreter}", "-c", FAKE])
    root = tmp_path / "a-file"
    root.write_text("")
    assert main([str(path), "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {root}") and "Traceback" not in err
