"""What a rule reports, and what it needs to know about the stack it judges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conventions import DEVELOPMENT, PRODUCTION


@dataclass(frozen=True)
class PolicyContext:
    """The facts about a stack that change what the rules demand.

    `environment` is the stack's `ml-platform:environment`; anything but `development` is judged as production,
    so a typo never relaxes a rule. `allow_load_balancer` is `ml-platform:allowLoadBalancer`.
    """

    environment: str = PRODUCTION
    allow_load_balancer: bool = False

    @property
    def is_development(self) -> bool:
        """True only for a stack that says exactly `development`."""
        return self.environment == DEVELOPMENT

    @property
    def is_production(self) -> bool:
        """Every stack that is not development is held to production rules."""
        return not self.is_development


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, which object (`Kind namespace/name`), which field, and why.

    `str()` reads like
    `Deployment ml-prod/breast-cancer: spec.template.spec.containers[0].image: not pinned by digest`.
    """

    rule: str
    object: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.field}: {self.message}"


def object_ref(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name` (or `Kind name` for an object without a namespace), as violations name objects."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name") or "<unnamed>"
    namespace = metadata.get("namespace")
    kind = obj.get("kind") or "<no kind>"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
