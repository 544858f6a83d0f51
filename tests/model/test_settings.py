"""MODEL_DIR: a model artifact directory instead of one .onnx file, exclusive with MODEL_PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_server import manifest
from model_server.settings import DEFAULT_MODEL_PATH, SettingsError, load_settings

ARTIFACT = Path(__file__).resolve().parents[2] / "model" / "artifacts" / "breast-cancer.onnx"


@pytest.fixture
def model_dir(tmp_path) -> Path:
    manifest.write_artifact(ARTIFACT, tmp_path / "model", "cancer", "2.1.0")
    return tmp_path / "model"


def test_model_dir_serves_the_manifests_graph_under_its_name_and_version(model_dir):
    settings = load_settings({"MODEL_DIR": str(model_dir)})
    assert settings.model_dir == model_dir
    assert settings.model_path == model_dir / "breast-cancer.onnx"
    assert (settings.model_name, settings.model_version) == ("cancer", "2.1.0")


def test_model_name_and_version_from_the_environment_win_over_the_manifest(model_dir):
    settings = load_settings({"MODEL_DIR": str(model_dir), "MODEL_NAME": "tumor", "MODEL_VERSION": "7"})
    assert (settings.model_name, settings.model_version) == ("tumor", "7")


def test_without_model_dir_model_path_is_served_as_before(tmp_path):
    assert load_settings({}).model_dir is None
    assert load_settings({}).model_path == DEFAULT_MODEL_PATH
    assert load_settings({"MODEL_PATH": "/m/x.onnx"}).model_path == Path("/m/x.onnx")


def test_model_dir_and_model_path_together_are_one_error_naming_both(model_dir):
    with pytest.raises(SettingsError) as error:
        load_settings({"MODEL_DIR": str(model_dir), "MODEL_PATH": "/m/x.onnx"})
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"MODEL_DIR={str(model_dir)!r} and MODEL_PATH='/m/x.onnx' are both set; set one")


def test_a_model_dir_without_manifest_is_a_bad_setting_naming_the_file(tmp_path):
    with pytest.raises(SettingsError, match=r"^MODEL_DIR='.*': .*/manifest\.json: no such file"):
        load_settings({"MODEL_DIR": str(tmp_path)})


def test_a_manifest_name_that_cannot_be_a_url_segment_says_where_it_came_from(model_dir):
    data = json.loads((model_dir / "manifest.json").read_text())
    (model_dir / "manifest.json").write_text(json.dumps({**data, "name": "breast cancer"}))
    with pytest.raises(SettingsError, match=r"^MODEL_NAME \(unset, so from MODEL_DIR's manifest.json\)="):
        load_settings({"MODEL_DIR": str(model_dir)})
    assert load_settings({"MODEL_DIR": str(model_dir), "MODEL_NAME": "cancer"}).model_name == "cancer"
