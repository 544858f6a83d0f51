"""Every command, link and path the docs show still exists.

Running every command would be too slow for the suite; checking what they name catches the rot: each `make <target>`
in a ```bash or ```sh block of README.md and docs/ is a Makefile target, and each VAR=value given to it a variable
the Makefile reads; each `bash <script>` and `python -m <module>` of the repository exists; each relative link
leads to a file (and, with an #anchor, to a heading of that page); each repository path in backticks exists.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
IDS = [str(page.relative_to(ROOT)) for page in PAGES]
# Characters that mark a placeholder or a pattern rather than a path: `Pulumi.<stack>.yaml`, `build/*.log`.
PLACEHOLDER = re.compile(r"[<>*…{}$\[\]|]|\.\.\.")


def code_blocks(text: str, languages: tuple[str, ...] = ("bash", "sh")) -> list[str]:
    """The contents of the fenced blocks in one of `languages` (fences may be indented, as in a list)."""
    pattern = rf"^[ \t]*```(?:{'|'.join(languages)})[ \t]*\n(.*?)^[ \t]*```"
    return re.findall(pattern, text, re.MULTILINE | re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """The simple commands of a shell block, as argument lists: comments dropped, continuations joined, split at
    `&&`, `||`, `;` and `|`. Lines that are not whole commands (inside a multi-line quoted argument) are skipped."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError:  # an unbalanced quote: a line of a multi-line argument
            continue
        current: list[str] = []
        for token in tokens:
            if token in (";", "&&", "||", "|", "&"):
                out.append(current)
                current = []
            else:
                current.append(token)
        out.append(current)
    return [command for command in out if command]


def page_commands() -> list[tuple[str, list[str]]]:
    return [
        (page_id, command)
        for page, page_id in zip(PAGES, IDS, strict=True)
        for block in code_blocks(page.read_text())
        for command in commands(block)
    ]


@cache
def makefile_targets() -> frozenset[str]:
    """The targets GNU make knows, from its database (`make -pRrq`, which runs no recipe)."""
    database = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile", ":"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    names = re.findall(r"^([A-Za-z0-9][\w.-]*):(?!=)", database.stdout, re.MULTILINE)
    return frozenset(names)


@cache
def makefile_variables() -> frozenset[str]:
    """Every variable the Makefile sets or reads: `VAR ?= ...`, `$(VAR)`, `$(if $(VAR),...)`."""
    text = (ROOT / "Makefile").read_text()
    return frozenset(
        re.findall(r"^([A-Z][A-Z0-9_]*)\s*[?:+]?=", text, re.MULTILINE) + re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", text)
    )


def make_invocations() -> list[tuple[str, list[str]]]:
    found = []
    for page_id, command in page_commands():
        words = command[1:] if command[0] == "sudo" else command
        if words and words[0] == "make":
            found.append((page_id, words[1:]))
    return found


def test_the_pages_show_make_commands():
    assert len(make_invocations()) > 20


@pytest.mark.parametrize(
    ("page", "args"),
    make_invocations(),
    ids=lambda value: value if isinstance(value, str) else " ".join(["make", *value]),
)
def test_every_make_command_names_a_target_and_variables_the_makefile_has(page, args):
    targets = [arg for arg in args if "=" not in arg and not arg.startswith("-")]
    variables = [arg.partition("=")[0] for arg in args if "=" in arg]
    assert targets, f"{page}: `make` alone runs the Makefile's first target; name one"
    for target in targets:
        assert target in makefile_targets(), f"{page}: make {target}: no such target in the Makefile"
    for variable in variables:
        assert variable in makefile_variables(), f"{page}: {variable}=...: the Makefile never reads {variable}"


def repository_scripts_and_modules() -> list[tuple[str, str]]:
    """`bash <script>` and `python -m <module>` arguments that belong to this repository."""
    found = []
    for page_id, command in page_commands():
        for i, word in enumerate(command[:-1]):
            following = command[i + 1]
            if word == "bash" and not following.startswith("-"):
                found.append((page_id, following))
            elif word == "-m" and (ROOT / following.split(".")[0]).is_dir():
                module = ROOT / Path(*following.split("."))
                found.append(
                    (
                        page_id,
                        str(
                            (module / "__main__.py" if module.is_dir() else module.with_suffix(".py")).relative_to(ROOT)
                        ),
                    )
                )
    return found


@pytest.mark.parametrize(("page", "path"), repository_scripts_and_modules())
def test_every_script_and_module_run_exists(page, path):
    assert (ROOT / path).is_file(), f"{page}: {path} does not exist"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (hyphens and underscores kept), spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    seen: dict[str, int] = {}
    result = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE):
        base = slug(heading)
        count = seen.get(base, 0)
        result.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return result


def links(page: Path) -> list[str]:
    text = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_relative_link_leads_to_a_file_and_heading(page):
    assert page.stat().st_size > 0
    for link in links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{link}: {target.relative_to(ROOT)} does not exist"
        if anchor and target.suffix == ".md":
            assert anchor in anchors(target), f"{link}: no heading #{anchor} in {target.relative_to(ROOT)}"


@cache
def top_level_entries() -> frozenset[str]:
    """The repository's tracked top-level files and folders: a backticked word starting with one is a path."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return frozenset(line.split("/")[0] for line in files.splitlines())


def git_ignored(paths: list[str]) -> set[str]:
    """The paths git ignores: what a build or a run creates (build/, .cluster/, policy/.venv), not the repository."""
    result = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=ROOT,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(result.stdout.splitlines())


def mentioned_paths(page: Path) -> list[str]:
    """Repository paths a page names: single backticked words, and the arguments of its shell commands."""
    text = page.read_text()
    words = re.findall(
        r"`([^`\s]+)`",
        re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.MULTILINE | re.DOTALL),
    )
    words += [word for block in code_blocks(text) for command in commands(block) for word in command]
    paths = []
    for word in words:
        word = word.rstrip(".,:;)").removeprefix("./")
        if PLACEHOLDER.search(word) or "=" in word or word.startswith(("-", "/")):
            continue
        if word.split("/")[0] in top_level_entries() and (word.count("/") or "." in word):
            paths.append(word.rstrip("/"))
    return sorted(set(paths))


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_repository_path_mentioned_exists(page):
    paths = mentioned_paths(page)
    ignored = git_ignored(paths)
    missing = [path for path in paths if path not in ignored and not (ROOT / path).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"
