"""The argument parser of ganbench's own commands: bad input is one line, not usage + message, and
every option is spelled in LightningCLI's snake_case (``--retry_failed``), the older kebab-case
spelling (``--retry-failed``) kept as an alias."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def snake_case_options(option_strings: tuple[str, ...]) -> list[str]:
    """``("--retry-failed",)`` -> ``["--retry_failed", "--retry-failed"]``; others unchanged."""
    spelled: list[str] = []
    for option in option_strings:
        if option.startswith("--") and "-" in option[2:]:
            snake = "--" + option[2:].replace("-", "_")
            if snake not in option_strings and snake not in spelled:
                spelled.append(snake)
        if option not in spelled:
            spelled.append(option)
    return spelled


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as ``error: MESSAGE`` on one line and exits with 2."""

    def add_argument(self, *option_strings: str, **kwargs: Any) -> argparse.Action:  # type: ignore[override]
        return super().add_argument(*snake_case_options(option_strings), **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)
