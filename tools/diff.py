"""Show, offline, how two stacks' rendered Kubernetes objects differ.

    python -m tools.diff --from dev --to prod

Renders both stacks with the real program under mocks (as `make render` does, secrets masked), matches
objects by kind and name (namespaces usually differ between stacks), and prints a unified diff per object;
an object only one stack has is shown whole, added or removed. Exit codes: 0 (whether or not they differ),
1 a stack's config is invalid, 2 bad arguments.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from tools import render, render_output

Key = tuple[str, str]


def object_key(obj: Mapping[str, Any]) -> Key:
    """(kind, name): how an object in one stack is matched with its counterpart in the other."""
    return str(obj.get("kind", "")), str((obj.get("metadata") or {}).get("name", ""))


def diff_objects(
    old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]], old_label: str, new_label: str
) -> str:
    """A unified diff of two lists of objects, one section per kind/name that differs ('' when equal)."""
    before = {object_key(obj): obj for obj in old}
    after = {object_key(obj): obj for obj in new}
    # Each stack usually owns one namespace, named after the stack: compare those two with each other.
    old_ns = [key for key in before if key[0] == "Namespace"]
    new_ns = [key for key in after if key[0] == "Namespace"]
    if len(old_ns) == 1 and len(new_ns) == 1:
        after = {(old_ns[0] if key == new_ns[0] else key): obj for key, obj in after.items()}
    # Objects in the first stack's order, then those only the second has.
    keys = list(before) + [key for key in after if key not in before]
    sections = []
    for key in keys:
        a = render_output.to_yaml(before[key]) if key in before else ""
        b = render_output.to_yaml(after[key]) if key in after else ""
        if a == b:
            continue
        lines = difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            fromfile=_label(old_label, before[key]) if a else "/dev/null",
            tofile=_label(new_label, after[key]) if b else "/dev/null",
        )
        sections.append("".join(lines))
    return "".join(sections)


def _label(stack: str, obj: Mapping[str, Any]) -> str:
    kind, name = object_key(obj)
    return f"{stack}/{kind}/{name}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = render.UsageParser(prog="python -m tools.diff", description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="the stack to compare from, e.g. dev")
    parser.add_argument("--to", dest="target", required=True, help="the stack to compare to, e.g. prod")
    try:
        args = parser.parse_args(argv)
        old = render.render_stack(args.source)
        new = render.render_stack(args.target)
    except render.UsageError as error:
        print(f"diff: {error}", file=sys.stderr)
        return 2
    except render.RenderFailed as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    text = diff_objects(old.objects, new.objects, args.source, args.target)
    if text:
        print(text, end="")
    else:
        print(f"{args.source} and {args.target} render the same objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
