"""A Python package's version (PEP 440) as the version of the plugin it goes with (semver).

A provider SDK on PyPI (say pulumi-kubernetes 4.18.1) needs the resource plugin of the same version. When its
pulumi-plugin.json names no version, the engine is told the package version translated to semver, by the rules
of upstream's `determinePluginVersion` (sdk/python/cmd/pulumi-language-python/main.go), which handle the subset
`N(.N)*[{a|b|rc}N][.postN][.devN]` of PEP 440:

    1.0            -> 1.0.0           (at least three segments)
    1.2.3a4        -> 1.2.3-alpha.4   (b -> beta, rc -> rc)
    1.2.3.post4    -> 1.2.3+post4
    1.2.3.post4.dev5 -> 1.2.3+post4dev5

Anything else (an epoch, local versions, stray text) cannot name a plugin, and the package is skipped.
"""

from __future__ import annotations


class UnsupportedVersion(ValueError):
    """The package version has no plugin-version translation."""


def _leading_digits(text: str) -> tuple[str, str]:
    """Split `text` into its leading ASCII digits and the rest."""
    end = 0
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return text[:end], text[end:]


def plugin_version(package_version: str) -> str:
    """The semver plugin version for a PEP 440 package version; raises UnsupportedVersion."""
    if not package_version:
        raise UnsupportedVersion("cannot parse empty string")
    if not package_version.isascii():
        raise UnsupportedVersion(f"{package_version!r} is not ASCII")

    number, after = _leading_digits(package_version)
    if number and after.startswith("!"):
        raise UnsupportedVersion("epochs are not supported")

    # The release segments: digits separated by dots. A dot not followed by digits belongs to what comes next
    # (".post1", ".dev0").
    segments: list[str] = []
    rest = package_version
    while True:
        number, after = _leading_digits(rest)
        if not number:
            break
        segments.append(number)
        if after.startswith(".") and after[1:2].isdigit():
            rest = after[1:]
            continue
        rest = after
        break
    while len(segments) < 3:
        segments.append("0")

    pre_release = ""
    for marker, label in (("rc", "rc"), ("a", "alpha"), ("b", "beta")):
        if rest.startswith(marker):
            number, rest = _leading_digits(rest[len(marker) :])
            pre_release = f"-{label}.{number}"
            break

    post_release = ""
    if rest.startswith(".post"):
        number, rest = _leading_digits(rest[len(".post") :])
        post_release = f"+post{number}"

    development = ""
    if rest.startswith(".dev"):
        number, rest = _leading_digits(rest[len(".dev") :])
        # One build-metadata separator: `+post4dev5`, or `+dev5` alone.
        development = ("" if post_release else "+") + f"dev{number}"

    if rest:
        raise UnsupportedVersion(f"{rest!r} still unparsed")
    return ".".join(segments) + pre_release + post_release + development
