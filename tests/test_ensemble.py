"""Seed ensembles: each member follows the run its seed gives alone, and fails alone."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.cli import lightning_main, main
from ganbench.ensemble import stack_sizes
from ganbench.ensemble_cli import build_ensemble, parse_seeds
from ganbench.objectives import OBJECTIVES

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "--config",
    str(REPO / "configs" / "toy" / "ring8.yaml"),
    "--trainer.max_steps=12",
    "--trainer.log_every_n_steps=3",
    "--trainer.enable_progress_bar=false",
    "--evaluation.every_n_iterations=6",
    "--evaluation.num_samples=400",
    "--evaluation.plot=false",
    "--checkpoint.every_n_train_steps=12",
    "--data.batch_size=64",
]


def single_run(run_dir: Path, args: list[str], seed: int) -> tuple[dict, dict]:
    code = main(
        [
            "fit",
            *args,
            f"--seed_everything={seed}",
            f"--trainer.default_root_dir={run_dir}",
            "--trainer.logger=false",
        ]
    )
    assert code == 0
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return json.loads((run_dir / "metrics.json").read_text()), state


PACKED_BATCHNORM = [  # PacGAN's nets (BatchNorm in G: per-member running statistics), small, packing 2
    "--model.net=pacgan",
    '--model.net_options={"generator_hidden": 16, "generator_layers": 2, "discriminator_hidden": 8}',
    "--model.packing=2",
]

# Every registered objective, plus EMA, a regularizer, random label flips and BatchNorm nets: a member
# equals its single-seed fit run. Relativistic runs use one member: its losses see only logit
# differences, so some of D's gradients are rounding noise, which Adam (dividing by sqrt(v)) turns into
# updates of up to lr; a batched matmul of S > 1 rounds differently from one matmul, so those elements
# drift by ~lr per iteration. With S = 1 the ensemble's arithmetic is the single run's.
R1 = '--model.regularizers=[{"name": "r1", "options": {"gamma": 1}}]'
CASES = {
    **{name: ([f"--model.objective={name}"], [0, 3]) for name in OBJECTIVES.names()},
    "relativistic": (["--model.objective=relativistic"], [3]),
    "ema": (["--model.objective=hinge", "--model.ema_decay=0.9"], [0, 3]),
    "r1": (["--model.objective=nonsaturating", R1], [0, 3]),
    "lr_decay": (["--model.objective=least_squares", "--model.lr_decay_start=0.25"], [0, 3]),
    "bce_flips": (["--model.objective=bce", "--model.objective_options.flip_prob=0.2"], [0, 3]),
    "batchnorm_packed": (["--model.ema_decay=0.9", *PACKED_BATCHNORM], [1, 2]),
    # compile_step: the stack's whole iteration as one graph, against each seed's compiled fit, with PacGAN's
    # simultaneous updates and packing, label flips and EMA, traced by Dynamo and AOTAutograd without
    # Inductor's code generation (conftest's trace_only_compile; Inductor's numerics and BatchNorm in a
    # compiled iteration are tests/test_compiled_iteration.py's)
    "compile_step": (
        [
            "--model.compile_step=true",
            "--model.packing=2",
            "--model.update=simultaneous",
            "--model.objective=bce",
            "--model.objective_options.flip_prob=0.2",
            "--model.ema_decay=0.9",
        ],
        [0, 3],
    ),  # fmt: skip
}


def test_every_objective_is_covered():
    assert set(OBJECTIVES.names()) <= set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_members_follow_their_single_seed_runs(tmp_path, request, case):
    extra, seeds = CASES[case]
    if case == "compile_step":
        # The stack's trace; Inductor's numerics are test_compiled_iteration's.
        request.getfixturevalue("trace_only_compile")
    args = [*ARGS, *extra]
    run = build_ensemble(args, seeds, [tmp_path / f"member{s}" for s in seeds])
    run.run()
    assert all((stack.compiled is not None) == (case == "compile_step") for stack in run.ensemble.stacks)
    assert run.ensemble.rule == ("simultaneous" if "--model.update=simultaneous" in args else "alternating")
    # The compiled stack against eager single runs: one trace (the stack's), not one per seed.
    single_args = [arg for arg in args if arg != "--model.compile_step=true"]
    for seed in seeds:
        alone, state = single_run(tmp_path / f"single{seed}", single_args, seed)
        member_state = torch.load(
            tmp_path / f"member{seed}" / "checkpoints" / "final.ckpt", weights_only=True
        )
        member_state = member_state["state_dict"]
        assert set(member_state) == set(state)
        for name, value in state.items():
            torch.testing.assert_close(member_state[name], value, rtol=1e-4, atol=1e-5, msg=name)
        member = json.loads((tmp_path / f"member{seed}" / "metrics.json").read_text())
        assert member["status"] == alone["status"] == "completed"
        assert member["iterations"] == alone["iterations"] == 12
        assert member["seed"] == seed and member["ensemble"]["seeds"] == seeds
        assert (
            [h["iteration"] for h in member["history"]]
            == [h["iteration"] for h in alone["history"]]
            == [6, 12]
        )
        assert member["metrics"]["modes_captured"] == alone["metrics"]["modes_captured"]
        assert member["metrics"]["high_quality_fraction"] == pytest.approx(
            alone["metrics"]["high_quality_fraction"], abs=0.01
        )
        compiled = case == "compile_step"
        assert member["config"]["model"] == {**alone["config"]["model"], "compile_step": compiled}
        log = (tmp_path / f"member{seed}" / "train_log" / "metrics.csv").read_text().splitlines()
        assert log[0].startswith("step,train/d_loss") and len(log) == 1 + 4  # iterations 3, 6, 9, 12
    if len(seeds) > 1:  # different seeds are different runs
        first, second = (run.ensemble.member_state(i)["generator"] for i in (0, 1))
        assert not all(torch.equal(first[name], second[name]) for name in first)


def test_a_diverging_member_stops_alone(tmp_path):
    args = [*ARGS, "--model.objective=nonsaturating", "--model.divergence_check_every=4"]
    alone = build_ensemble(args, [0], [tmp_path / "alone"])
    alone.run()
    run = build_ensemble(args, [0, 1], [tmp_path / "healthy", tmp_path / "broken"])
    with torch.no_grad():
        for p in run.ensemble.stacks[0].discriminator.parameters():
            p[1].fill_(float("nan"))
    run.run()
    broken = json.loads((tmp_path / "broken" / "metrics.json").read_text())
    assert broken["status"] == "diverged" and broken["diverged_at"] == 1 and broken["iterations"] == 4
    assert broken["history"] == [] and broken["metrics"] == {}
    healthy = json.loads((tmp_path / "healthy" / "metrics.json").read_text())
    assert healthy["status"] == "completed" and healthy["iterations"] == 12
    for name, value in run.ensemble.member_state(0)["generator"].items():
        torch.testing.assert_close(
            value, alone.ensemble.member_state(0)["generator"][name], rtol=1e-5, atol=1e-6
        )


def test_seed_lists_and_bad_input(tmp_path, capsys):
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    with pytest.raises(ValueError, match="--seeds"):
        parse_seeds("0-x")
    with pytest.raises(ValueError, match="--seeds"):
        parse_seeds("5-2")
    for argv, field in (
        (["--seeds", "a,b", *ARGS], "--seeds"),
        (["--seeds", "0,0", *ARGS], "repeats a seed"),
        (["--seeds", "0,1", "--stack_size=0", *ARGS], "--stack_size: must be a positive number"),
        (["--seeds", "0", "--seed_everything=3", *ARGS], "--seed_everything"),
        (["--seeds", "0,1", "--root", str(tmp_path), *ARGS, "--model.objective=nope"], "model.objective"),
    ):
        assert main(["ensemble", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and field in err and "\n" not in err
    assert not list(tmp_path.iterdir())  # nothing was written for bad input


def test_member_weights_load_for_test(tmp_path):
    run_dir = tmp_path / "member"
    run = build_ensemble([*ARGS, "--trainer.max_steps=6"], [2], [run_dir])
    run.run()
    final = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    cli = lightning_main(
        ["test", "--config", str(run_dir / "config.yaml"),
         "--ckpt_path", str(run_dir / "checkpoints" / "final.ckpt"),
         f"--trainer.default_root_dir={tmp_path / 'test'}", "--trainer.enable_progress_bar=false"]
    )  # fmt: skip
    tested = {k: float(v) for k, v in cli.trainer.callback_metrics.items()}
    # The same weights and evaluation noise give the member's own final numbers.
    assert tested["test/modes_captured"] == final["modes_captured"]
    assert tested["test/high_quality_fraction"] == pytest.approx(final["high_quality_fraction"])


def test_the_same_ensemble_twice_gives_identical_runs(tmp_path):
    args = [*ARGS, "--trainer.max_steps=6", "--model.objective=hinge"]
    runs = []
    for attempt in ("first", "second"):
        run = build_ensemble(args, [4, 5], [tmp_path / attempt / "a", tmp_path / attempt / "b"])
        run.run()
        runs.append(run)
    for index in range(2):
        first, second = (r.ensemble.member_state(index)["generator"] for r in runs)
        assert all(torch.equal(first[name], second[name]) for name in first)
    records = [
        json.loads((tmp_path / attempt / "b" / "metrics.json").read_text()) for attempt in ("first", "second")
    ]
    assert records[0]["history"] == records[1]["history"]


RESUMABLE = [
    *ARGS,
    "--model.ema_decay=0.9",
    "--model.lr_decay_start=0.25",
    *PACKED_BATCHNORM,
    "--checkpoint.every_n_train_steps=4",
]


def test_an_interrupted_ensemble_resumes_exactly(tmp_path, monkeypatch):
    seeds = [1, 2]
    whole = build_ensemble(RESUMABLE, seeds, [tmp_path / "whole" / str(s) for s in seeds])
    whole.run()

    dirs = [tmp_path / "parts" / str(s) for s in seeds]
    first = build_ensemble(RESUMABLE, seeds, dirs)
    step = first.ensemble.train_iteration

    def stop_at_ten(real, generators, iteration, diagnostics):
        if iteration == 10:
            raise KeyboardInterrupt
        return step(real, generators, iteration, diagnostics)

    monkeypatch.setattr(first.ensemble, "train_iteration", stop_at_ten)
    with pytest.raises(KeyboardInterrupt):
        first.run()
    assert json.loads((dirs[0] / "metrics.json").read_text())["status"] == "interrupted"

    changed = build_ensemble([*RESUMABLE, "--model.lr_generator=0.00123"], seeds, dirs)
    with pytest.raises(ValueError, match="model: differs from the config of the run saved"):
        changed.run()
    # How fit would group iterations is no part of an ensemble's run: another setting resumes it.
    resumed = build_ensemble([*RESUMABLE, "--model.iterations_per_step=1"], seeds, dirs)
    resumed.run()
    for index, seed in enumerate(seeds):
        record = json.loads((dirs[index] / "metrics.json").read_text())
        expected = json.loads((tmp_path / "whole" / str(seed) / "metrics.json").read_text())
        assert record["status"] == "completed" and record["ensemble"]["resumed_at"] == 8
        assert record["history"] == expected["history"] and record["metrics"] == expected["metrics"]
        for net in ("generator", "discriminator"):
            got, want = (r.ensemble.member_state(index)[net] for r in (resumed, whole))
            assert all(torch.equal(got[name], want[name]) for name in want), net
        got, want = (r.ensemble.member_state(index)["generator_ema"]["net"] for r in (resumed, whole))
        assert all(torch.equal(got[name], want[name]) for name in want), "EMA"
        # Every logged step once, with the uninterrupted run's values.
        log = (dirs[index] / "train_log" / "metrics.csv").read_text()
        assert log == (tmp_path / "whole" / str(seed) / "train_log" / "metrics.csv").read_text()


def test_stack_sizes_split_the_seeds_evenly():
    assert stack_sizes(256, 64) == [64] * 4
    assert stack_sizes(5, 2) == [2, 2, 1]
    assert stack_sizes(4, 3) == [2, 2]
    assert stack_sizes(3, None) == stack_sizes(3, 8) == [3]
    with pytest.raises(ValueError, match="--stack_size: must be a positive number of seeds, got 0"):
        stack_sizes(3, 0)


def test_members_do_not_depend_on_their_stack(tmp_path):
    """Four seeds in one stack (CPU's default for four) and in two stacks of two: the same members, up to
    the float rounding of reductions over a stack (the logged gradient norms)."""
    seeds, args = [1, 2, 3, 4], [*ARGS, "--model.ema_decay=0.9", *PACKED_BATCHNORM]
    one = build_ensemble(args, seeds, [tmp_path / "one" / str(s) for s in seeds])
    split = build_ensemble(args, seeds, [tmp_path / "split" / str(s) for s in seeds], stack_size=3)
    assert [len(s) for s in one.ensemble.stacks] == [4] and [len(s) for s in split.ensemble.stacks] == [2, 2]
    one.run()
    split.run()
    for index, seed in enumerate(seeds):
        got, want = split.ensemble.member_state(index), one.ensemble.member_state(index)
        for part in ("generator", "discriminator"):
            for name, value in want[part].items():
                torch.testing.assert_close(got[part][name], value, rtol=1e-6, atol=1e-7, msg=name)
        records = [
            json.loads((tmp_path / run / str(seed) / "metrics.json").read_text()) for run in ("one", "split")
        ]
        assert records[0]["ensemble"]["stacks"] == [4] and records[1]["ensemble"]["stacks"] == [2, 2]
        for mine, theirs in zip(records[1]["history"], records[0]["history"], strict=True):
            assert mine.keys() == theirs.keys()
            for key, value in theirs.items():  # the W1 distance differs in its last digits
                assert mine[key] == (value if value is None else pytest.approx(value, rel=1e-6)), key
        logs = [
            np.loadtxt(tmp_path / run / str(seed) / "train_log" / "metrics.csv", delimiter=",", skiprows=1)
            for run in ("one", "split")
        ]
        np.testing.assert_allclose(logs[1], logs[0], rtol=1e-5, atol=1e-8)


def test_an_ensemble_refuses_finished_runs_unless_overwritten(tmp_path, capsys):
    args = [*ARGS, "--trainer.max_steps=4"]
    dirs = [tmp_path / "a", tmp_path / "b"]
    build_ensemble(args, [0, 1], dirs).run()
    record = (dirs[0] / "metrics.json").read_text()
    argv = ["ensemble", "--seeds=0,1", "--run_dir", str(dirs[0]), "--run_dir", str(dirs[1]), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --run_dir: ") and "finished run" in err and "--overwrite=true" in err
    assert (dirs[0] / "metrics.json").read_text() == record  # nothing lost
    assert main([*argv, "--overwrite=true"]) == 0
    assert json.loads((dirs[0] / "metrics.json").read_text())["status"] == "completed"
