"""Security contexts meeting the Pod Security Standards "restricted" profile, plus a read-only root filesystem."""

from __future__ import annotations

import pulumi_kubernetes as k8s

# The model image runs as this non-root user and group (model/Dockerfile); >= 10000 keeps clear of host users.
RUN_AS_USER = 10001
RUN_AS_GROUP = 10001

_RUNTIME_DEFAULT = k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")


def pod_security_context() -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level: non-root, fixed UID/GID, files on volumes owned by the group, default seccomp profile."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_GROUP,
        fs_group=RUN_AS_GROUP,
        seccomp_profile=_RUNTIME_DEFAULT,
    )


def container_security_context() -> k8s.core.v1.SecurityContextArgs:
    """Container-level: no privilege escalation, every capability dropped, read-only root filesystem."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=RUN_AS_USER,
        run_as_group=RUN_AS_GROUP,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=_RUNTIME_DEFAULT,
    )
