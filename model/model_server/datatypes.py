"""Tensor element types: ONNX Runtime's type strings, Open Inference Protocol datatypes and NumPy dtypes."""

from __future__ import annotations

import numpy as np

# ONNX Runtime reports types as "tensor(float)"; V2 calls the same element type "FP32".
ONNX_TO_V2: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",  # V2 carries strings as BYTES; in JSON, `data` holds the strings themselves
}

V2_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    # ONNX Runtime takes and returns string tensors as NumPy object arrays of Python str.
    "BYTES": np.dtype(object),
}

# All V2 datatypes, for telling "unknown datatype" from "wrong datatype" in error messages.
V2_DATATYPES = frozenset(V2_TO_NUMPY)
