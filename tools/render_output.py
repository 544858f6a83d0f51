"""How a rendered stack is written to disk: one canonical YAML file per object, secrets masked, plus outputs.json.

Apart from write_render, everything here is a pure function of the objects, so two renders of the same config are
byte-identical.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

# Written into a Secret's data/stringData instead of the value: render output is never a place for secrets.
MASK = "[masked by render]"
# Lists the files the last render wrote, so a re-render removes objects that are gone and nothing else.
INDEX_FILE = ".rendered-files"
# Top-level keys in the order `kubectl get -o yaml` shows them; the rest follow alphabetically.
_LEADING_KEYS = ("apiVersion", "kind", "metadata")
_KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
)


def apply_order(obj: Mapping[str, Any]) -> tuple:
    """Sort key: the order `kubectl apply` would want (namespace first, workloads before their policies)."""
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return rank, kind, metadata.get("namespace") or "", metadata.get("name") or ""


def mask_secrets(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` where a Secret's `data` and `stringData` values are replaced by a mask."""
    obj = dict(obj)
    if obj.get("kind") == "Secret":
        masked_bytes = base64.b64encode(MASK.encode()).decode()
        if isinstance(obj.get("data"), Mapping):
            obj["data"] = {key: masked_bytes for key in obj["data"]}
        if isinstance(obj.get("stringData"), Mapping):
            obj["stringData"] = {key: MASK for key in obj["stringData"]}
    return obj


def canonical(obj: Any) -> Any:
    """``obj`` with stable key order: apiVersion, kind, metadata first, then alphabetical at every level."""
    if isinstance(obj, Mapping):
        keys = [k for k in _LEADING_KEYS if k in obj] + sorted(k for k in obj if k not in _LEADING_KEYS)
        return {key: canonical(obj[key]) for key in keys}
    if isinstance(obj, list):
        return [canonical(item) for item in obj]
    return obj


def to_yaml(obj: Mapping[str, Any]) -> str:
    """One object as a YAML document, keys in canonical order."""
    return yaml.safe_dump(canonical(obj), sort_keys=False, default_flow_style=False, allow_unicode=True)


def outputs_json(outputs: Mapping[str, Any]) -> str:
    """The outputs as `pulumi stack output --json` prints them: sorted keys, 2-space indent, newline."""
    return json.dumps(outputs, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def file_names(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """A stable file name per object: `<kind>-<name>.yaml`, with the namespace when two would clash."""

    def short(obj: Mapping[str, Any]) -> str:
        return f"{obj.get('kind', 'object')}-{(obj.get('metadata') or {}).get('name', 'unnamed')}".lower()

    counts: dict[str, int] = {}
    for obj in objects:
        counts[short(obj)] = counts.get(short(obj), 0) + 1
    names = []
    for index, obj in enumerate(objects):
        name = short(obj)
        if counts[name] > 1:
            namespace = (obj.get("metadata") or {}).get("namespace") or "cluster"
            kind, _, rest = name.partition("-")
            name = f"{kind}-{namespace}-{rest}"
        names.append(name if name not in names else f"{name}-{index}")
    return [f"{name}.yaml" for name in names]


def write_render(objects: Sequence[Mapping[str, Any]], outputs: Mapping[str, Any], out: Path) -> list[Path]:
    """Write each object and outputs.json under ``out``; remove what the previous render wrote there."""
    out.mkdir(parents=True, exist_ok=True)
    index = out / INDEX_FILE
    if index.is_file():
        for old in index.read_text(encoding="utf-8").split():
            (out / Path(old).name).unlink(missing_ok=True)
    paths = []
    for name, obj in zip(file_names(objects), objects, strict=True):
        path = out / name
        path.write_text(to_yaml(obj), encoding="utf-8")
        paths.append(path)
    (out / "outputs.json").write_text(outputs_json(outputs), encoding="utf-8")
    index.write_text("".join(f"{p.name}\n" for p in paths), encoding="utf-8")
    return paths
