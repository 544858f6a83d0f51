"""Kubeconfig files for the local cluster's users: the admin (users, tests, Pulumi) and each component."""

from __future__ import annotations

import json
from pathlib import Path

from tools.cluster.pki import KeyPair

CONTEXT = "ml-platform-local"


def write(path: Path, server: str, ca: Path, client: KeyPair) -> Path:
    """A kubeconfig with one cluster, user and context (`ml-platform-local`), referring to the PEM files by path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [
            {
                "name": CONTEXT,
                "user": {"client-certificate": str(client.cert), "client-key": str(client.key)},
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: every kubeconfig reader accepts it.
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
