"""The argument parser of ganbench's own commands: bad input is one line, not usage + message."""

from __future__ import annotations

import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as ``error: MESSAGE`` on one line and exits with 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)
