"""The rules every stack must pass, as plain functions over Kubernetes objects (dicts, as in the API).

Used by `make render` (fails on a violation), the tests, and the CrossGuard pack in `policy/__main__.py`
(`pulumi preview --policy-pack policy`).

    from policy import PolicyContext, evaluate
    for violation in evaluate(objects, PolicyContext(environment="production", allow_load_balancer=False)):
        print(violation)
"""

from policy.rules import RULES, ObjectRule, Rule, StackRule, evaluate
from policy.violation import PolicyContext, Violation

__all__ = ["RULES", "ObjectRule", "PolicyContext", "Rule", "StackRule", "Violation", "evaluate"]
