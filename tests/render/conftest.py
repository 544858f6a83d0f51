"""Shared helpers for the render tests: stack projects built beside the real program."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tools import stack_run

ROOT = stack_run.ROOT
# What a stack project needs from this repo; linked, so the tests run the real program and components.
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "model", "models")


def stack_config(stack: str) -> dict[str, Any]:
    """A copy of the real stack file's `config:` mapping."""
    return stack_run.load_stack_config(stack, ROOT)


def make_project(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    """A Pulumi project in ``directory`` running this repo's program, with `Pulumi.<stack>.yaml` = ``config``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        (directory / name).symlink_to(ROOT / name)
    (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return directory
