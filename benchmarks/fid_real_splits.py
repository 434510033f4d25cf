"""FID between two real splits of an image dataset (e.g. MNIST train vs test): checks the Inception
weights and the strict-fp32 feature pass against a known value.

    python benchmarks/fid_real_splits.py --dataset mnist --root DATA --weights W.pth \
        [--expect 7.7888 --tolerance 0.01] [--tf32] [--out results/mnist_fid_train_test.md]

Reference (issue "Evaluation through torch-fidelity"): with the weights exported by
``python -m ganbench inception export`` and the 4,000/1,000-digit MNIST subset of
``../shared/tools/mnist_idx.py``, FID(train, test) at strict fp32 was 7.7888 on an H100 (7.7947 with
PyTorch's TF32 defaults). Both splits go to torch-fidelity as uint8 datasets (grey replicated to RGB),
features in strict fp32 unless ``--tf32``; nothing is cached.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
from pathlib import Path

import torch

from ganbench.data.registry import DATASETS
from ganbench.evaluation.fidelity import UInt8Dataset, strict_fp32
from ganbench.runs.atomic import write_atomic


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", help="a registered image dataset (mnist)")
    p.add_argument("--root", required=True, help="its data root (download off)")
    p.add_argument("--weights", required=True, help="torch-fidelity Inception weights (inception export)")
    p.add_argument("--splits", default="train,test", help="the two splits compared (train,test)")
    p.add_argument("--limit", type=int, help="the first N images of each split only (a quick check)")
    p.add_argument("--tf32", action="store_true", help="PyTorch's TF32 defaults instead of strict fp32")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--expect", type=float, help="the expected FID; exit 1 if off by more than --tolerance")
    p.add_argument("--tolerance", type=float, default=0.01)
    p.add_argument("--out", help="also write the result (Markdown) here")
    args = p.parse_args(argv)

    import lightning
    import torch_fidelity

    options = {"root": args.root, "download": False, "reference_limit": args.limit}
    source = DATASETS.build(args.dataset, options, field="--dataset")
    first, second = args.splits.split(",")
    inputs = [UInt8Dataset(source.reference_dataset(first)), UInt8Dataset(source.reference_dataset(second))]
    cuda = torch.cuda.is_available()
    precision = contextlib.nullcontext() if args.tf32 else strict_fp32()
    started = time.perf_counter()
    with precision:
        result = torch_fidelity.calculate_metrics(
            input1=inputs[0],
            input2=inputs[1],
            fid=True,
            feature_extractor_weights_path=args.weights,
            cuda=cuda,
            batch_size=args.batch_size,
            cache=False,
            verbose=False,
        )
    seconds = time.perf_counter() - started
    fid = float(result["frechet_inception_distance"])
    device = (
        torch.cuda.get_device_name()
        if cuda
        else f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
    )
    lines = [
        "| dataset | splits (images) | precision | FID | seconds |",
        "|---|---|---|--:|--:|",
        f"| {args.dataset} | {first} ({len(inputs[0])}) vs {second} ({len(inputs[1])}) | "
        f"{'TF32 defaults' if args.tf32 else 'strict fp32'} | {fid:.4f} | {seconds:.0f} |",
        "",
        f"Command: `python {' '.join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])}`  ",
        f"Device: {device}; python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}, torch-fidelity {torch_fidelity.__version__}; weights "
        f"{Path(args.weights).name}.",
    ]
    if args.expect is not None:
        ok = abs(fid - args.expect) <= args.tolerance
        diff = abs(fid - args.expect)
        lines.append(
            f"Expected {args.expect} ± {args.tolerance}: {'within' if ok else 'OUTSIDE'} (|diff| {diff:.4f})."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        write_atomic(Path(args.out), text)
    return 0 if args.expect is None or abs(fid - args.expect) <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
