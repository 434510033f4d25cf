"""OneLineParser: snake_case options with the kebab-case spelling kept, one-line errors."""

import pytest

from ganbench.argparser import OneLineParser
from ganbench.runs.sweep import parser as sweep_parser
from ganbench.runs.table import parser as table_parser


def test_kebab_case_options_get_a_snake_case_spelling_and_keep_theirs():
    p = OneLineParser()
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--num_samples", type=int, default=1)
    assert p.parse_args(["--retry_failed"]).retry_failed
    assert p.parse_args(["--retry-failed"]).retry_failed
    assert "--retry_failed, --retry-failed" in p.format_help()


def test_commands_accept_both_spellings():
    assert sweep_parser().parse_args(["f.yaml", "--retry_failed", "--dry_run"]).dry_run
    assert sweep_parser().parse_args(["f.yaml", "--retry-failed", "--dry-run"]).retry_failed
    assert table_parser().parse_args(["d", "--no_auc", "--lower_is_better", "x"]).no_auc


def test_every_option_of_the_own_commands_has_help():
    for p in (sweep_parser(), table_parser()):
        for action in p._actions:
            assert action.help, action.option_strings


def test_bad_option_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        table_parser().parse_args(["d", "--format"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
