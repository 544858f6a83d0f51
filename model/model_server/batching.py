"""Opportunistic micro-batching: requests that arrive together share one model call.

Under load, several requests become ready in the same event-loop turn. Each one queues its rows and waits; the
flush runs once those handlers have queued (it is scheduled with `call_soon`, so it waits for no timer), stacks the
rows, calls the model once and hands each request its slice. A lone request runs alone in the next loop turn, so
latency at low load hardly changes. One call for 8 rows of the example model costs about 2x one row, not 8x.
"""

from __future__ import annotations

import asyncio

import numpy as np

from model_server.runtime import InferenceError, ModelRuntime

_Pending = tuple[dict[str, np.ndarray], int, asyncio.Future]


class MicroBatcher:
    """Runs predictions for the event loop's handlers, merging those that arrive in the same loop turn."""

    def __init__(self, model: ModelRuntime, max_rows: int):
        self.model = model
        self.max_rows = max_rows if model.batchable else 0
        #: Calls made to the model (rows predicted / calls = the average batch size; see /metrics).
        self.model_calls = 0
        self._pending: list[_Pending] = []
        self._flush_scheduled = False

    async def predict(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        """Predict `inputs` (with `rows` rows), possibly in one call together with other waiting requests."""
        if rows >= self.max_rows:
            self.model_calls += 1
            return self.model.predict(inputs)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((inputs, rows, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self._flush_scheduled = False
        batch: list[_Pending] = []
        batch_rows = 0
        for item in pending:
            if batch and (batch_rows + item[1] > self.max_rows or not _same_layout(batch[0][0], item[0])):
                self._run(batch)
                batch, batch_rows = [], 0
            batch.append(item)
            batch_rows += item[1]
        if batch:
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        first = batch[0][0]
        stacked = {name: np.concatenate([item[0][name] for item in batch]) for name in first}
        total = sum(item[1] for item in batch)
        try:
            self.model_calls += 1
            results = self.model.predict(stacked)
        except InferenceError:
            # One bad request must not fail the others: run each alone so the error reaches its own caller.
            for item in batch:
                self._run_alone(item)
            return
        if any(result.shape[:1] != (total,) for result in results.values()):
            for item in batch:  # the model did not keep one output row per input row: it cannot be batched
                self._run_alone(item)
            return
        start = 0
        for _inputs, rows, future in batch:
            if not future.done():  # the client may have gone away
                future.set_result({name: result[start : start + rows] for name, result in results.items()})
            start += rows

    def _run_alone(self, item: _Pending) -> None:
        inputs, _rows, future = item
        if future.done():
            return
        try:
            self.model_calls += 1
            future.set_result(self.model.predict(inputs))
        except InferenceError as error:
            future.set_exception(error)


def _same_layout(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    """True when two requests' arrays can be stacked: same names, dtypes and sizes past the first dimension."""
    if a.keys() != b.keys():
        return False
    for name, array in a.items():
        other = b[name]
        if array.shape[1:] != other.shape[1:] or array.dtype != other.dtype:
            return False
    return True
