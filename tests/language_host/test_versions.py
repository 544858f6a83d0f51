"""Package versions as plugin versions: upstream's determinePluginVersion table (main_test.go)."""

import pytest

from toolchain.language_host.versions import UnsupportedVersion, plugin_version


@pytest.mark.parametrize(
    ("package_version", "expected"),
    [
        ("0.1", "0.1.0"),
        ("1.0", "1.0.0"),
        ("1.0.0", "1.0.0"),
        ("4.3.2.1", "4.3.2.1"),
        ("2.1a123456789", "2.1.0-alpha.123456789"),
        ("2.14.0a1605583329", "2.14.0-alpha.1605583329"),
        ("1.2.3b123456", "1.2.3-beta.123456"),
        ("3.2.1rc654321", "3.2.1-rc.654321"),
        ("1.2.3.dev456", "1.2.3+dev456"),
        ("3.2.post32", "3.2.0+post32"),
        ("0.3.0b8", "0.3.0-beta.8"),
        ("3.2.post1.dev0", "3.2.0+post1dev0"),
        ("0.0.22", "0.0.22"),
    ],
)
def test_translatable_versions(package_version, expected):
    assert plugin_version(package_version) == expected


@pytest.mark.parametrize(
    ("package_version", "message"),
    [
        ("", "cannot parse empty string"),
        (" 1 . 2 . 3 ", "' 1 . 2 . 3 ' still unparsed"),
        ("1.2.3dev7890", "'dev7890' still unparsed"),
        ("1.", "'.' still unparsed"),
        ("10!3.2.1", "epochs are not supported"),
        ("1.0+local", "'\\+local' still unparsed"),
    ],
)
def test_versions_that_name_no_plugin(package_version, message):
    with pytest.raises(UnsupportedVersion, match=message):
        plugin_version(package_version)
