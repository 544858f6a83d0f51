"""model/requirements.lock must keep up with model/requirements.in: `make lock` regenerates it (docs/image.md)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

MODEL_DIR = Path(__file__).resolve().parents[2] / "model"
# One locked requirement: "name==version [; markers] \" followed by its "--hash=sha256:..." lines.
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def declared_requirements() -> list[Requirement]:
    lines = (MODEL_DIR / "requirements.in").read_text().splitlines()
    return [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]


def locked_pins() -> dict[str, tuple[str, int]]:
    """Locked package name -> (version, number of hashes)."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (MODEL_DIR / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match["name"])
            pins[current] = (match["version"], 0)
        elif current and HASH.search(line):
            version, hashes = pins[current]
            pins[current] = (version, hashes + len(HASH.findall(line)))
        elif not line.startswith(" "):
            current = None
    return pins


def test_lock_pins_every_requirement_of_requirements_in_within_its_range():
    pins = locked_pins()
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in requirements.in but not in requirements.lock: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {requirement.name}=={version}, outside {requirement.specifier}: run `make lock`"
        )


def test_every_locked_package_is_pinned_with_hashes():
    pins = locked_pins()
    assert pins, "requirements.lock pins nothing"
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert not unhashed, f"pinned without --hash (pip --require-hashes would refuse the build): {unhashed}"


def test_lock_ships_no_training_only_packages():
    # The image serves ONNX; scikit-learn, SciPy and the converters are for model/train.py only.
    shipped = set(locked_pins())
    assert not shipped & {"scikit-learn", "scipy", "skl2onnx", "onnx", "joblib"}
