"""The server's life: start-up, readiness, broken models, settings errors, JSON logs, graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

INFER = "/v2/models/breast-cancer/infer"
BODY = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 30], "data": [1.0] * 30}]}).encode()


def _zipmap_model(path):
    """A scikit-learn classifier exported WITH ZipMap: its output is a list of maps, which V2 cannot carry."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2]], dtype=np.float32)
    model = LogisticRegression().fit(features, [0, 1, 0])
    path.write_bytes(to_onnx(model, features, target_opset=17).SerializeToString())


@pytest.mark.parametrize("kind", ["garbage bytes", "missing file", "zipmap output"])
def test_broken_model_never_becomes_ready_and_the_log_says_why(start_server, tmp_path, kind):
    path = tmp_path / "model.onnx"
    expected = {"garbage bytes": "ONNX Runtime cannot load", "missing file": "does not exist",
                "zipmap output": "export it with options={'zipmap': False}"}[kind]  # fmt: skip
    if kind == "garbage bytes":
        path.write_bytes(b"this is not an onnx model")
    elif kind == "zipmap output":
        _zipmap_model(path)
    server = start_server(MODEL_PATH=str(path))
    server.wait_for_log("will not become ready")
    errors = [record for record in server.log_records() if record["level"] == "error"]
    assert len(errors) == 1 and expected in errors[0]["message"] and str(path) in errors[0]["message"]
    assert httpx.get(server.url + "/v2/health/live").status_code == 200
    assert httpx.get(server.url + "/v2/health/ready").status_code == 503
    assert httpx.get(server.url + "/v2/models/breast-cancer/ready").status_code == 503
    response = httpx.post(server.url + INFER, content=BODY)
    assert response.status_code == 503 and expected in response.json()["error"]
    assert "model_server_model_ready 0.0" in httpx.get(server.url + "/metrics").text
    time.sleep(0.3)  # still not ready a moment later: it never will be
    assert httpx.get(server.url + "/v2/health/ready").status_code == 503
    assert server.terminate() == 0


def test_logs_are_json_lines_with_time_level_logger_and_message(start_server):
    server = start_server()
    server.wait_for("/v2/health/ready")
    assert server.terminate() == 0
    records = server.log_records()
    assert records, "the server logged nothing"
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
    ready = next(record for record in records if record["message"] == "model ready")
    assert ready["model"] == "breast-cancer" and ready["inputs"] == ["'input' (FP32, shape [-1, 30])"]
    assert records[-1]["message"] == "stopped"


def test_a_python_warning_while_serving_is_logged_as_json_too(start_server):
    # A value too large for FP32 makes NumPy warn ("overflow encountered in cast") before the server refuses it.
    server = start_server()
    server.wait_for("/v2/health/ready")
    too_large = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 30], "data": [1.0] * 29 + [1e39]}]}
    assert httpx.post(server.url + INFER, json=too_large).status_code == 400
    assert server.terminate() == 0
    records = server.log_records()  # fails on any line that is not JSON
    assert records[-1]["message"] == "stopped"


def test_sigterm_stops_accepting_finishes_in_flight_requests_and_exits_0(start_server):
    server = start_server()
    server.wait_for("/v2/health/ready")
    in_flight = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    # Half a request: the server has begun it and must finish it after SIGTERM.
    in_flight.sendall(
        f"POST {INFER} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY[:40]
    )
    time.sleep(0.3)
    server.process.send_signal(signal.SIGTERM)
    server.wait_for_log("Shutting down")
    assert _refuses_connections(server.port), "still accepting connections while draining"
    assert server.process.poll() is None, "exited with a request in flight"
    in_flight.sendall(BODY[40:])
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = in_flight.recv(65536)
        if not chunk:
            break
        reply += chunk
    in_flight.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK"), reply
    assert json.loads(body)["outputs"][0]["name"] == "label"
    assert server.process.wait(30) == 0


def _refuses_connections(port: int, within: float = 5.0) -> bool:
    """True once a new connection to port is refused (the listening socket closes just after the log line)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.02)
    return False


def test_a_port_in_use_stops_the_server_with_a_json_error_and_a_non_zero_exit(start_server):
    with socket.socket() as taken:  # another process holds the port first
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start_server(PORT=str(port))
        status = server.process.wait(30)
    assert status == 3
    errors = [record for record in server.log_records() if record["level"] == "error"]
    assert errors and "address already in use" in errors[0]["message"].lower()
    assert errors[0]["message"].startswith(f"cannot listen on 127.0.0.1:{port}")


def test_an_address_that_does_not_resolve_stops_the_server_with_one_error_naming_it(start_server):
    server = start_server(HOST="no-such-host.invalid")
    assert server.process.wait(30) == 3
    errors = [record for record in server.log_records() if record["level"] == "error"]
    assert len(errors) == 1 and errors[0]["message"].startswith(f"cannot listen on no-such-host.invalid:{server.port}")
    assert "Traceback" not in server.log_text()


def _answers(host: str, port: int) -> bool:
    url_host = f"[{host}]" if ":" in host else host
    try:
        return httpx.get(f"http://{url_host}:{port}/v2/health/live", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _can_bind(host: str) -> bool:
    """True when this host has the address (a container without IPv6 has no ::1, though `localhost` names it)."""
    try:
        socket.create_server((host, 0), family=socket.AF_INET6 if ":" in host else socket.AF_INET).close()
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not socket.has_dualstack_ipv6() or not _can_bind("::1"), reason="no IPv6 here")


@needs_ipv6
def test_by_default_the_server_answers_on_ipv4_and_ipv6(start_server):
    server = start_server(HOST="")  # unset: every address
    server.wait_for("/v2/health/live")
    assert _answers("127.0.0.1", server.port) and _answers("::1", server.port)
    assert f"every address, port {server.port}" in server.log_text()


@needs_ipv6
def test_an_explicit_address_is_the_only_one_served(start_server):
    server = start_server(HOST="::1")
    deadline = time.monotonic() + 20
    while not _answers("::1", server.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _answers("::1", server.port) and not _answers("127.0.0.1", server.port)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("MAX_REQUEST_ROWS", "0"),
        ("LOG_LEVEL", "loud"),
        ("MODEL_NAME", "a/b"),
        ("MODEL_THREADS", "-1"),
    ],
)
def test_a_bad_setting_stops_the_server_with_one_line_naming_it(variable, value):
    model_dir = os.path.join(os.path.dirname(__file__), "..", "..", "model")
    result = subprocess.run(
        [sys.executable, "-m", "model_server"],
        env={**os.environ, "PYTHONPATH": model_dir, variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "Traceback" not in result.stderr


def test_a_name_is_served_on_every_address_it_resolves_to(start_server):
    server = start_server(HOST="localhost")
    resolved = {info[4][0] for info in socket.getaddrinfo("localhost", server.port, type=socket.SOCK_STREAM)}
    addresses = {address for address in resolved if _can_bind(address)}
    deadline = time.monotonic() + 20
    while not all(_answers(address, server.port) for address in addresses) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert addresses and all(_answers(address, server.port) for address in addresses), addresses
