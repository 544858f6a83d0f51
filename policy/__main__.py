"""The CrossGuard policy pack: `pulumi preview --policy-pack policy` runs this file.

The Pulumi CLI runs a Python pack with the pack's directory on sys.path, not the repository root; the root is
added so the pack imports the same `policy` package that `make render` and the tests use.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from conventions import PROJECT  # noqa: E402
from policy.pack import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description=f"{PROJECT}: Pod Security 'restricted', digest-pinned images, sane scaling, safe Services.",
)
