"""Which commit a run record's dirty tree was: rebuild the tree and compare its ``git_diff_sha256``.

A GPU machine of the device tool got this repo's tree on top of a .git that sat on the session's first
commit, so its records say ``BASE-dirty`` with a diff hash. If the tree sent was exactly COMMIT (plus a
few untracked files the call carried, whose names enter the hash), rebuilding that tree on BASE gives the
same hash: then the code that ran is COMMIT's.

    python benchmarks/device_tree_provenance.py --base 1f87d55 --commit ca40694 \\
        --untracked .devsrc/manifest --untracked .whl/x.whl ... --expect HASH [--out FILE.json]

Exit 0 when the hashes match, 1 when not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ganbench.runs.record import diff_sha256


def _git(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=True).stdout


def rebuilt_diff_sha256(repo: Path, base: str, commit: str, untracked: list[str]) -> str:
    """``ganbench.runs.record.provenance``'s hash of COMMIT's files checked out over BASE's index."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        # A clone, not a worktree: a worktree shares this repo's .git/info/exclude, which may hide the
        # carried files that the machine's copy listed as untracked.
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(repo), str(tree)], check=True)
        _git(tree, "checkout", "-q", "--detach", base)
        _git(tree, "checkout", "-q", commit, "--", ".")
        _git(tree, "reset", "-q", base)  # index back on BASE: COMMIT's new files are untracked
        deleted = _git(tree, "diff", "--name-only", "-z", "--diff-filter=D", base, commit).decode()
        for name in filter(None, deleted.split("\0")):
            (tree / name).unlink(missing_ok=True)
        for name in untracked:
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).touch()  # only the names enter the hash
        diff = _git(tree, "diff", "HEAD", "--binary")
        others = _git(tree, "ls-files", "--others", "--exclude-standard", "-z")
    return diff_sha256(diff, others)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="the commit the records name (without -dirty)")
    p.add_argument("--commit", required=True, help="the commit the tree is claimed to be")
    p.add_argument("--untracked", action="append", default=[], help="a carried untracked file's path")
    p.add_argument("--expect", required=True, help="the records' git_diff_sha256")
    p.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = p.parse_args()
    repo = Path(_git(Path.cwd(), "rev-parse", "--show-toplevel").decode().strip())
    base = _git(repo, "rev-parse", args.base).decode().strip()
    commit = _git(repo, "rev-parse", args.commit).decode().strip()
    computed = rebuilt_diff_sha256(repo, base, commit, args.untracked)
    result = {
        "records_git_commit": base + "-dirty",
        "records_git_diff_sha256": args.expect,
        "tree_commit": commit,
        "carried_untracked": sorted(args.untracked),
        "rebuilt_git_diff_sha256": computed,
        "match": computed == args.expect,
        "command": " ".join(["python", *sys.argv]),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if result["match"] else 1


if __name__ == "__main__":
    sys.exit(main())
