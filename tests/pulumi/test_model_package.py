"""A model image's build context: what it holds, and that the same model file always gives the same context."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components.model_package import COPIER, dockerfile, size_limit, write_context
from conventions import ROOT
from tools.stack_run import build_context_digest

EXAMPLE_ONNX = ROOT / "model" / "artifacts" / "breast-cancer.onnx"


def retrained(directory: Path) -> Path:
    """The example model with a different doc_string appended (ModelProto field 6): another valid ONNX file, as a
    retraining would give, with the same signature."""
    note = b"retrained"
    path = directory / "retrained.onnx"
    path.write_bytes(EXAMPLE_ONNX.read_bytes() + bytes([0x32, len(note)]) + note)
    return path


def package(tmp_path: Path, source: Path = EXAMPLE_ONNX, where: str = "context"):
    return write_context(source, tmp_path / where, name="iris", version="1.0.0", cache_dir=tmp_path / "copier")


def test_the_context_holds_the_artifact_the_copier_and_a_scratch_dockerfile(tmp_path):
    packaged = package(tmp_path)
    context = packaged.context
    manifest = json.loads((context / "model" / "manifest.json").read_text())

    assert sorted(p.relative_to(context).as_posix() for p in context.rglob("*")) == [
        "Dockerfile",
        COPIER,
        "model",
        "model/breast-cancer.onnx",
        "model/manifest.json",
    ]
    assert manifest["name"] == "iris" and manifest["version"] == "1.0.0" and manifest["graph"] == "breast-cancer.onnx"
    assert (context / "model" / "breast-cancer.onnx").read_bytes() == EXAMPLE_ONNX.read_bytes()
    assert packaged.size_bytes == EXAMPLE_ONNX.stat().st_size
    assert (context / "Dockerfile").read_text().splitlines()[1] == "FROM scratch"


def test_the_copier_is_a_static_binary_of_a_few_kilobytes(tmp_path):
    binary = (package(tmp_path).context / COPIER).read_bytes()

    assert binary[:4] == b"\x7fELF"
    assert len(binary) < 4096
    assert b"ld-linux" not in binary  # no program interpreter: static


def test_the_image_labels_name_the_model_its_version_and_checksum(tmp_path):
    packaged = package(tmp_path)
    text = dockerfile(packaged.manifest)

    assert 'org.opencontainers.image.title="iris"' in text
    assert 'org.opencontainers.image.version="1.0.0"' in text
    assert f'ml-platform.model.sha256="{packaged.graph_sha256}"' in text
    assert packaged.graph_sha256.startswith("sha256:")


def test_the_same_model_file_gives_the_same_context_byte_for_byte(tmp_path):
    first, second = package(tmp_path, where="a").context, package(tmp_path, where="b").context
    image = {"buildArgs": {"SOURCE_DATE_EPOCH": "0"}}

    assert build_context_digest(first, image) == build_context_digest(second, image)
    for path in first.rglob("*"):
        twin = second / path.relative_to(first)
        assert (path.stat().st_mtime, path.stat().st_mode) == (twin.stat().st_mtime, twin.stat().st_mode)


def test_a_retrained_model_of_the_same_size_gets_another_mtime(tmp_path):
    # BuildKit resends a context file only when its size or mtime changed: a constant mtime would keep the old bytes.
    first = package(tmp_path, retrained(tmp_path), where="a").context / "model" / "retrained.onnx"
    again = tmp_path / "again"
    again.mkdir()
    other = retrained(again)
    other.write_bytes(other.read_bytes()[:-1] + b"X")  # the same size, other bytes
    second = package(tmp_path, other, where="b").context / "model" / "retrained.onnx"

    assert first.stat().st_size == second.stat().st_size
    assert first.stat().st_mtime != second.stat().st_mtime


def test_another_model_file_gives_another_context(tmp_path):
    before = package(tmp_path, where="a").context
    after = package(tmp_path, retrained(tmp_path), where="b").context

    assert build_context_digest(before, {}) != build_context_digest(after, {})


def test_repackaging_replaces_the_context_whole(tmp_path):
    context = package(tmp_path).context
    (context / "stale").write_text("left over")

    package(tmp_path)

    assert not (context / "stale").exists()


@pytest.mark.parametrize(("size", "limit"), [(0, "16Mi"), (151_976, "17Mi"), (100 << 20, "116Mi"), (1 << 30, "1127Mi")])
def test_the_empty_dir_holds_the_model_and_a_tenth_more_at_least_16_mib(size, limit):
    assert size_limit(size) == limit


def test_a_file_that_is_not_an_onnx_model_is_not_packaged(tmp_path):
    (tmp_path / "not-a-model.onnx").write_text("hello")

    with pytest.raises(ValueError, match="not an ONNX model"):
        package(tmp_path, tmp_path / "not-a-model.onnx")


@pytest.fixture
def copier(tmp_path: Path) -> Path:
    """The init container's copier, as packaging compiles it (it runs on this machine's kernel as is)."""
    return package(tmp_path, where="copier-context").context / COPIER


def run_copier(copier: Path, source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(copier), str(source), str(target)], capture_output=True, text=True, timeout=30)


def test_the_copier_copies_a_nested_tree_byte_for_byte_and_again_over_its_own_copy(copier, tmp_path):
    source, target = tmp_path / "model", tmp_path / "out"
    (source / "weights").mkdir(parents=True)
    (source / "wine.onnx").write_bytes(b"graph" * 1000)
    (source / "weights" / "wine.onnx.data").write_bytes(bytes(range(256)) * 5000)
    (source / "empty").write_bytes(b"")

    for _ in range(2):  # an init container restarted halfway copies again over what it wrote
        result = run_copier(copier, source, target)
        assert result.returncode == 0, result.stderr
    for path in (Path("wine.onnx"), Path("weights/wine.onnx.data"), Path("empty")):
        assert (target / path).read_bytes() == (source / path).read_bytes()


def test_the_copier_refuses_a_symlink_in_the_source_and_one_already_at_the_target(copier, tmp_path):
    source, target = tmp_path / "model", tmp_path / "out"
    source.mkdir()
    (source / "wine.onnx").write_bytes(b"graph")
    outside = tmp_path / "outside"
    outside.write_text("untouched\n")
    target.mkdir()
    (target / "wine.onnx").symlink_to(outside)

    written_through = run_copier(copier, source, target)
    assert written_through.returncode != 0 and "cannot create" in written_through.stderr
    assert outside.read_text() == "untouched\n"

    (source / "link").symlink_to(outside)
    (target / "wine.onnx").unlink()
    followed = run_copier(copier, source, target)
    assert followed.returncode != 0 and "not a file or directory" in followed.stderr


def test_the_copier_names_a_missing_source_and_fails(copier, tmp_path):
    result = run_copier(copier, tmp_path / "absent", tmp_path / "out")

    assert result.returncode != 0
    assert str(tmp_path / "absent") in result.stderr and "\n" == result.stderr[-1:] and result.stderr.count("\n") == 1
