"""Promote by digest: copy what one stack deployed into another stack's file.

    make promote FROM=dev TO=prod [MODEL=breast-cancer] [OUTPUTS=build/dev/outputs.json]
    python -m tools.promote --from dev --to prod [--model breast-cancer] [--outputs FILE]

For each model (or the one named) the digest-pinned image reference and the version that FROM deployed are
written to `Pulumi.<TO>.yaml` as `ml-platform:models.<name>.image` and `.version`; a model that TO built from
source (`build`) switches to that `image`. A model FROM delivers apart from its runtime (its outputs carry a
`modelImage`) is written as `model: {image: <model image>}`, and the runtime it ran on becomes TO's
`ml-platform:runtime: {image: ...}`: both digests move, and both are printed. FROM's outputs come from
`pulumi stack output --json --stack FROM`, or from OUTPUTS (the same JSON, as `make render STACK=dev` writes it
to build/dev/outputs.json).

The stack file is edited with ruamel.yaml's round-trip mode, so comments, key order and quoting survive; the
change is printed as a unified diff. The edited config is parsed with the program's own parser before anything is
written: a promotion that would make the stack invalid is refused, and a refused promotion leaves the file
byte-for-byte as it was.
"""

# Over 300 lines on purpose: one command's whole flow (read, check, edit, write) with the YAML round-trip helpers
# only it uses; each step is a small function below.

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from components.config import ConfigError
from conventions import PROJECT, is_pinned_by_digest
from tools.deploy import DeployError, engine_environment
from tools.stack_run import ROOT, parse_config, stack_file

MODELS_KEY = f"{PROJECT}:models"
RUNTIME_KEY = f"{PROJECT}:runtime"
# Registries only the machine that pushed can reach (kind's local registry, say).
_LOOPBACK_REGISTRY = re.compile(r"^(localhost|127(\.\d+){3}|\[::1\])(:\d+)?/")


class PromotionError(Exception):
    """A promotion that must not happen; the message is one line for the user."""


@dataclass(frozen=True)
class DeployedRelease:
    """What a stack deployed for one model: its version and digest-pinned server image, and the model image it
    mounted when the model was delivered apart from that (shared) runtime."""

    model: str
    version: str
    image: str
    model_image: str | None = None

    @property
    def shown(self) -> str:
        """`(<image>)`, or `(runtime <image>, model <model image>)`."""
        if self.model_image is None:
            return f"({self.image})"
        return f"(runtime {self.image}, model {self.model_image})"


@dataclass(frozen=True)
class Promotion:
    """The outcome: the stack file's text before and after, and which models changed."""

    path: Path
    before: str
    after: str
    changed: list[DeployedRelease]
    unchanged: list[DeployedRelease]
    skipped: list[str]
    runtime: str | None = None  # the runtime written to TO's `ml-platform:runtime`, when it changed

    @property
    def diff(self) -> str:
        """The change as a unified diff against the stack file."""
        name = self.path.name
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{name}",
                tofile=f"b/{name}",
            )
        )


# --- FROM's outputs ---------------------------------------------------------------------------------------------


def read_outputs_file(path: Path) -> dict[str, Any]:
    """The stack outputs saved as JSON (`pulumi stack output --json`, or `make render`'s outputs.json)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise PromotionError(f"{path}: cannot read outputs file ({error.strerror or error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PromotionError(f"{path}: malformed outputs file: not JSON ({error.msg} at line {error.lineno})") from None


def read_stack_outputs(stack: str, project_dir: Path) -> dict[str, Any]:
    """`pulumi stack output --json --stack <stack>`, run in the project directory with the CLI and state backend
    that `make up` uses (tools/deploy.py), so a stack deployed by `make up` is found where it was saved."""
    try:
        engine = engine_environment(start_cluster=False, project_dir=project_dir)
    except DeployError:
        raise PromotionError(
            f"the pulumi CLI is not installed; pass the outputs of {stack} as a file instead, e.g. "
            f"OUTPUTS=build/{stack}/outputs.json after `make render STACK={stack}`"
        ) from None
    result = engine.run("stack", "output", "--json", "--stack", stack, check=False, capture=True)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PromotionError(f"`pulumi stack output --json --stack {stack}` failed: {detail}")
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise PromotionError(f"`pulumi stack output --json --stack {stack}` did not print JSON") from None


def releases_from_outputs(outputs: Any, source: str) -> dict[str, DeployedRelease]:
    """Each model's release from the stack outputs `{models: {name: {image, version, ...}}}`.

    A malformed shape is refused; whether the image is pinned is checked per promoted model."""
    if not isinstance(outputs, dict) or not isinstance(outputs.get("models"), dict):
        raise PromotionError(f"{source}: malformed outputs: expected an object with a `models` mapping")
    releases = {}
    for name, entry in outputs["models"].items():
        if not isinstance(entry, dict):
            raise PromotionError(f"{source}: malformed outputs: models.{name} is not an object")
        for key in ("image", "version"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise PromotionError(f"{source}: malformed outputs: models.{name}.{key} is missing or not a string")
        model_image = entry.get("modelImage")
        if model_image is not None and (not isinstance(model_image, str) or not model_image):
            raise PromotionError(f"{source}: malformed outputs: models.{name}.modelImage is not a string")
        releases[name] = DeployedRelease(name, entry["version"], entry["image"], model_image)
    return releases


# --- the stack file ---------------------------------------------------------------------------------------------


def _round_trip_yaml(text: str) -> YAML:
    """A ruamel round-trip loader/dumper that writes the file back with the indentation it was written in."""
    _, indent, block_sequence_indent = load_yaml_guess_indent(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines (image references are long)
    indent = indent or 2
    offset = block_sequence_indent or 0
    yaml.indent(mapping=indent, sequence=indent + offset, offset=offset)
    return yaml


def _like(old: Any, new: str) -> Any:
    """`new`, quoted the way `old` was (a quoted version stays quoted)."""
    return type(old)(new) if isinstance(old, ScalarString) else new


def _plain(value: Any) -> Any:
    """ruamel's round-trip types as plain Python values, for the config parser."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def validate_stack_config(config: dict[str, Any], stack_file: str) -> None:
    """Parse the edited config with the program's own parser (components.config); refuse what it rejects."""
    try:
        parse_config(_plain(config), stack_file=stack_file, project=PROJECT)
    except ConfigError as error:
        raise PromotionError(
            f"refused: the promoted config would be invalid: {error.problems[0]}"
            + (f" (and {len(error.problems) - 1} more)" if len(error.problems) > 1 else "")
        ) from None


def promote(
    from_stack: str,
    to_stack: str,
    releases: dict[str, DeployedRelease],
    model: str | None = None,
    project_dir: Path = ROOT,
) -> Promotion:
    """Work out the promotion of `releases` (FROM's) into `Pulumi.<to_stack>.yaml`, without writing anything."""
    if from_stack == to_stack:
        raise PromotionError(f"FROM and TO are the same stack ({to_stack})")
    path = stack_file(to_stack, Path(project_dir))
    if not path.is_file():
        raise PromotionError(f"{path.name}: no such stack file")
    before = path.read_text(encoding="utf-8")
    yaml = _round_trip_yaml(before)
    try:
        document = yaml.load(before)
    except YAMLError as error:
        raise PromotionError(f"{path.name}: not valid YAML ({str(error).splitlines()[0]})") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get(MODELS_KEY), CommentedMap):
        raise PromotionError(f"{path.name}: no `{MODELS_KEY}` mapping under `config:`")
    models = config[MODELS_KEY]

    if model is not None:
        if model not in releases:
            raise PromotionError(f"unknown model {model!r}: {from_stack} deployed {_names(releases)}")
        if model not in models:
            raise PromotionError(f"unknown model {model!r}: {path.name} has {_names(models)}; add it there first")
        chosen = [releases[model]]
        skipped = []
    else:
        chosen = [release for name, release in releases.items() if name in models]
        skipped = sorted(name for name in releases if name not in models)
        if not chosen:
            raise PromotionError(
                f"unknown models: {from_stack} deployed {_names(releases)}, "
                f"{path.name} has {_names(models)}; nothing in common to promote"
            )

    changed, unchanged = [], []
    for release in chosen:
        for key, image in (("image", release.image), ("modelImage", release.model_image)):
            if image is not None and not is_pinned_by_digest(image):
                raise PromotionError(
                    f"models.{release.model}.{key}: {image!r} from {from_stack} "
                    f"is not pinned by digest (expected <repository>@sha256:<64 hex>)"
                )
        entry = models[release.model]
        if not isinstance(entry, CommentedMap):
            raise PromotionError(f"{path.name}: {MODELS_KEY}.{release.model} is not a mapping")
        if _apply(entry, release):
            changed.append(release)
        else:
            unchanged.append(release)
    assert isinstance(config, CommentedMap)  # ruamel's round-trip loader gives one for every mapping
    runtime = _apply_runtime(config, [r for r in chosen if r.model_image is not None], from_stack)

    if not changed and runtime is None:
        return Promotion(path, before, before, changed, unchanged, skipped)
    validate_stack_config(config, path.name)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return Promotion(path, before, buffer.getvalue(), changed, unchanged, skipped, runtime)


def _apply_runtime(config: CommentedMap, releases: list[DeployedRelease], from_stack: str) -> str | None:
    """Set TO's `runtime` to the one FROM's promoted models ran on (replacing a `build`); the reference when it
    changed. The runtime is shared by a stack's models: promoting one model moves it for all of them."""
    runtimes = sorted({release.image for release in releases})
    if not runtimes:
        return None
    if len(runtimes) > 1:
        raise PromotionError(
            f"{from_stack}'s models ran on {len(runtimes)} runtimes ({', '.join(runtimes)}); expected one"
        )
    [image] = runtimes
    current = config.get(RUNTIME_KEY)
    if isinstance(current, CommentedMap):
        if current.get("image") == image and "build" not in current:
            return None
        if "image" in current:
            current["image"] = _like(current["image"], image)
            current.pop("build", None)
        elif "build" in current:
            current.insert(list(current).index("build"), "image", image)
            del current["build"]
        else:
            current["image"] = image
        return image
    # No runtime yet: it goes just before the models, which it serves.
    config.insert(list(config).index(MODELS_KEY), RUNTIME_KEY, CommentedMap([("image", image)]))
    return image


def _apply(entry: CommentedMap, release: DeployedRelease) -> bool:
    """Set version and image on one model's mapping, replacing `build` in place; True when anything changed."""
    if release.model_image is not None:
        return _apply_model(entry, release)
    if (
        str(entry.get("version", "")) == release.version
        and entry.get("image") == release.image
        and "build" not in entry
    ):
        return False
    entry["version"] = _like(entry.get("version"), release.version)
    if "image" in entry:
        entry["image"] = _like(entry["image"], release.image)
        entry.pop("build", None)
    elif "build" in entry:
        # The image takes the build's place, so the file reads in the same order as before.
        trailing = _trailing_comment_lines(entry["build"])
        entry.insert(list(entry).index("build"), "image", release.image)
        del entry["build"]
        if trailing:
            entry.ca.items["image"] = [None, None, CommentToken("\n" + trailing, CommentMark(0), None), None]
    else:
        entry.insert(list(entry).index("version") + 1, "image", release.image)
    return True


def _apply_model(entry: CommentedMap, release: DeployedRelease) -> bool:
    """Set version and `model.image` on one model's mapping: a `model.path` gives way to the image, and a server
    `image`/`build` of TO's to `model` (the stack's runtime serves it now); True when anything changed."""
    assert release.model_image is not None
    model = entry.get("model")
    if (
        str(entry.get("version", "")) == release.version
        and isinstance(model, CommentedMap)
        and model.get("image") == release.model_image
        and "path" not in model
        and "image" not in entry
        and "build" not in entry
    ):
        return False
    entry["version"] = _like(entry.get("version"), release.version)
    if isinstance(model, CommentedMap):
        if "image" in model:
            model["image"] = _like(model["image"], release.model_image)
            model.pop("path", None)
        elif "path" in model:
            model.insert(list(model).index("path"), "image", release.model_image)
            del model["path"]
        else:
            model["image"] = release.model_image
    else:
        # The server image TO ran (its own `image` or `build`) gives its place to the model image.
        where = next((k for k in ("image", "build") if k in entry), None)
        index = list(entry).index(where) if where else list(entry).index("version") + 1
        entry.insert(index, "model", CommentedMap([("image", release.model_image)]))
    entry.pop("image", None)
    entry.pop("build", None)
    return True


def _trailing_comment_lines(node: Any) -> str:
    """The comment lines that follow a block in the file (ruamel keeps them on the block's last value, so they
    would go with it): what follows the last line's own end-of-line comment."""
    while isinstance(node, CommentedMap) and node:
        last = list(node)[-1]
        token = (node.ca.items.get(last) or [None, None, None])[2]
        if token is not None:
            _, _, rest = token.value.partition("\n")
            return rest
        node = node[last]
    return ""


def _names(mapping: Any) -> str:
    names = sorted(str(name) for name in mapping)
    return ", ".join(names) if names else "no models"


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step: a reader (or a crash) never sees half a stack file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- command line -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make promote", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="from_stack", required=True, help="the stack that deployed the release (dev)")
    parser.add_argument("--to", dest="to_stack", required=True, help="the stack whose file is edited (prod)")
    parser.add_argument("--model", default=None, help="promote only this model (default: every model)")
    parser.add_argument(
        "--outputs",
        type=Path,
        default=None,
        help="FROM's outputs as JSON (default: `pulumi stack output --json --stack FROM`)",
    )
    parser.add_argument("--project-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.outputs is not None:
            outputs, source = read_outputs_file(args.outputs), str(args.outputs)
        else:
            outputs, source = read_stack_outputs(args.from_stack, args.project_dir), f"{args.from_stack}'s outputs"
        releases = releases_from_outputs(outputs, source)
        promotion = promote(args.from_stack, args.to_stack, releases, args.model, args.project_dir)
    except PromotionError as error:
        print(f"promote: {error}", file=sys.stderr)
        return 1
    for name in promotion.skipped:
        print(f"skipped {name}: not in {promotion.path.name}")
    if not promotion.changed and promotion.runtime is None:
        names = ", ".join(f"{r.model} {r.version}" for r in promotion.unchanged)
        print(f"{promotion.path.name}: already promoted from {args.from_stack} ({names}); nothing changed")
        return 0
    try:
        write_atomically(promotion.path, promotion.after)
    except OSError as error:
        print(f"promote: cannot write {promotion.path}: {error.strerror or error}; it is unchanged", file=sys.stderr)
        return 1
    print(promotion.diff, end="")
    if promotion.runtime is not None:
        print(f"promoted the runtime ({promotion.runtime}) from {args.from_stack} to {promotion.path.name}")
    for release in promotion.changed:
        target = promotion.path.name
        print(f"promoted {release.model} {release.version} {release.shown} from {args.from_stack} to {target}")
        if warning := loopback_warning(release, args.to_stack):
            print(warning, file=sys.stderr)
    return 0


def loopback_warning(release: DeployedRelease, to_stack: str) -> str | None:
    """A warning when the promoted image sits in a registry on the pushing machine, which TO's nodes cannot reach."""
    image = next((i for i in (release.image, release.model_image) if i and _LOOPBACK_REGISTRY.match(i)), None)
    if image is None:
        return None
    registry = image.split("/", 1)[0]
    return (
        f"warning: {release.model}: {registry} is a registry on the machine that pushed, which {to_stack}'s nodes "
        "cannot pull from; copy the image by digest to a registry they reach (crane copy, skopeo copy --all) "
        "and promote that reference"
    )


if __name__ == "__main__":
    sys.exit(main())
