"""The written YAML: the same bytes whichever emitter wrote them (libyaml's where it is exact, else PyYAML's)."""

import random
import string
from typing import Any

import pytest
import yaml

from tools import render_output
from tools.render import render_stack
from tools.render_output import canonical, to_yaml


def pyyaml_emitter(obj: Any) -> str:
    """What the render wrote before libyaml's emitter: PyYAML's own, pure Python."""
    return yaml.safe_dump(canonical(obj), sort_keys=False, default_flow_style=False, allow_unicode=True)


def libyaml_emitter(obj: Any) -> str:
    return yaml.dump(
        canonical(obj), Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_rendered_object_is_written_as_pyyaml_writes_it(stack):
    objects = render_stack(stack).objects

    assert all(render_output._emits_alike(canonical(obj)) for obj in objects)  # libyaml wrote them all
    assert [to_yaml(obj) for obj in objects] == [pyyaml_emitter(obj) for obj in objects]


# Scalars YAML treats specially (quoting, folding, indicators, look-alike numbers and booleans), among plain text.
_PIECES = [*string.printable[:95], *[" "] * 10, ": ", " #", "- ", "'", '"', "yes", "null", "0x1", "1.5", "---", "..."]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, rng.choice([3, 10, 40, 120, 300]))))


def test_libyaml_writes_printable_ascii_as_pyyaml_does():
    rng = random.Random(20261201)
    for _ in range(3000):
        text = _text(rng)
        key = text[: rng.randint(0, render_output._LONGEST_FAST_KEY - 1)] or "k"
        obj = {"kind": "Fuzz", "metadata": {"name": text}, "spec": {key: [text, {"n": text, "m": [1, 0.5, None]}]}}

        assert render_output._emits_alike(canonical(obj))
        assert libyaml_emitter(obj) == pyyaml_emitter(obj), repr(text)


@pytest.mark.parametrize(
    "text",
    ["emoji 😀", "next line \x85", "tab\tand\nnewline " * 8, "é", "k" * render_output._LONGEST_FAST_KEY],
)
def test_anything_else_is_written_by_pyyaml(text):
    obj = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {text: text}}

    assert not render_output._emits_alike(canonical(obj))
    assert to_yaml(obj) == pyyaml_emitter(obj)
