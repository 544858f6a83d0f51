"""A minimal client of the local API server (JSON over HTTPS with the admin certificate), for starting the cluster.

The cluster scripts need a handful of calls (readiness, create a Node, read node conditions); `kubectl` would do
as well but costs a process per call, and the Python client would be one more dependency for four requests.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tools.cluster.pki import KeyPair


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Api:
    """The API server at `server` (https://host:port), trusted through `ca`, as `client`."""

    server: str
    ca: str
    client: KeyPair

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca)
        context.load_cert_chain(str(self.client.cert), str(self.client.key))
        return context

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/merge-patch+json" if method == "PATCH" else "application/json"
        req = urllib.request.Request(self.server + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self._context(), timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode(errors="replace")[:300]) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def ready(self) -> bool:
        """True once /readyz answers ok (etcd reachable, bootstrap controllers done)."""
        try:
            return self.request("GET", "/readyz", timeout=2.0) == "ok"
        except (OSError, ApiError):
            return False

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def create(self, path: str, body: dict[str, Any]) -> Any:
        """POST `body`; an object that already exists is left as it is."""
        try:
            return self.request("POST", path, body)
        except ApiError as error:
            if error.status != 409:
                raise
            return None

    def node_ready(self, name: str) -> bool:
        try:
            node = self.get(f"/api/v1/nodes/{name}")
        except (OSError, ApiError):
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def delete_node(self, name: str) -> None:
        """Deletes a Node object (its pods are then removed by the control plane); a missing one is fine."""
        try:
            self.request("DELETE", f"/api/v1/nodes/{name}")
        except ApiError as error:
            if error.status != 404:
                raise
