"""Removing the iptables rules a real node leaves: every KUBE-* chain (kube-proxy's, and the kubelet's own
KUBE-FIREWALL, KUBE-KUBELET-CANARY and KUBE-IPTABLES-HINT, which `kube-proxy --cleanup` leaves), the rules that
jump to them, and the portmap plugin's rules for our CNI network, for IPv4 and IPv6.

One `iptables-restore --noflush` per table does it in a single transaction: jumps deleted first, then the chains
flushed, then deleted (a chain can only go once nothing refers to it).
"""

from __future__ import annotations

import shlex
import subprocess

from tools.cluster.node_layout import CNI_NETWORK

TABLES = ("filter", "nat", "mangle", "raw")
FAMILIES = (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore"))
# portmap's shared chains; its per-pod chains are CNI-DN-<hash>, named in rules commented with our network's name.
PORTMAP_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK")


def _is_ours(chain: str) -> bool:
    return chain.startswith("KUBE-")


def _plan(save_output: str) -> list[str]:
    """The iptables-restore lines removing our chains and every rule that refers to them, for one table's dump."""
    chains = [line[1:].split()[0] for line in save_output.splitlines() if line.startswith(":")]
    raw_rules = [line for line in save_output.splitlines() if line.startswith("-A ")]
    rules = [shlex.split(line) for line in raw_rules]
    ours = {chain for chain in chains if _is_ours(chain)}
    # Per-pod portmap chains of our network (after a pod was removed without its CNI DEL).
    for rule in rules:
        if f'name: "{CNI_NETWORK}"' in " ".join(rule) or f"name: {CNI_NETWORK}" in " ".join(rule):
            ours.update(_targets(rule) & {c for c in chains if c.startswith("CNI-")})
    # portmap's shared chains go too once nothing else (another CNI network) has rules in them.
    for shared in PORTMAP_CHAINS:
        if shared in chains and all(rule[1] != shared or _targets(rule) <= ours for rule in rules):
            ours.add(shared)
    if not ours:
        return []
    lines = []
    for raw, rule in zip(raw_rules, rules, strict=True):
        if rule[1] not in ours and _targets(rule) & ours:
            # The dump's own text, quoting included: iptables-restore understands double quotes only.
            lines.append("-D" + raw[2:])
    lines += [f"-F {chain}" for chain in sorted(ours)]
    lines += [f"-X {chain}" for chain in sorted(ours)]
    return lines


def _targets(rule: list[str]) -> set[str]:
    return {rule[i + 1] for i, word in enumerate(rule[:-1]) if word in ("-j", "-g", "--jump", "--goto")}


def leftover_chains() -> list[str]:
    """`family table chain` for every KUBE-* chain still present (what the tests check is gone)."""
    found = []
    for save, _ in FAMILIES:
        for table in TABLES:
            output = _save(save, table)
            found += [
                f"{save.split('-')[0]} {table} {line[1:].split()[0]}"
                for line in output.splitlines()
                if line.startswith(":KUBE-")
            ]
    return found


def _save(save: str, table: str) -> str:
    try:
        result = subprocess.run([save, "-t", table], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return ""
    return result.stdout if result.returncode == 0 else ""


def remove_node_rules() -> list[str]:
    """Removes our chains and the rules referring to them; returns one line per table that could not be cleaned."""
    failures = []
    for save, restore in FAMILIES:
        for table in TABLES:
            lines = _plan(_save(save, table))
            if not lines:
                continue
            script = f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
            result = subprocess.run(
                [restore, "--noflush", "-w", "5"], input=script, capture_output=True, text=True, timeout=30
            )
            if result.returncode != 0:
                failures.append(f"{restore} -t {table}: {result.stderr.strip().splitlines()[-1:] or result.returncode}")
    return failures
