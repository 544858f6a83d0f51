"""A small, fast Open Inference Protocol (KServe V2) server for ONNX models.

The parts, each in its own module, as in KServe's Python model server:
- `runtime` / `onnx_model`: the model runtime (load, metadata read from the graph, predict). A new runtime is a
  small subclass of `ModelRuntime`.
- `protocol`: V2 request parsing/validation and response building, pure functions over bytes and NumPy arrays.
- `infer_request`: the one entry point for decoding an infer request: the fast decoder (`request_decoder`),
  else the full parser (`protocol`).
- `model_state`: the model's state (loading, ready with a `LoadedModel`, failed, stopped) and the loading.
- `batching`: merges requests that arrive together into one model call.
- `app`: the thin ASGI layer with explicit routes; `metrics`, `settings`, `logs`, `cpu`: operations.
- `main`: wiring, run by `python -m model_server`.
"""
