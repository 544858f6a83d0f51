"""The one check that a served inference is the model's own answer: onnxruntime run locally on the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def assert_same_predictions(result: dict[str, Any], model_file: Path, rows: np.ndarray) -> None:
    """Every output of the V2 response `result` equals what the model file gives for `rows` locally."""
    import onnxruntime  # the model server's runtime, in the project's venv; imported only by the tests that serve

    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    expected = dict(zip(names, session.run(None, {session.get_inputs()[0].name: rows}), strict=True))
    assert {o["name"] for o in result["outputs"]} <= set(expected)
    for output in result["outputs"]:
        want = np.asarray(expected[output["name"]])
        np.testing.assert_allclose(np.asarray(output["data"], dtype=want.dtype), want.ravel(), rtol=1e-5, atol=1e-6)
