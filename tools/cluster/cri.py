"""Just enough of the CRI (containerd's `runtime.v1.RuntimeService`) to check it answers and to remove every pod.

Removing pods through the CRI, rather than deleting containers with `ctr`, is what runs the CNI DEL for each pod
sandbox: its veth, its host-local lease, its portmap rules and its network namespace go with it, as when the
kubelet removes a pod. crictl is not packaged for Debian, and the four messages involved are tiny, so they are
encoded here by hand over grpcio (already installed: the Pulumi SDK depends on it).
"""

from __future__ import annotations

from pathlib import Path

import grpc

SERVICE = "/runtime.v1.RuntimeService/"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message; length-delimited values stay bytes."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
            fields.append((number, value))
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
    return fields


def _string_field(number: int, value: str) -> bytes:
    encoded = value.encode()
    return _varint(number << 3 | 2) + _varint(len(encoded)) + encoded


class Cri:
    """A CRI client on containerd's unix socket."""

    def __init__(self, socket: Path):
        self.socket = socket

    def _call(self, method: str, request: bytes, timeout: float) -> bytes:
        with grpc.insecure_channel(f"unix://{self.socket}") as channel:
            call = channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
            return call(request, timeout=timeout)

    def answers(self) -> bool:
        """True once the CRI plugin serves (containerd's socket alone answers before it, or without it)."""
        try:
            self._call("Version", b"", timeout=2.0)
        except grpc.RpcError:
            return False
        return True

    def sandbox_ids(self, timeout: float = 10.0) -> list[str]:
        """The ids of every pod sandbox (ListPodSandboxResponse.items[].id)."""
        response = self._call("ListPodSandbox", b"", timeout)
        ids = []
        for number, item in _fields(response):
            if number == 1 and isinstance(item, bytes):
                ids += [value.decode() for field, value in _fields(item) if field == 1 and isinstance(value, bytes)]
        return ids

    def remove_all_pods(self, timeout: float = 30.0) -> int:
        """Stops and removes every pod sandbox with its containers; returns how many there were."""
        ids = self.sandbox_ids()
        for sandbox in ids:
            request = _string_field(1, sandbox)  # {Stop,Remove}PodSandboxRequest.pod_sandbox_id
            self._call("StopPodSandbox", request, timeout)
            self._call("RemovePodSandbox", request, timeout)
        return len(ids)
