"""The dev stack's three models through the real Pulumi engine onto the local cluster's real node, each delivered
apart from the one runtime image by an init container (the node's containerd 1.6.20 cannot mount image volumes).

In order, on one project copy and its state: `pulumi up` builds the runtime once and one small image per model;
every pod's init container copies its model and exits 0, the server mounts it read-only and serves the model's own
predictions through its Service (string labels included); then a retrained iris alone rolls the iris Deployment,
by a new model image, while the runtime's digest and the other Deployments stay as they were.

Modelled on test_real_rollout.py; run by the lead engineer with the other cluster tests (`make test`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cluster_load import ServiceForwarder, infer_body
from tools.scratch_project import Project

NAMESPACE = "ml-dev"
MODELS = ("breast-cancer", "iris", "diabetes")
RUNTIME_REPOSITORY = "127.0.0.1:5000/model-server@sha256:"


def example_rows(name: str, count: int = 8) -> np.ndarray:
    """Rows of the data set each example model was trained on (bundled with scikit-learn: no download)."""
    from sklearn import datasets

    loader = {"breast-cancer": datasets.load_breast_cancer, "iris": datasets.load_iris}.get(name)
    data = (loader or datasets.load_diabetes)().data
    return np.asarray(data[:: max(1, len(data) // count)][:count], dtype=np.float32)


def assert_model_predictions(result: dict[str, Any], model_file: Path, rows: np.ndarray) -> None:
    """Every output equals what the model file gives for `rows` locally; string labels compared as strings."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    expected = dict(zip(names, session.run(None, {session.get_inputs()[0].name: rows}), strict=True))
    assert result["outputs"], result
    for output in result["outputs"]:
        want = np.asarray(expected[output["name"]])
        if want.dtype.kind in "OSU":
            assert [str(v) for v in output["data"]] == [str(v) for v in want.ravel()]
        else:
            np.testing.assert_allclose(np.asarray(output["data"], dtype=want.dtype), want.ravel(), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def real_project(real_cluster_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project copy deploying dev (three models, one runtime) to the real node; destroyed at the end."""
    project = Project.create(tmp_path_factory.mktemp("model-artifacts"), real_cluster_kubeconfig)
    project.action("up", "dev")
    yield project
    project.action("destroy", "dev", check=False)


def predict(kubeconfig: Path, name: str, rows: np.ndarray) -> dict[str, Any]:
    import httpx

    with ServiceForwarder(kubeconfig, NAMESPACE, name) as forward:
        with httpx.Client(base_url=forward.url, timeout=10) as client:
            (model_input,) = client.get(f"/v2/models/{name}").raise_for_status().json()["inputs"]
            response = client.post(f"/v2/models/{name}/infer", json=infer_body(rows, model_input["name"], "FP32"))
    assert response.status_code == 200, response.text
    return response.json()


def test_up_builds_one_runtime_and_a_model_image_per_model(real_project):
    outputs = real_project.outputs("dev")["models"]

    assert set(outputs) == set(MODELS)
    assert len({model["image"] for model in outputs.values()}) == 1
    for name, model in outputs.items():
        assert model["image"].startswith(RUNTIME_REPOSITORY)
        assert model["modelImage"].startswith(f"127.0.0.1:5000/models/{name}@sha256:")


@pytest.mark.parametrize("name", MODELS)
def test_each_pod_copies_its_model_then_serves_it_read_only(real_project, name):
    [pod] = [
        p
        for p in real_project.kube_json("pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/name={name}")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    [copier] = pod["status"]["initContainerStatuses"]
    assert copier["name"] == "copy-model"
    assert copier["state"]["terminated"]["exitCode"] == 0
    server = pod["spec"]["containers"][0]
    assert {"name": "MODEL_DIR", "value": "/var/lib/model/model"} in server["env"]
    assert {"name": "model", "mountPath": "/var/lib/model", "readOnly": True} in server["volumeMounts"]
    assert pod["spec"]["initContainers"][0]["image"] == real_project.outputs("dev")["models"][name]["modelImage"]


@pytest.mark.parametrize("name", MODELS)
def test_each_model_serves_its_own_predictions_through_its_service(real_project, real_cluster_kubeconfig, name):
    rows = example_rows(name)

    result = predict(real_cluster_kubeconfig, name, rows)

    assert result["model_name"] == name and result["model_version"] == "1.0.0"
    assert_model_predictions(result, real_project.path / "models" / f"{name}.onnx", rows)


def test_a_retrained_model_rolls_only_its_own_deployment(real_project, real_cluster_kubeconfig):
    before = real_project.outputs("dev")["models"]
    generations = {
        name: real_project.kube_json("deployment", name, "-n", NAMESPACE)["metadata"]["generation"] for name in MODELS
    }
    model_file = real_project.path / "models" / "iris.onnx"
    note = b"retrained on the cluster test"
    # Another valid ONNX file of the same graph: a doc_string appended (ModelProto field 6).
    model_file.write_bytes(model_file.read_bytes() + bytes([0x32, len(note)]) + note)

    real_project.action("up", "dev")

    after = real_project.outputs("dev")["models"]
    assert after["iris"]["modelImage"] != before["iris"]["modelImage"]
    assert {name: model["image"] for name, model in after.items()} == {n: m["image"] for n, m in before.items()}
    for name in MODELS:
        generation = real_project.kube_json("deployment", name, "-n", NAMESPACE)["metadata"]["generation"]
        assert (generation > generations[name]) == (name == "iris"), name
    real_project.kubectl("rollout", "status", "deployment/iris", "-n", NAMESPACE, "--timeout=120s")
    rows = example_rows("iris")
    assert_model_predictions(predict(real_cluster_kubeconfig, "iris", rows), model_file, rows)
