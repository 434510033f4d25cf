"""The command line: a short fit writes a complete run directory; bad input is one line, exit 2."""

import json
import os
from pathlib import Path

import pytest
import torch
import yaml

from ganbench.cli import lightning_main, main

REPO = Path(__file__).resolve().parents[1]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")
GRID = str(REPO / "configs" / "toy" / "grid25.yaml")
QUICK = [
    "--trainer.max_steps=30",
    "--evaluation.every_n_iterations=10",
    "--evaluation.num_samples=500",
    "--trainer.enable_progress_bar=false",
    "--trainer.log_every_n_steps=5",
]


def run_cli(ganbench_cli, args, tmp_path, **env):
    """``python -m ganbench ARGS`` in its own process (forked: see tests/conftest.py), W&B offline."""
    environment = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), **env}
    environment.pop("WANDB_API_KEY", None)
    return ganbench_cli.run(args, env=environment, cwd=tmp_path, timeout=300)


def test_fit_on_the_ring_writes_the_run_directory(tmp_path, ganbench_cli):
    run_dir = tmp_path / "run"
    result = run_cli(
        ganbench_cli, ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK], tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed"
    assert record["iterations"] == 30
    assert record["seed"] == 0
    assert [h["iteration"] for h in record["history"]] == [10, 20, 30]
    assert set(record["metrics"]) >= {"high_quality_fraction", "modes_captured", "reverse_kl", "num_samples"}
    assert record["metrics"]["num_samples"] == 500
    assert record["config"]["model"]["objective"] == "nonsaturating"
    assert record["config"]["data"]["dataset"] == "ring"
    assert set(record["versions"]) == {"python", "torch", "lightning", "ganbench"}
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file()
    assert sorted(p.name for p in (run_dir / "samples").glob("*.png")) == [
        "eval_0000010.png",
        "eval_0000020.png",
        "eval_0000030.png",
    ]
    assert list((run_dir / "wandb").glob("offline-run-*"))
    header = (run_dir / "train_log" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {
        "train/d_loss",
        "train/g_loss",
        "train/d_real",
        "train/d_fake",
        "train/g_grad_norm",
        "train/g_logit_grad",
    } <= set(header)


def test_logger_false_still_writes_metrics(tmp_path, monkeypatch):
    # In this process (no W&B involved, so nothing global to leak); WANDB_MODE=disabled is covered by
    # tests/runs/test_wandb_logger.py::test_disabled_mode_completes_without_wandb_files.
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "nolog"
    args = ["fit", "--config", GRID, f"--trainer.default_root_dir={run_dir}", *QUICK]
    args.append("--trainer.logger=false")
    assert main(args) == 0
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"
    assert not list((run_dir / "wandb").glob("offline-run-*"))


def test_unknown_objective_is_one_line_without_traceback(tmp_path, ganbench_cli):
    result = run_cli(
        ganbench_cli,
        ["fit", "--config", RING, "--model.objective=wgan", f"--trainer.default_root_dir={tmp_path}"],
        tmp_path,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: model.objective: unknown objective 'wgan'")
    for name in (
        "minimax",
        "nonsaturating",
        "bce",
        "least_squares",
        "hinge",
        "wasserstein_gp",
        "relativistic",
    ):
        assert name in lines[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "override, field",
    [
        ("--model.net=resnet9000", "model.net"),
        ("--data.dataset=swissroll", "data.dataset"),
        ("--model.lr_generator=0", "model.lr_generator"),
        ("--model.n_critic=0", "model.n_critic"),
        ("--model.objective=bce --model.objective_options.real_label=0", "real_label"),
        ("--trainer.max_steps=-5", "trainer.max_steps"),
        ("--data.dataset_options.sigma=-1", "sigma"),
    ],
)
def test_bad_input_names_the_field(tmp_path, capsys, override, field):
    code = main(["fit", "--config", RING, f"--trainer.default_root_dir={tmp_path}", *override.split()])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and field in err[-1]
    assert not (tmp_path / "metrics.json").exists()


def test_print_config_resolves_links(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", RING, "--model.objective=wasserstein_gp", "--print_config"])
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["objective"] == "wasserstein_gp"


def test_links_size_the_data_for_n_critic_and_seed():
    cli = lightning_main(
        ["--config", RING, "--model.objective=wasserstein_gp", "--seed_everything=7"], run=False
    )
    assert cli.model.n_critic == 5
    assert cli.datamodule.batches_per_iteration == 5  # WGAN-GP's n_critic, linked to the data
    assert cli.datamodule.seed == 7
    assert cli.model.hparams.sample_shape == (2,)


@pytest.mark.parametrize(
    "args, per_step",
    [
        ([], 10),  # ring8: max_steps 10000, log every 50, evaluation and checkpoints every 1000
        (["--trainer.max_steps=1234"], 2),
        (["--trainer.max_steps=60", "--trainer.log_every_n_steps=15"], 5),
        (["--trainer.log_every_n_steps=1"], 1),
        (["--trainer.max_steps=-1", "--checkpoint.every_n_train_steps=0"], 10),
        (["--trainer.limit_train_batches=100"], 1),  # epochs would count steps, not iterations
        (["--trainer.val_check_interval=100"], 1),  # so would Lightning's validation
        # a callback of the user's own
        (["--trainer.callbacks=lightning.pytorch.callbacks.LearningRateMonitor"], 1),
        (["--model.iterations_per_step=5"], 5),
    ],
)
def test_auto_iterations_per_step_divides_every_interval(args, per_step):
    """The default (auto): the largest K up to 10 dividing the run's intervals; the module and the data
    get K, the config keeps what was asked (a re-run with other intervals stays valid)."""
    cli = lightning_main(["--config", RING, "--trainer.logger=false", *args], run=False)
    assert cli.model.hparams.iterations_per_step == per_step
    assert cli.datamodule.iterations_per_batch == per_step
    asked = 5 if "--model.iterations_per_step=5" in args else "auto"
    assert cli._resolved_config()["model"]["iterations_per_step"] == asked


def test_a_callback_added_from_python_sees_every_iteration(tmp_path):
    """auto chose K for the CLI's callbacks; a fit built with run=False and given a callback of its
    own afterwards runs K = 1, so the callback sees every iteration (as the saturation study's does)."""
    from lightning.pytorch.callbacks import Callback

    args = ["--config", RING, "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}", *QUICK]
    cli = lightning_main([*args, "--trainer.max_steps=20"], run=False)
    assert cli.model.hparams.iterations_per_step == 5
    seen = []

    class Record(Callback):
        def on_train_batch_end(self, trainer, *args) -> None:
            seen.append(trainer.global_step)

    cli.trainer.callbacks.append(Record())
    cli.trainer.fit(cli.model, cli.datamodule)
    assert seen == list(range(1, 21))
    assert cli.model.hparams.iterations_per_step == cli.datamodule.iterations_per_batch == 1
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["hyper_parameters"]["iterations_per_step"] == 1 and saved["global_step"] == 20


def test_auto_iterations_per_step_divides_a_resumed_step():
    from jsonargparse import Namespace

    from ganbench.cli import AUTO_ITERATIONS_PER_STEP, resolve_iterations_per_step

    config = Namespace(
        model=Namespace(iterations_per_step="auto"),
        trainer=Namespace(max_steps=100, log_every_n_steps=50, callbacks=None),
        evaluation=Namespace(every_n_iterations=0),
        checkpoint=Namespace(every_n_train_steps=None),
    )
    assert resolve_iterations_per_step(config, None) == AUTO_ITERATIONS_PER_STEP == 10
    assert resolve_iterations_per_step(config, 35) == 5  # a run saved at 35 resumes at 40, 45, ...
    assert resolve_iterations_per_step(config, 37) == 1
    config.model.iterations_per_step = 5
    with pytest.raises(ValueError, match="5 does not divide the resumed checkpoint's global_step=37"):
        resolve_iterations_per_step(config, 37)


def test_bad_checkpoints_are_one_line_errors_and_keep_the_record(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK]
    assert main([*args, "--trainer.logger=false"]) == 0
    record = (run_dir / "metrics.json").read_text()
    last = run_dir / "checkpoints" / "last.ckpt"
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(last.read_bytes()[:200])
    cases = [
        (f"--ckpt_path={tmp_path / 'missing.ckpt'}", "ckpt_path: no such file"),
        (f"--ckpt_path={corrupt}", "is not a readable checkpoint"),
        (f"--ckpt_path={last} --model.objective=hinge", "trained with objective='nonsaturating'"),
    ]
    for override, message in cases:
        capsys.readouterr()
        assert main([*args, "--trainer.logger=false", "--trainer.max_steps=40", *override.split()]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ckpt_path: ") and message in err[-1]
        assert (run_dir / "metrics.json").read_text() == record  # nothing already written is lost
    # A resumed run takes how it executes from its own command line, what it computes from the checkpoint.
    resume = [f"--ckpt_path={last}", "--model.channels_last=true", "--model.lr_generator=0.5"]
    assert main([*args, "--trainer.logger=false", "--trainer.max_steps=40", *resume]) == 0
    hparams = torch.load(last, map_location="cpu", weights_only=True)["hyper_parameters"]
    assert hparams["channels_last"] is True
    assert hparams["lr_generator"] != 0.5  # LightningCLI: the checkpoint's hyperparameters


def test_theory_command_is_dispatched(capsys):
    assert main(["theory", "--p", "0,-1", "--q", "0,1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --p")


def test_a_weights_file_that_is_not_inception_is_refused(tmp_path, capsys):
    bogus = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, bogus)
    code = main(
        [
            "fit",
            "--config",
            RING,
            f"--trainer.default_root_dir={tmp_path}",
            f"--evaluation.inception_weights={bogus}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("error: evaluation.inception_weights: ")
        and "not an Inception-v3 state dict" in err[-1]
    )


def test_a_diverged_run_is_recorded_as_diverged(tmp_path):
    run_dir = tmp_path / "run"
    # Adam's step is ~lr, so lr = 1e30 sends the weights to inf within the first iteration.
    code = main(
        [
            "fit",
            "--config",
            RING,
            f"--trainer.default_root_dir={run_dir}",
            *QUICK,
            "--trainer.logger=false",
            "--model.lr_generator=1e30",
            "--model.lr_discriminator=1e30",
        ]
    )
    assert code == 0
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "diverged"
    assert record["diverged_at"] == 1
    assert record["iterations"] < 30


def one_line_error(capsys) -> str:
    """The last stderr line, after checking there is no usage dump and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and "usage:" not in err and "tip: For details" not in err
    return [line for line in err.splitlines() if line.strip()][-1]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--model.objektive=hinge"], "error: unrecognized arguments: --model.objektive=hinge"),
        (["--model.lr_generator=fast"], "error: model.lr_generator: "),
        (["--trainer.max_steps=many"], "error: trainer.max_steps: "),
        (["--model.betas=[2,3]"], "error: model.betas: "),
        (
            ["--model.objective=bce", "--model.objective_options.real_label=high"],
            "real_label: expected a number",
        ),
        (["--model.net_options.hidden=0"], "error: model.net_options: "),
        (["--model.net_options.hidden=1.5"], "error: model.net_options.hidden: expected an integer"),
        (["--checkpoint.monitor=eval/nonsense"], "error: checkpoint.monitor: unknown metric 'nonsense'"),
        (["--checkpoint.monitor=train/d_loss"], "error: checkpoint.monitor: "),
        (["--checkpoint.mode=maximum"], "error: checkpoint.mode: "),
        (["--checkpoint.every_n_train_steps=-1"], "error: checkpoint.every_n_train_steps: "),
        (["--ckpt_path=best"], "error: ckpt_path: 'best' is not available"),
        (["--ckpt_path=last"], "error: ckpt_path: no such file: "),
        (["--trainer.max_steps=0"], "error: trainer.max_steps: 0 trains nothing"),
        (["--trainer.max_epochs=0"], "error: trainer.max_epochs: 0 trains nothing"),
        (["--trainer.limit_train_batches=0"], "error: trainer.limit_train_batches: "),
        (["--trainer.accumulate_grad_batches=2"], "error: trainer.accumulate_grad_batches: "),
        (["--trainer.gradient_clip_val=1"], "error: trainer.gradient_clip_val: "),
        (["--trainer.devices=0"], "error: trainer.devices: "),
        (["--seed_everything=-1"], "error: seed_everything: "),
        (["--trainer.default_root_dir="], "error: trainer.default_root_dir: empty"),
        (["--model.iterations_per_step=0"], "error: model.iterations_per_step: must be an integer >= 1"),
        (
            # ring8: max_steps 10000, log every 50, evaluation and checkpoints every 1000
            ["--model.iterations_per_step=20"],
            "error: model.iterations_per_step: 20 does not divide trainer.log_every_n_steps=50; "
            "valid choices with these settings: 1, 2, 5, 10, 25, 50, or auto",
        ),
        (["--model.iterations_per_step=often"], "error: model.iterations_per_step: "),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)  # a run that wrongly starts in the working directory is seen too
    run_dir = tmp_path / "run"
    code = main(["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *args])
    assert code == 2
    assert expected in one_line_error(capsys)
    assert not run_dir.exists() and not list(tmp_path.iterdir())


def test_config_file_errors_name_the_file(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  objective: [hinge\n")
    assert main(["fit", "--config", str(broken)]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"error: --config: {broken} is not valid YAML (line ")
    assert main(["fit", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "error: --config: cannot read" in one_line_error(capsys)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("model:\n  objektive: hinge\n")
    assert main(["fit", "--config", str(unknown), f"--trainer.default_root_dir={tmp_path / 'r'}"]) == 2
    assert "objektive" in one_line_error(capsys)


def test_unusable_output_paths_and_accelerators_are_one_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("")
    for path in (a_file, a_file / "below"):
        assert main(["fit", "--config", RING, f"--trainer.default_root_dir={path}"]) == 2
        assert one_line_error(capsys) == f"error: trainer.default_root_dir: {a_file} is not a directory"
    if not torch.cuda.is_available():
        args = [
            "fit",
            "--config",
            RING,
            "--trainer.accelerator=gpu",
            f"--trainer.default_root_dir={tmp_path / 'r'}",
        ]
        assert main(args) == 2
        assert one_line_error(capsys).startswith("error: trainer.accelerator: ")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["fit", "--config", RING, f"--trainer.default_root_dir={locked / 'run'}"]) == 2
        assert "is not writable" in one_line_error(capsys)


def test_fit_refuses_a_weights_only_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["fit", "--config", RING, "--trainer.logger=false", *QUICK]
    assert main([*args, f"--trainer.default_root_dir={run_dir}"]) == 0
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    weights = {k: v for k, v in checkpoint.items() if k not in ("optimizer_states", "loops", "lr_schedulers")}
    torch.save(weights, tmp_path / "final.ckpt")  # what an ensemble member's final.ckpt holds
    capsys.readouterr()
    new_dir = f"--trainer.default_root_dir={tmp_path / 'new'}"
    assert main([*args, new_dir, f"--ckpt_path={tmp_path / 'final.ckpt'}"]) == 2
    assert "holds weights only" in one_line_error(capsys)
    other = tmp_path / "other"
    assert main([*args, f"--trainer.default_root_dir={other}", "--trainer.max_steps=5"]) == 0
    capsys.readouterr()
    # Resuming one run into another run's directory would mix the two.
    last = run_dir / "checkpoints" / "last.ckpt"
    assert main([*args, f"--trainer.default_root_dir={other}", f"--ckpt_path={last}"]) == 2
    assert "is not a checkpoint of the run in" in one_line_error(capsys)
    resume = [f"--trainer.default_root_dir={run_dir}", f"--ckpt_path={last}"]
    assert main([*args, *resume, "--trainer.max_steps=20"]) == 2  # QUICK's 30 were done
    assert "is below the 30 iterations the checkpoint already has" in one_line_error(capsys)
    assert not (tmp_path / "new").exists()


def test_top_level_help_lists_every_command_and_predict_is_gone(capsys):
    from ganbench.cli import COMMANDS

    assert main(["--help"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ["fit", "validate", "test", *COMMANDS]:
        (line,) = [line for line in lines if line.split()[:1] == [name]]
        assert len(line.split()) > 3  # a one-line description
    assert not any(line.split()[:1] == ["predict"] for line in lines)
    assert main(["predict"]) == 2
    assert "valid choices: fit, validate, test" in capsys.readouterr().err


def test_a_wandb_agents_run_goes_under_runs_sweeps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    cli = lightning_main(["--config", RING, "--trainer.max_steps=5"], run=False)
    run_dir = Path(cli.trainer.default_root_dir)
    assert run_dir.parent == Path("runs") / "sweeps" / "abc123"
    assert run_dir.name.startswith("ring-nonsaturating-seed0-")


def test_fit_help_lists_the_registered_names(capsys):
    from ganbench.nets.registry import NETS
    from ganbench.objectives import OBJECTIVES
    from ganbench.regularizers import REGULARIZERS

    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for registry in (OBJECTIVES, NETS, REGULARIZERS):
        assert "Registered: " + ", ".join(registry.names()) + "." in text
    assert "ring" in text.split("--data.dataset DATASET")[-1].split("--data.")[0]
    assert "eval/modes_covered" in text.split("--checkpoint.monitor MONITOR")[-1].split("--checkpoint.")[0]


NESTED_COMMANDS = [["theory", "divergences"]]  # dispatched before its parent's parser sees the words


def walk_help(command: list[str], monkeypatch, capsys) -> list:
    """``main([*command, "--help"])``, returning the parsers that printed help (the command's own)."""
    import argparse

    shown = []
    print_help = argparse.ArgumentParser.print_help

    def record(parser, file=None):
        shown.append(parser)
        print_help(parser, file)

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "print_help", record)
        try:
            code = main([*command, "--help"])
        except SystemExit as exit_:  # a command that lets argparse exit (python -m: the same code)
            code = exit_.code
        assert code == 0, command
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m ganbench {' '.join(command)}")
    for parser in shown:  # what --help printed is every option of the parser
        for action in parser._actions:
            assert all(option in out for option in action.option_strings)
    return shown


def test_every_own_command_has_help_for_each_option_and_snake_case_flags(monkeypatch, capsys):
    import argparse

    from ganbench.cli import COMMANDS

    pending = [[name] for name in COMMANDS] + NESTED_COMMANDS
    walked = []
    while pending:
        command = pending.pop(0)
        walked.append(" ".join(command))
        (parser,) = walk_help(command, monkeypatch, capsys)
        for action in parser._actions:
            assert action.help, f"{' '.join(command)} {'/'.join(action.option_strings) or action.dest}"
            for option in action.option_strings:
                if option.startswith("--") and "-" in option[2:]:  # kebab-case only as an alias
                    assert "--" + option[2:].replace("-", "_") in action.option_strings, (command, option)
            if isinstance(action, argparse._SubParsersAction):
                pending += [[*command, name] for name in action.choices]
        # Bad input: one line naming the problem, exit 2, no usage dump.
        try:
            code = main([*command, "--no_such_option=1"])
        except SystemExit as exit_:
            code = exit_.code
        assert code == 2, command
        line = one_line_error(capsys)
        assert line.startswith("error: ") and ("--no_such_option" in line or "required" in line)
    assert {"inception export", "classifier fit", "theory divergences", "sample"} <= set(walked)


@pytest.mark.parametrize(
    "command, kebab, snake",
    [
        (["theory"], ["--batch-size", "8"], ["--batch_size", "8"]),
        (["classifier", "fit", "--root", "r", "--out", "o"], ["--no-download"], ["--no_download"]),
        (["inception", "export", "--out", "o"], ["--check-images", "2"], ["--check_images", "2"]),
    ],
)
def test_kebab_case_spellings_still_work(command, kebab, snake):
    from ganbench.evaluation import classifier, inception, theory

    parser = {"theory": theory, "classifier": classifier, "inception": inception}[command[0]].parser()
    args = command[1:]
    assert vars(parser.parse_args([*args, *kebab])) == vars(parser.parse_args([*args, *snake]))
    assert vars(parser.parse_args([*args, *kebab])) != vars(parser.parse_args(args))


def test_print_config_comments_list_the_registered_names(capsys):
    from ganbench.data.registry import DATASETS
    from ganbench.evaluation.metrics import headline_metrics
    from ganbench.nets.registry import NETS
    from ganbench.objectives import OBJECTIVES
    from ganbench.regularizers import REGULARIZERS

    with pytest.raises(SystemExit) as exit_info:  # needs ruamel.yaml (jsonargparse's "ruamel" extra)
        main(["fit", "--config", RING, "--print_config=comments"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["model"]["objective"] == "nonsaturating"  # still a usable config

    def comment_above(key: str) -> str:
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
        above = []
        for line in reversed(lines[:index]):  # the comment block right above the key
            if not line.strip().startswith("#"):
                break
            above.insert(0, line.strip().lstrip("# "))
        return " ".join(above)

    for key, registry in (
        ("objective", OBJECTIVES),
        ("net", NETS),
        ("regularizers", REGULARIZERS),
        ("dataset", DATASETS),
    ):
        assert "Registered: " + ", ".join(registry.names()) + "." in comment_above(key), key
    assert all(f"eval/{key}" in comment_above("monitor") for key in headline_metrics())
