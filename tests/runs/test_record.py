import shutil
import subprocess

from ganbench.runs.record import git_blob_sha1, manifest_provenance


def _git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=True).stdout.decode()


def test_a_copy_without_git_proves_its_commit_by_manifest(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "a.py").write_text("x = 1\n")
    (repo / "b.txt").write_bytes(b"\x00binary\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    commit = _git(repo, "rev-parse", "HEAD").strip()
    manifest = tmp_path / "manifest"
    manifest.write_text(commit + "\n" + _git(repo, "ls-files", "-s"))
    assert git_blob_sha1((repo / "b.txt").read_bytes()) == _git(repo, "hash-object", "b.txt").strip()

    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git"))
    clean = manifest_provenance(manifest, copy)
    assert clean["git_commit"] == commit and clean["git_dirty"] is False and clean["git_diff_sha256"] is None

    (copy / "pkg" / "a.py").write_text("x = 2\n")
    dirty = manifest_provenance(manifest, copy)
    assert dirty["git_commit"] == commit + "-dirty" and dirty["git_dirty"] is True
    assert len(dirty["git_diff_sha256"]) == 64
    (copy / "b.txt").unlink()
    assert manifest_provenance(manifest, copy)["git_diff_sha256"] != dirty["git_diff_sha256"]


def test_the_manifest_decides_when_set(tmp_path, monkeypatch):
    from ganbench.runs import record

    manifest = tmp_path / "manifest"
    manifest.write_text("0" * 40 + "\n")  # a commit with no files: nothing to mismatch
    monkeypatch.setenv(record.SOURCE_MANIFEST_ENV, str(manifest))
    record.provenance.cache_clear()
    try:
        assert record.provenance()["git_commit"] == "0" * 40
        assert record.provenance()["git_source"] == "manifest of 0 files"
    finally:
        monkeypatch.delenv(record.SOURCE_MANIFEST_ENV)
        record.provenance.cache_clear()
