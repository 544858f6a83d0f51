"""The one shape of a benchmark's JSON file: its figures, the date and the machine they were measured on."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any


def write_report(path: Path, **figures: Any) -> None:
    """Writes `{"date", "machine", **figures}` to `path` (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        **figures,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
