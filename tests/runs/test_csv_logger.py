"""train_log/metrics.csv: a resumed run keeps the rows up to its checkpoint and logs the rest once."""

import csv

from ganbench.runs.csv_logger import RunCSVLogger

HEADER = ["epoch", "eval/modes_captured", "step", "train/d_loss"]


def write_log(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, restval="")
        writer.writeheader()
        writer.writerows(rows)


def read_log(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_resume_keeps_rows_up_to_the_checkpoint_and_appends(tmp_path):
    path = tmp_path / "train_log" / "metrics.csv"
    # A run killed at iteration 47 after the checkpoint of iteration 40: training scalars of iteration i
    # are logged at step i - 1, evaluations at step i.
    rows = [{"epoch": 0, "step": s, "train/d_loss": s / 10} for s in (9, 19, 29, 39, 49)]
    rows[2:2] = [{"step": 20, "eval/modes_captured": 3}]
    rows[5:5] = [{"step": 40, "eval/modes_captured": 5}]
    write_log(path, rows)

    logger = RunCSVLogger()
    logger.use_run_dir(tmp_path)
    logger.resume_at(40)
    logger.log_metrics({"train/d_loss": 4.9}, step=49)
    logger.log_metrics({"eval/modes_captured": 6, "train/g_loss": 1.0}, step=60)  # a new column
    logger.save()
    kept = read_log(path)
    assert [(r["step"], r["train/d_loss"], r["eval/modes_captured"]) for r in kept] == [
        ("9", "0.9", ""),
        ("19", "1.9", ""),
        ("20", "", "3"),
        ("29", "2.9", ""),
        ("39", "3.9", ""),
        ("40", "", "5"),
        ("49", "4.9", ""),  # logged once, by the resumed run
        ("60", "", "6"),
    ]
    assert kept[-1]["train/g_loss"] == "1.0"
    assert not list(path.parent.glob("*.tmp"))


def test_a_new_run_starts_its_own_log(tmp_path):
    logger = RunCSVLogger()
    logger.use_run_dir(tmp_path)
    logger.log_metrics({"train/d_loss": 1.0}, step=0)
    logger.save()
    assert [r["step"] for r in read_log(tmp_path / "train_log" / "metrics.csv")] == ["0"]
