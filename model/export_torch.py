"""Export a PyTorch model to ONNX the way the platform serves it: graph plus external weights, `<name>.onnx.data`.

PyTorch's exporter (`torch.onnx.export(..., dynamo=True)`, the default since torch 2.9) writes the weights beside the
graph in `<name>.onnx.data`, and the graph names that file: deliver both, under these names (the platform's model
artifact does: docs/model-server.md). Give the batch dimension a `Dim` so that the server can take any number of
rows and merge concurrent requests.

The network here is a small classifier for scikit-learn's wine data set (13 features, 3 classes) with seeded
weights and no training: what matters to the platform is the export, not the accuracy. Needs torch and onnxscript,
which the project does not install (about 5 GB with the CUDA libraries torch's Linux wheel pulls in):

    python model/export_torch.py --out wine/wine.onnx [--sample sample.json]

`--sample` also writes a few input rows and torch's own outputs for them (JSON), for tests to compare with.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SEED = 42
N_FEATURES = 13
N_CLASSES = 3


def build_model():
    """A 13 -> 64 -> 3 network with a softmax: seeded weights, evaluation mode."""
    import torch

    torch.manual_seed(SEED)
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, N_CLASSES),
        torch.nn.Softmax(dim=1),
    ).eval()


def export(model, out: Path) -> None:
    """Write `out` and `out` + ".data": input `input` FP32 [batch, 13], output `probabilities` FP32 [batch, 3]."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(2, N_FEATURES),),
        str(out),
        input_names=["input"],
        output_names=["probabilities"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        dynamo=True,
        external_data=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write (its .onnx.data beside it)")
    parser.add_argument("--sample", type=Path, help="also write sample inputs and torch's outputs for them (JSON)")
    args = parser.parse_args(argv)

    import torch

    model = build_model()
    export(model, args.out)
    print(f"wrote {args.out} and {args.out}.data")
    if args.sample:
        rows = torch.randn(5, N_FEATURES, generator=torch.Generator().manual_seed(SEED))
        with torch.no_grad():
            probabilities = model(rows)
        args.sample.write_text(json.dumps({"input": rows.tolist(), "probabilities": probabilities.tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
