"""``python -m ganbench sweep FILE``: run a W&B sweep file locally, with no W&B server.

The file is W&B's own sweep YAML (``program``, ``command``, ``method: grid|random``, ``parameters``,
``run_cap``), so the same file also works with ``wandb sweep FILE`` and ``wandb agent ID``. Commands
are built the way W&B's agent builds them (``wandb/sdk/launch/sweeps/utils.py``): the macros
``${env}``, ``${interpreter}``, ``${program}``, ``${args}`` (``--name=value``), ``${args_no_hyphens}``,
``${args_no_boolean_flags}``, ``${args_no_equals}``, ``${args_json}``, ``${args_json_file}`` and
``${envvar:NAME}``, values written with ``str()``. One difference: ``${interpreter}`` is the Python running
this command (W&B writes ``python``), so that the runs use the same environment.

Each run gets ``--trainer.default_root_dir=ROOT/NAME`` appended, NAME a readable slug of its parameters
(``model.objective=minimax,seed_everything=1``). A run whose ``metrics.json`` says "completed" or
"diverged" (a result too) is skipped, so an interrupted sweep resumes where it stopped; a ``ganbench
fit`` run stopped mid-way (killed, preempted, interrupted) is resumed from its ``checkpoints/last.ckpt``
(``--ckpt_path``), or started again (``--overwrite=true``) when it never wrote one; a run that failed
(non-zero exit or "crashed") is reported and only re-run with ``--retry-failed``. What happened to each
run is kept in ``ROOT/sweep-state.json`` (its status is the one in the run's metrics.json), its output
in ``ROOT/NAME/sweep.log`` (appended, one header per attempt).

Robust to kill and preemption: one sweep at a time holds ``ROOT/.sweep.lock``; every run is its own
process group (a terminal's ^C reaches it once, forwarded by the sweep) and gets SIGTERM if the sweep
dies, even by SIGKILL (Linux); a run directory a live process still holds (its ``.lock``) is never
given a second process. A sweep file's ``command`` runs programs, as W&B's agent does: run only sweep
files you trust.

With ``--ensemble`` the runs that differ only in ``seed_everything`` are trained together by one
``python -m ganbench ensemble`` process (see ``ganbench.ensemble``), in the same run directories; its
output goes to the first member's ``sweep.log``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from filelock import FileLock, Timeout
from scipy import stats

from ganbench.argparser import OneLineParser
from ganbench.runs.atomic import write_json_atomic
from ganbench.runs.ensemble_checkpoint import resumable as ensemble_resumable
from ganbench.runs.record import CRASHED, FINISHED, INTERRUPTED, RecordError, read_record
from ganbench.runs.run_dir import OVERWRITE_OPTION, holds_run, is_locked

DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]  # W&B's default
RUN_DIR_FLAG = "--trainer.default_root_dir"
STATE_NAME = "sweep-state.json"
LOCK_NAME = ".sweep.lock"
LOG_NAME = "sweep.log"
ARGS_FILE = "sweep-args.json"  # ${args_json_file}
BUSY_WAIT_S = 60.0  # how long a run waits for the process of a killed sweep to release its directory
MAX_NAME = 150  # characters of a run directory name before it is shortened with a hash


class SweepError(ValueError):
    """Bad sweep file or option: the message is one line naming the field and the valid choices."""


# --------------------------------------------------------------------------------- parameter spaces


def _bounds(spec: dict[str, Any]) -> tuple[float, float]:
    return float(spec["min"]), float(spec["max"])


def _q(value: float, spec: dict[str, Any]) -> float:
    q = spec.get("q", 1)
    return round(value / q) * q


def _uniform(spec: dict[str, Any], rng: np.random.Generator) -> float:
    low, high = _bounds(spec)
    return float(stats.uniform(loc=low, scale=high - low).rvs(random_state=rng))


def _log_uniform_values(spec: dict[str, Any], rng: np.random.Generator) -> float:
    return float(stats.loguniform(*_bounds(spec)).rvs(random_state=rng))


def _normal(spec: dict[str, Any], rng: np.random.Generator) -> float:
    return float(stats.norm(loc=spec.get("mu", 0.0), scale=spec.get("sigma", 1.0)).rvs(random_state=rng))


def _categorical(spec: dict[str, Any], rng: np.random.Generator) -> Any:
    values = spec["values"]
    return values[int(rng.choice(len(values), p=spec.get("probabilities")))]


# W&B's distributions (docs: "Sweep configuration options"), sampled with scipy.stats.
SAMPLERS: dict[str, Callable[[dict[str, Any], np.random.Generator], Any]] = {
    "constant": lambda spec, rng: spec["value"],
    "categorical": _categorical,
    "uniform": _uniform,
    "int_uniform": lambda spec, rng: int(stats.randint(spec["min"], spec["max"] + 1).rvs(random_state=rng)),
    "q_uniform": lambda spec, rng: _q(_uniform(spec, rng), spec),
    "log_uniform_values": _log_uniform_values,
    "q_log_uniform_values": lambda spec, rng: _q(_log_uniform_values(spec, rng), spec),
    "log_uniform": lambda spec, rng: math.exp(_uniform(spec, rng)),  # min, max are exponents
    "normal": _normal,
    "q_normal": lambda spec, rng: _q(_normal(spec, rng), spec),
    "log_normal": lambda spec, rng: math.exp(_normal(spec, rng)),
}


def distribution(name: str, spec: Any) -> str:
    """The distribution of a parameter spec, inferred as W&B does when ``distribution`` is absent."""
    if not isinstance(spec, dict):
        raise SweepError(
            f"parameters.{name}: expected a mapping (value, values or distribution), got {spec!r}"
        )
    if "distribution" in spec:
        kind = spec["distribution"]
    elif "value" in spec:
        kind = "constant"
    elif "values" in spec:
        kind = "categorical"
    elif "min" in spec and "max" in spec:
        ints = isinstance(spec["min"], int) and isinstance(spec["max"], int)
        kind = "int_uniform" if ints else "uniform"
    else:
        raise SweepError(f"parameters.{name}: needs value, values, or min and max")
    if kind not in SAMPLERS:
        raise SweepError(
            f"parameters.{name}.distribution: unknown {kind!r}; valid choices: {', '.join(SAMPLERS)}"
        )
    if kind == "categorical" and (not isinstance(spec.get("values"), list) or not spec["values"]):
        raise SweepError(f"parameters.{name}.values: expected a non-empty list")
    if kind not in ("constant", "categorical", "normal", "q_normal", "log_normal"):
        if "min" not in spec or "max" not in spec:
            raise SweepError(f"parameters.{name}: distribution {kind} needs min and max")
    return kind


def expand_grid(parameters: dict[str, Any], run_cap: int | None, seed: int) -> list[dict[str, Any]]:
    """The cartesian product of the values, first parameter slowest; at most run_cap runs."""
    axes = []
    for name, spec in parameters.items():
        kind = distribution(name, spec)
        if kind not in ("constant", "categorical"):
            raise SweepError(f"parameters.{name}: method grid needs value or values, got distribution {kind}")
        axes.append(spec["values"] if kind == "categorical" else [spec["value"]])
    runs = [dict(zip(parameters, values, strict=True)) for values in itertools.product(*axes)]
    return runs[:run_cap] if run_cap is not None else runs


def sample_random(parameters: dict[str, Any], run_cap: int | None, seed: int) -> list[dict[str, Any]]:
    """run_cap independent draws of every parameter from one seeded generator (reproducible names)."""
    if run_cap is None:
        raise SweepError("run_cap: method random needs run_cap (a W&B agent would sample without end)")
    kinds = {name: distribution(name, spec) for name, spec in parameters.items()}
    rng = np.random.default_rng(seed)
    return [
        {name: SAMPLERS[kinds[name]](parameters[name], rng) for name in parameters} for _ in range(run_cap)
    ]


METHODS: dict[str, Callable[[dict[str, Any], int | None, int], list[dict[str, Any]]]] = {
    "grid": expand_grid,
    "random": sample_random,
}


# ---------------------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file."""

    path: Path
    method: str
    parameters: dict[str, Any]
    command: list[str]
    program: str | None = None
    run_cap: int | None = None

    @classmethod
    def load(cls, path: str | Path) -> Sweep:
        path = Path(path)
        try:
            config = yaml.safe_load(path.read_text())
        except OSError as error:
            raise SweepError(f"FILE: cannot read {path} ({error.strerror})") from None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(error, "problem", None) or type(error).__name__
            raise SweepError(f"FILE: {path} is not valid YAML ({where}{problem})") from None
        if not isinstance(config, dict):
            raise SweepError(f"FILE: {path} is not a W&B sweep file (expected a mapping)")
        method = config.get("method")
        if method not in METHODS:
            raise SweepError(
                f"method: unknown {method!r}; valid choices: {', '.join(METHODS)} (bayes needs W&B's server)"
            )
        parameters = config.get("parameters")
        if not isinstance(parameters, dict) or not parameters:
            raise SweepError("parameters: expected a mapping of parameter names to value/values/distribution")
        for name, spec in parameters.items():
            if isinstance(spec, dict) and "parameters" in spec:
                raise SweepError(f"parameters.{name}: nested parameters are not supported; use dotted names")
        command = config.get("command", DEFAULT_COMMAND)
        if not isinstance(command, list) or not command:
            raise SweepError(
                "command: expected a list of words, e.g. [${env}, ${interpreter}, ${program}, ${args}]"
            )
        run_cap = config.get("run_cap")
        if run_cap is not None and (not isinstance(run_cap, int) or run_cap < 1):
            raise SweepError(f"run_cap: expected a positive integer, got {run_cap!r}")
        program = config.get("program")
        return cls(path, method, parameters, [str(word) for word in command], program, run_cap)

    def expand(self, seed: int = 0) -> list[dict[str, Any]]:
        return METHODS[self.method](self.parameters, self.run_cap, seed)


def _slug(value: Any) -> str:
    return re.sub(r"[^\w.+-]", "_", str(value))


def run_name(params: dict[str, Any]) -> str:
    """``a=1,b=x``, parameters sorted by name: the same parameters always give the same directory."""
    name = ",".join(f"{_slug(k)}={_slug(params[k])}" for k in sorted(params))
    if len(name) > MAX_NAME:  # file systems cap names at 255 bytes
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: MAX_NAME - 11]}-{digest}"
    return name


def command_args(params: dict[str, Any]) -> dict[str, list[str]]:
    """The ``${args...}`` macro expansions, as W&B's ``create_sweep_command_args`` writes them."""
    flags = [f"--{k}={v}" for k, v in params.items()]
    return {
        "args": flags,
        "args_no_hyphens": [f"{k}={v}" for k, v in params.items()],
        "args_no_equals": [word for k, v in params.items() for word in (f"--{k}", str(v))],
        "args_no_boolean_flags": [
            f"--{k}" if isinstance(v, bool) else f"--{k}={v}"
            for k, v in params.items()
            if not (isinstance(v, bool) and not v)
        ],
        "args_json": [json.dumps(params)],
    }


def build_command(sweep: Sweep, params: dict[str, Any], run_dir: Path) -> list[str]:
    """The argv of one run: the sweep's command with its macros expanded, then the run directory flag."""
    macros = {
        **command_args(params),
        "env": ["/usr/bin/env"] if platform.system() != "Windows" else [],
        "interpreter": [sys.executable],
        "args_json_file": [str(run_dir / ARGS_FILE)],
    }
    if sweep.program is not None:
        macros["program"] = [sweep.program]
    argv: list[str] = []
    for word in sweep.command:
        # ${envvar:NAME} anywhere in a word; W&B keeps NAME itself when the variable is unset.
        word = re.sub(r"\$\{envvar:([A-Z0-9_]*)\}", lambda m: os.environ.get(m.group(1), m.group(1)), word)
        if word.startswith("${") and word.endswith("}"):
            macro = word[2:-1]
            if macro not in macros:
                valid = ", ".join(f"${{{m}}}" for m in sorted(macros))
                hint = " (the sweep file has no program)" if macro == "program" else ""
                raise SweepError(f"command: unknown macro {word}{hint}; valid choices: {valid}")
            argv += macros[macro]
        else:
            argv.append(word)
    return [*argv, f"{RUN_DIR_FLAG}={run_dir}"]


@dataclass
class SweepRun:
    name: str
    params: dict[str, Any]
    directory: Path
    argv: list[str]


def plan(sweep: Sweep, root: Path, seed: int = 0) -> list[SweepRun]:
    """Every run of the sweep with its directory and command; repeated draws get a ~N suffix."""
    runs = []
    seen: dict[str, int] = {}
    for params in sweep.expand(seed):
        name = run_name(params)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # random search can draw the same point twice: each is its own run
            name = f"{name}~{seen[name]}"
        directory = root / name
        runs.append(SweepRun(name, params, directory, build_command(sweep, params, directory)))
    return runs


# ------------------------------------------------------------------------------------------ running


def record_status(directory: Path) -> tuple[str | None, float | None]:
    """``status`` and ``wall_time_s`` of the run's metrics.json (None, None without a readable one)."""
    try:
        record = read_record(directory)
    except RecordError:
        return None, None
    return record.get("status"), record.get("wall_time_s")


@dataclass
class Outcome:
    run: SweepRun
    status: str  # completed, diverged, failed, or what was done instead (skipped, would run)
    wall_time_s: float | None = None
    returncode: int | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")

    @property
    def text(self) -> str:
        return f"{self.status} ({self.detail})" if self.detail else self.status


def previous_outcome(run: SweepRun, state: dict[str, Any]) -> Outcome | None:
    """The outcome that makes this run skip: finished, or failed without --retry-failed asked for."""
    status, wall = record_status(run.directory)
    earlier = state.get(run.name, {})
    wall = earlier.get("wall_time_s", wall)  # the process's time, as for runs of this call, if known
    if status in FINISHED:
        return Outcome(run, status, wall, detail="earlier")
    # An interrupted (or killed: still "running") run is not a failure of the run: it runs again.
    if status == CRASHED or (earlier.get("status") == "failed" and status != INTERRUPTED):
        return Outcome(run, "failed", wall, earlier.get("returncode"), "earlier")
    return None


def is_fit_command(argv: Sequence[str]) -> bool:
    """Whether ``argv`` runs ``ganbench fit`` (``python -m ganbench fit``), which can resume."""
    return any(argv[i] == "fit" and argv[i - 1] == "ganbench" for i in range(1, len(argv)))


def continuation(run: SweepRun) -> list[str]:
    """The argv that continues an unfinished run: from its last checkpoint, else from scratch.

    A fit run killed or preempted mid-way resumes from ``checkpoints/last.ckpt`` (the benchmark on a
    preemptible cluster finishes); one that wrote no checkpoint replaces its partial files. Other
    programs run as written.
    """
    if not is_fit_command(run.argv) or not holds_run(run.directory):
        return run.argv
    last = run.directory / "checkpoints" / "last.ckpt"
    if last.is_file():
        return [*run.argv, f"--ckpt_path={last}"]
    return [*run.argv, OVERWRITE_OPTION]


def wait_until_free(directories: Sequence[Path], timeout_s: float) -> bool:
    """Wait for live processes (of a killed sweep) to release the run directories; False if they hold on."""
    deadline = time.monotonic() + timeout_s
    while any(is_locked(d) for d in directories):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec function that asks Linux to SIGTERM the child when the sweep dies, even by SIGKILL.

    libc's prctl is looked up here, in the parent: the child, forked from a threaded process, only
    makes the one system call before exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def set_signal() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return set_signal


_PREEXEC = _parent_death_signal()


def start(argv: list[str], env: dict[str, str], log: Any) -> subprocess.Popen:
    """Start a run in its own process group, to be stopped by the sweep (and with it)."""
    return subprocess.Popen(
        argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_PREEXEC
    )


def _open_log(path: Path, argv: Sequence[str]) -> Any:
    log = open(path, "a")  # earlier attempts' output is kept
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(argv)}\n")
    log.flush()
    return log


def execute(run: SweepRun, env: dict[str, str], processes: dict[int, subprocess.Popen]) -> Outcome:
    """Run one command to its end, output to RUN_DIR/sweep.log; the status comes from metrics.json."""
    run.directory.mkdir(parents=True, exist_ok=True)
    if not wait_until_free([run.directory], BUSY_WAIT_S):
        return Outcome(run, "busy", None, None, f"{run.directory} is held by another live process")
    if str(run.directory / ARGS_FILE) in run.argv:
        write_json_atomic(run.directory / ARGS_FILE, run.params)
    argv = continuation(run)
    started = time.monotonic()
    with _open_log(run.directory / LOG_NAME, argv) as log:
        try:
            process = start(argv, env, log)
        except OSError as error:
            return Outcome(run, "failed", 0.0, None, f"cannot start: {error.strerror}")
        processes[process.pid] = process
        try:
            returncode = process.wait()
        finally:
            processes.pop(process.pid, None)
    wall = time.monotonic() - started
    status, _ = record_status(run.directory)
    resumed = ["resumed"] if any(a.startswith("--ckpt_path=") for a in argv[len(run.argv) :]) else []
    if status in FINISHED:  # the record is the truth: the state never contradicts metrics.json
        notes = [f"exit {returncode}"] if returncode else []
        return Outcome(run, status, wall, returncode, ", ".join(notes + resumed))
    detail = ", ".join(
        [f"exit {returncode}", f"metrics.json status {status}" if status else "no metrics.json", *resumed]
    )
    return Outcome(run, "failed", wall, returncode, f"{detail}; see {run.directory / LOG_NAME}")


SEED_PARAMETER = "seed_everything"


def ensemble_groups(runs: Sequence[SweepRun]) -> list[list[SweepRun]]:
    """Runs that differ only in their seed, grouped (in sweep order): each group is one ensemble."""
    groups: dict[str, list[SweepRun]] = {}
    for run in runs:
        if SEED_PARAMETER not in run.params:
            raise SweepError(f"--ensemble: the sweep has no {SEED_PARAMETER} parameter to stack seeds over")
        rest = {k: v for k, v in run.params.items() if k != SEED_PARAMETER}
        groups.setdefault(json.dumps(rest, sort_keys=True, default=str), []).append(run)
    return list(groups.values())


def ensemble_command(runs: Sequence[SweepRun]) -> list[str]:
    """The argv of ``ganbench ensemble`` training ``runs`` (one fit command each, same but the seed)."""
    argv = runs[0].argv
    fit = next((i for i in range(1, len(argv)) if argv[i] == "fit" and argv[i - 1] == "ganbench"), None)
    if fit is None:
        raise SweepError("--ensemble: the sweep's command must run `ganbench fit` (python -m ganbench fit)")
    own = (f"--{SEED_PARAMETER}", RUN_DIR_FLAG)
    rest = [a for a in argv[fit + 1 :] if not any(a == f or a.startswith(f + "=") for f in own)]
    if any(a in own for a in argv[fit + 1 :]):
        raise SweepError(f"--ensemble: write the seed as --{SEED_PARAMETER}=VALUE (${{args}}) in the command")
    seeds = ",".join(str(run.params[SEED_PARAMETER]) for run in runs)
    dirs = [word for run in runs for word in ("--run_dir", str(run.directory))]
    return [*argv[:fit], "ensemble", f"--seeds={seeds}", *dirs, *rest]


def execute_ensemble(
    runs: Sequence[SweepRun], env: dict[str, str], processes: dict[int, subprocess.Popen]
) -> list[Outcome]:
    """Run a group of seeds as one ensemble process; each member's status comes from its metrics.json."""
    argv = ensemble_command(runs)
    for run in runs:
        run.directory.mkdir(parents=True, exist_ok=True)
    if not wait_until_free([run.directory for run in runs], BUSY_WAIT_S):
        return [Outcome(run, "busy", None, None, "held by another live process") for run in runs]
    directories = [run.directory for run in runs]
    seeds = [int(run.params[SEED_PARAMETER]) for run in runs]
    notes = [f"ensemble of {len(runs)}"]
    if ensemble_resumable(directories, seeds):
        notes.append("resumed")  # the ensemble continues from its members' checkpoints by itself
    elif any(holds_run(d) for d in directories):
        argv = [*argv, OVERWRITE_OPTION]  # unfinished and not resumable: start it again
    log_path = runs[0].directory / LOG_NAME
    started = time.monotonic()
    with _open_log(log_path, argv) as log:
        try:
            process = start(argv, env, log)
        except OSError as error:
            return [Outcome(run, "failed", 0.0, None, f"cannot start: {error.strerror}") for run in runs]
        processes[process.pid] = process
        try:
            returncode = process.wait()
        finally:
            processes.pop(process.pid, None)
    wall = time.monotonic() - started
    outcomes = []
    for run in runs:
        status, _ = record_status(run.directory)
        if status in FINISHED:
            outcomes.append(Outcome(run, status, wall, returncode, ", ".join(notes)))
        else:
            detail = f"ensemble exit {returncode}, metrics.json status {status}; see {log_path}"
            outcomes.append(Outcome(run, "failed", wall, returncode, detail))
    return outcomes


def _save_state(root: Path, sweep: Sweep, state: dict[str, Any]) -> None:
    write_json_atomic(root / STATE_NAME, {"sweep": str(sweep.path), "runs": state})


def _load_state(root: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((root / STATE_NAME).read_text()).get("runs", {}))
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}


@dataclass
class SweepResult:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False


def run_sweep(
    sweep: Sweep,
    root: Path,
    workers: int = 1,
    retry_failed: bool = False,
    dry_run: bool = False,
    seed: int = 0,
    echo: Callable[[str], None] = print,
    ensemble: bool = False,
) -> SweepResult:
    """Run the sweep's pending runs on ``workers`` parallel processes; returns every run's outcome."""
    runs = plan(sweep, root, seed)
    state = _load_state(root)
    result = SweepResult()
    pending = []
    for run in runs:
        previous = previous_outcome(run, state)
        if previous is not None and not (previous.failed and retry_failed):
            result.outcomes.append(previous)
        elif dry_run:
            result.outcomes.append(Outcome(run, "would retry" if previous else "would run"))
            if not ensemble:
                echo(shlex.join(continuation(run)))
        else:
            pending.append(run)
    if dry_run and ensemble:
        waiting = [o.run for o in result.outcomes if o.status.startswith("would")]
        for group in ensemble_groups(waiting):
            echo(shlex.join(ensemble_command(group)))
    if not pending:
        return result
    # Each job is a list of runs: one run, or with --ensemble the seeds of one configuration.
    jobs = ensemble_groups(pending) if ensemble else [[run] for run in pending]
    if ensemble:
        for group in jobs:
            ensemble_command(group)  # a command that cannot be stacked fails before anything runs

    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK_NAME, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SweepError(
            f"--root: {root} is in use by another sweep (it holds {root / LOCK_NAME}); wait for it to end"
        ) from None
    try:
        _run_jobs(sweep, root, jobs, ensemble, workers, state, result, echo, len(pending))
    finally:
        lock.release()
    if result.interrupted:  # not recorded in the state: these run again next time
        recorded = {id(o.run) for o in result.outcomes}
        result.outcomes += [Outcome(run, INTERRUPTED) for run in pending if id(run) not in recorded]
    return result


def _run_jobs(
    sweep: Sweep,
    root: Path,
    jobs: list[list[SweepRun]],
    ensemble: bool,
    workers: int,
    state: dict[str, Any],
    result: SweepResult,
    echo: Callable[[str], None],
    total: int,
) -> None:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # parallel runs must not each take every core
    processes: dict[int, subprocess.Popen] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: set[Future[list[Outcome]]] = {
            pool.submit(_execute_job, job, ensemble, env, processes) for job in jobs
        }
        try:
            while futures:
                finished, futures = wait(futures, return_when=FIRST_COMPLETED)
                for outcome in (o for future in finished for o in future.result()):
                    done += 1
                    result.outcomes.append(outcome)
                    if outcome.status != "busy":  # a busy run is another process's: nothing to record
                        state[outcome.run.name] = {
                            "status": outcome.status,
                            "record_status": record_status(outcome.run.directory)[0],
                            "returncode": outcome.returncode,
                            "wall_time_s": outcome.wall_time_s,
                            "argv": outcome.run.argv,
                        }
                        _save_state(root, sweep, state)
                    echo(f"[{done}/{total}] {outcome.run.name}: {outcome.text}")
        except KeyboardInterrupt:
            result.interrupted = True
            for future in futures:
                future.cancel()
            _stop(processes)


def _execute_job(
    job: list[SweepRun], ensemble: bool, env: dict[str, str], processes: dict[int, subprocess.Popen]
) -> list[Outcome]:
    return execute_ensemble(job, env, processes) if ensemble else [execute(job[0], env, processes)]


def _stop(processes: dict[int, subprocess.Popen], grace_s: float = 30.0) -> None:
    """SIGINT once to each run's process group (Lightning records them as "interrupted"; their own
    group keeps the terminal's ^C from reaching them a second time), SIGKILL after ``grace_s``."""
    for process in list(processes.values()):
        try:
            os.killpg(process.pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace_s
    for process in list(processes.values()):
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """One line per run: its directory, what this call did (failures with the reason), wall time, then
    iterations and final headline metrics from its metrics.json (``ganbench.runs.terminal``)."""
    from ganbench.runs.terminal import results_table

    ordered = sorted(outcomes, key=lambda o: o.run.name)
    wall = ["" if o.wall_time_s is None else f"{o.wall_time_s:.1f} s" for o in ordered]
    columns = {"status": [o.text for o in ordered], "wall time": wall}
    return results_table([o.run.directory for o in ordered], columns)


# ------------------------------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench sweep",
        description="Run a W&B sweep file (method grid or random) locally, without a W&B server: one "
        "process per run, resumable. Run it from the directory the sweep's command expects (the repo root).",
    )
    p.add_argument("file", metavar="FILE", help="W&B sweep YAML, e.g. configs/sweeps/ring8.yaml")
    p.add_argument(
        "--workers", type=int, default=1, help="runs at once (1); each with OMP_NUM_THREADS=1 unless set"
    )
    p.add_argument("--root", help="run directories go under ROOT/NAME (runs/sweeps/<FILE stem>)")
    p.add_argument("--retry-failed", action="store_true", help="run again the runs that failed before")
    p.add_argument(
        "--dry-run", action="store_true", help="print the commands of the pending runs, run nothing"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of method random's draws (0)")
    p.add_argument(
        "--ensemble",
        action="store_true",
        help="train the seeds of each configuration together in one process (python -m ganbench "
        "ensemble: stacked parameters, same results up to float rounding); fit commands only",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench sweep``: 0 if every run finished, 1 if some failed, 2 on bad input, 130 on ^C."""
    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    # A scheduler's SIGTERM stops the sweep like ^C: the runs are interrupted cleanly, then resumed.
    try:
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        return _main(args)
    try:
        return _main(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _main(args: argparse.Namespace) -> int:
    try:
        if args.workers < 1:
            raise SweepError(f"--workers: must be >= 1, got {args.workers}")
        sweep = Sweep.load(args.file)
        root = Path(args.root) if args.root else Path("runs") / "sweeps" / Path(args.file).stem
        result = run_sweep(
            sweep, root, args.workers, args.retry_failed, args.dry_run, args.seed, ensemble=args.ensemble
        )
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. --root names a file, or a folder this user cannot write to
        print(f"error: {error.filename or '--root'}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(summary_table(result.outcomes))
    failed = [o for o in result.outcomes if o.failed]
    print(f"{len(result.outcomes)} runs in {root}: " + ", ".join(_counts(result.outcomes)))
    busy = [o for o in result.outcomes if o.status == "busy"]
    if busy:
        print(f"{len(busy)} run(s) held by another live process: not started", file=sys.stderr)
        return 1
    if result.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    if failed:
        hint = "" if args.retry_failed else " (--retry-failed runs them again)"
        print(f"{len(failed)} run(s) failed{hint}", file=sys.stderr)
        return 1
    return 0


def _counts(outcomes: Sequence[Outcome]) -> list[str]:
    counts: dict[str, int] = {}
    for o in outcomes:
        key = f"{o.status} ({o.detail})" if o.detail == "earlier" else o.status
        counts[key] = counts.get(key, 0) + 1
    return [f"{v} {k}" for k, v in sorted(counts.items())]


if __name__ == "__main__":
    sys.exit(main())
