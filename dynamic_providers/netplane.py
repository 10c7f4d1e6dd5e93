"""The dev stack's network plane as resources: network namespaces, veth links and bridges.

Hosts of the cloud in a box are network namespaces wired like the seed's network. Each resource
is built from `ip` commands (pure builders) and read back from `ip -json` (pure parsers), so
`preview` shows the plane, `refresh` sees drift and `destroy` leaves nothing behind.
An endpoint's `netns` of "" means the machine's own namespace.

None of it survives a reboot of this machine. So each `diff` also looks whether the thing is
still there (one `ip` call): a namespace, link, bridge or rule that is gone is an update that
makes it again, and `up` alone brings the plane back, no refresh needed.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult
from pulumi.dynamic import ResourceProvider, UpdateResult

IFNAME_MAX = 15  # IFNAMSIZ - 1


class IpError(RuntimeError):
    pass


def ip(netns: str, *args: str) -> list[str]:
    """argv of an `ip` command run in a namespace ("" = the machine's own)."""
    return ["ip", *(["-n", netns] if netns else []), *args]


def run(argv: list[str], check: bool = True) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise IpError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def run_all_or_undo(commands: list[list[str]], undo: list[str]) -> None:
    """Runs commands in order; if one fails, undoes the first (the link's creation) so that a
    failed create leaves nothing behind for the next `up` to trip over."""
    for i, argv in enumerate(commands):
        try:
            run(argv)
        except IpError:
            if i > 0:
                run(undo, check=False)
            raise


# --- namespaces -------------------------------------------------------------------------------

def netns_create(name: str) -> list[list[str]]:
    return [["ip", "netns", "add", name], ip(name, "link", "set", "lo", "up")]


def parse_netns_list(text: str) -> list[str]:
    return [entry["name"] for entry in json.loads(text or "[]")]


def netns_exists(name: str) -> bool:
    return name in parse_netns_list(run(["ip", "-json", "netns", "list"]))


def parse_pids(text: str) -> list[int]:
    return [int(p) for p in text.split()]


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie no longer holds its namespace)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class NetNamespaceProvider(ResourceProvider):
    def check(self, _olds, news):
        name = news.get("name", "")
        failures = [] if name and "/" not in name and len(name) < 64 else [
            CheckFailure("name", f"must be a namespace name (no '/', < 64 chars), got {name!r}")]
        return CheckResult({"name": name}, failures)

    def diff(self, id_, olds, news):
        changed = olds.get("name") != news.get("name")
        gone = not changed and not netns_exists(id_)
        return DiffResult(changes=changed or gone, replaces=["name"] if changed else [])

    def create(self, props):
        for argv in netns_create(props["name"]):
            run(argv)
        return CreateResult(id_=props["name"], outs={"name": props["name"]})

    def update(self, id_, _olds, news):
        # Only a namespace that is gone comes here (a new name replaces it).
        if not netns_exists(id_):
            for argv in netns_create(id_):
                run(argv)
        return UpdateResult(outs={"name": id_})

    def read(self, id_, props):
        if not netns_exists(id_):
            return ReadResult(None, {})
        return ReadResult(id_, {"name": id_}, {"name": id_})

    def delete(self, id_, _props):
        import os
        import signal
        import time

        # A namespace lives on while a process runs in it: stop them (by PID) first.
        pids = parse_pids(run(["ip", "netns", "pids", id_], check=False))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        while pids and time.time() < deadline:
            pids = [p for p in pids if running(p)]
            time.sleep(0.1)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run(["ip", "netns", "del", id_], check=False)


class NetNamespace(pulumi.dynamic.Resource, module="netplane", name="NetNamespace"):
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, name: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(NetNamespaceProvider(), resource_name, {"name": name}, opts)


# --- links: veth pairs and bridges ------------------------------------------------------------

ENDPOINT_KEYS = ("netns", "ifname", "addresses", "master", "gateway")


def endpoint(value: dict[str, Any]) -> dict[str, Any]:
    """One end of a link: where it is, its IPv4 addresses, its bridge, its default gateway."""
    return {"netns": value.get("netns") or "", "ifname": value.get("ifname", ""),
            "addresses": list(value.get("addresses") or []), "master": value.get("master") or "",
            "gateway": value.get("gateway") or ""}


def check_endpoint(prop: str, ep: dict[str, Any]) -> list[CheckFailure]:
    failures = []
    if not ep["ifname"] or len(ep["ifname"]) > IFNAME_MAX or "/" in ep["ifname"]:
        failures.append(CheckFailure(f"{prop}.ifname",
                                     f"must be an interface name of 1-{IFNAME_MAX} chars"))
    for addr in ep["addresses"]:
        try:
            ipaddress.ip_interface(addr)
            if "/" not in addr:
                raise ValueError
        except ValueError:
            failures.append(CheckFailure(f"{prop}.addresses", f"{addr!r} is not an address/prefix"))
    return failures


def configure_endpoint(ep: dict[str, Any]) -> list[list[str]]:
    cmds = [ip(ep["netns"], "link", "set", ep["ifname"], "master", ep["master"])] if ep["master"] else []
    cmds += [ip(ep["netns"], "addr", "add", a, "dev", ep["ifname"]) for a in ep["addresses"]]
    cmds.append(ip(ep["netns"], "link", "set", ep["ifname"], "up"))
    if ep["gateway"]:
        cmds.append(ip(ep["netns"], "route", "replace", "default", "via", ep["gateway"],
                       "dev", ep["ifname"]))
    return cmds


def veth_create(a: dict[str, Any], b: dict[str, Any]) -> list[list[str]]:
    # Both ends are born in their own namespaces ("1": PID 1's, the machine's own), so a name
    # never exists where it could clash with another host's interface of the same name.
    create = ["ip", "link", "add", a["ifname"], "netns", a["netns"] or "1", "type", "veth",
              "peer", "name", b["ifname"], "netns", b["netns"] or "1"]
    return [create, *configure_endpoint(a), *configure_endpoint(b)]


def bridge_create(ep: dict[str, Any]) -> list[list[str]]:
    create = ip(ep["netns"], "link", "add", ep["ifname"], "type", "bridge")
    return [create, *configure_endpoint(ep)]


def parse_default_gateway(ifname: str, text: str) -> str:
    """`ip -json route show default` -> the gateway used through `ifname` ("" if none)."""
    for route in json.loads(text or "[]"):
        if route.get("dev") == ifname and route.get("gateway"):
            return route["gateway"]
    return ""


def parse_endpoint(netns: str, text: str, routes: str = "[]") -> Optional[dict[str, Any]]:
    """`ip -json addr show dev X` (+ `ip -json route show default`) -> the endpoint as it is
    (None when the link is gone)."""
    entries = json.loads(text or "[]")
    if not entries:
        return None
    link = entries[0]
    return {
        "netns": netns, "ifname": link["ifname"], "master": link.get("master", ""),
        "gateway": parse_default_gateway(link["ifname"], routes),
        "addresses": [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                      if a.get("family") == "inet"],
        "mac": link.get("address", ""), "up": "UP" in link.get("flags", []),
    }


def observe(ep: dict[str, Any]) -> Optional[dict[str, Any]]:
    proc = subprocess.run(ip(ep["netns"], "-json", "addr", "show", "dev", ep["ifname"]),
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        return None
    routes = run(ip(ep["netns"], "-json", "route", "show", "default"), check=False)
    return parse_endpoint(ep["netns"], proc.stdout, routes)


def managed_view(found: Optional[dict[str, Any]], wanted: dict[str, Any]) -> Optional[dict[str, Any]]:
    """What a read reports of an endpoint: only the addresses and default route this resource
    manages. Others belong to other owners (the metadata service's 169.254.169.254, a DHCP
    client's lease) and are no drift; a managed address that is gone is."""
    if found is None:
        return None
    present = set(found["addresses"])
    return {**found, "addresses": [a for a in wanted.get("addresses") or [] if a in present],
            "gateway": found["gateway"] if wanted.get("gateway") else ""}


def drifted(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether an endpoint as recorded (or as read back) differs from what the program wants;
    a link found down counts as drift."""
    recorded = endpoint(old)
    return any(recorded[k] != new[k] for k in ENDPOINT_KEYS) or old.get("up") is False


class VethProvider(ResourceProvider):
    """A veth pair: `a` and `b` each {netns, ifname, addresses, master}. Any change replaces it."""

    def check(self, _olds, news):
        a, b = endpoint(news.get("a", {})), endpoint(news.get("b", {}))
        return CheckResult({"a": a, "b": b}, check_endpoint("a", a) + check_endpoint("b", b))

    def diff(self, _id, olds, news):
        changed = [k for k in ("a", "b") if drifted(olds.get(k, {}), endpoint(news.get(k, {})))]
        gone = not changed and any(observe(endpoint(olds.get(k, {}))) is None for k in ("a", "b"))
        return DiffResult(changes=bool(changed) or gone, replaces=changed,
                          delete_before_replace=True)

    def create(self, props):
        run_all_or_undo(veth_create(props["a"], props["b"]),
                        ip(props["a"]["netns"], "link", "del", props["a"]["ifname"]))
        return CreateResult(id_=f"{props['a']['netns']}/{props['a']['ifname']}",
                            outs={"a": observe(props["a"]), "b": observe(props["b"])})

    def update(self, _id, _olds, news):
        # Only a pair that is gone comes here (any change of an end replaces it); a half left
        # behind goes first.
        run(ip(news["a"]["netns"], "link", "del", news["a"]["ifname"]), check=False)
        run(ip(news["b"]["netns"], "link", "del", news["b"]["ifname"]), check=False)
        run_all_or_undo(veth_create(news["a"], news["b"]),
                        ip(news["a"]["netns"], "link", "del", news["a"]["ifname"]))
        return UpdateResult(outs={"a": observe(news["a"]), "b": observe(news["b"])})

    def read(self, id_, props):
        a, b = (managed_view(observe(endpoint(props[k])), endpoint(props[k])) for k in ("a", "b"))
        if a is None or b is None:
            return ReadResult(None, {})
        return ReadResult(id_, {"a": a, "b": b}, {"a": a, "b": b})

    def delete(self, _id, props):
        a = endpoint(props["a"])
        run(ip(a["netns"], "link", "del", a["ifname"]), check=False)


class VethPair(pulumi.dynamic.Resource, module="netplane", name="VethPair"):
    a: pulumi.Output[dict]
    b: pulumi.Output[dict]

    def __init__(self, resource_name: str, a: pulumi.Input[dict], b: pulumi.Input[dict],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(VethProvider(), resource_name, {"a": a, "b": b}, opts)


class BridgeProvider(ResourceProvider):
    def check(self, _olds, news):
        br = endpoint(news.get("bridge", {}))
        return CheckResult({"bridge": br}, check_endpoint("bridge", br))

    def diff(self, _id, olds, news):
        changed = drifted(olds.get("bridge", {}), endpoint(news.get("bridge", {})))
        gone = not changed and observe(endpoint(olds.get("bridge", {}))) is None
        return DiffResult(changes=changed or gone, replaces=["bridge"] if changed else [],
                          delete_before_replace=True)

    def create(self, props):
        br = props["bridge"]
        run_all_or_undo(bridge_create(br), ip(br["netns"], "link", "del", br["ifname"]))
        return CreateResult(id_=f"{br['netns']}/{br['ifname']}", outs={"bridge": observe(br)})

    def update(self, _id, _olds, news):
        # Only a bridge that is gone comes here (any change replaces it).
        br = news["bridge"]
        run_all_or_undo(bridge_create(br), ip(br["netns"], "link", "del", br["ifname"]))
        return UpdateResult(outs={"bridge": observe(br)})

    def read(self, id_, props):
        br = managed_view(observe(endpoint(props["bridge"])), endpoint(props["bridge"]))
        if br is None:
            return ReadResult(None, {})
        return ReadResult(id_, {"bridge": br}, {"bridge": br})

    def delete(self, _id, props):
        br = endpoint(props["bridge"])
        run(ip(br["netns"], "link", "del", br["ifname"]), check=False)


class Bridge(pulumi.dynamic.Resource, module="netplane", name="Bridge"):
    bridge: pulumi.Output[dict]

    def __init__(self, resource_name: str, bridge: pulumi.Input[dict],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(BridgeProvider(), resource_name, {"bridge": bridge}, opts)


# --- the machine's own iptables rules -----------------------------------------------------------

def rule_argvs(action: str, rules: list[list[str]]) -> list[list[str]]:
    """`iptables -I/-D/-C` of each rule (chain first, as in `iptables -S` without -A)."""
    return [["iptables", action, *rule] for rule in rules]


def rules_present(rules: list[list[str]]) -> bool:
    return all(subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
               for argv in rule_argvs("-C", rules))


class IptablesRulesProvider(ResourceProvider):
    """Rules of this machine's filter table, each inserted once. A change replaces them all;
    rules that are gone (a reboot, a flush) are an update that inserts them again."""

    def check(self, _olds, news):
        rules = [list(map(str, r)) for r in news.get("rules") or []]
        failures = [] if rules and all(len(r) >= 3 for r in rules) else [
            CheckFailure("rules", "must be a list of rules: a chain, then iptables arguments")]
        return CheckResult({"rules": rules}, failures)

    def diff(self, _id, olds, news):
        changed = olds.get("rules") != news.get("rules")
        gone = not changed and not rules_present(olds.get("rules") or [])
        return DiffResult(changes=changed or gone, replaces=["rules"] if changed else [],
                          delete_before_replace=True)

    def create(self, props):
        # Always inserted, even where an equal rule exists: that one may belong to the resource
        # this one replaces, whose delete (after this create) takes one copy away.
        rules, done = props["rules"], []
        try:
            for rule in rules:
                run(rule_argvs("-I", [rule])[0])
                done.append(rule)
        except IpError:
            for argv in rule_argvs("-D", done):
                run(argv, check=False)
            raise
        return CreateResult(id_="iptables", outs={"rules": rules})

    def update(self, _id, _olds, news):
        # Only rules that are gone come here (a change replaces them): insert the missing ones.
        for rule in news["rules"]:
            if not rules_present([rule]):
                run(rule_argvs("-I", [rule])[0])
        return UpdateResult(outs={"rules": news["rules"]})

    def read(self, id_, props):
        if not rules_present(props.get("rules") or []):
            return ReadResult(None, {})
        return ReadResult(id_, props, props)

    def delete(self, _id, props):
        for argv in rule_argvs("-D", props.get("rules") or []):
            run(argv, check=False)


class IptablesRules(pulumi.dynamic.Resource, module="netplane", name="IptablesRules"):
    rules: pulumi.Output[list]

    def __init__(self, resource_name: str, rules: list[list[str]],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(IptablesRulesProvider(), resource_name, {"rules": rules}, opts)
