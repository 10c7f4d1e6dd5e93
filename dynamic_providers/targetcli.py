"""iSCSI volumes on LIO (the Linux kernel's SCSI target) through targetcli, over SSH.

Seed design: Linux-IO with targetcli for iSCSI block devices. One resource (`IscsiVolume`) is a
whole exported volume: a fileio backstore (a sparse file), an iSCSI target with TPG 1, the
backstore as LUN 0, one ACL per allowed initiator IQN (the LUN mapped automatically) and the
portals it listens on. Changes run as one batch of targetcli commands followed by `saveconfig`;
the state is read back from targetcli's saveconfig JSON (/etc/rtslib-fb-target/saveconfig.json,
the format rtslib-fb's `RTSRoot.dump()` writes), so a refresh sees drift.

Pure builders (`create_batch`, `update_batch`, `delete_batch`, `target_iqn`) and the parser
(`parse_saveconfig`, `volume_state`) are apart from the transport (dynamic_providers/transport.py:
paramiko, built per call; a local shell when no connection is given). check and diff never
connect.

Not runnable here: LIO needs the kernel's configfs target support (target_core_mod mounted at
/sys/kernel/config/target). This machine's kernel has neither configfs nor /proc/modules;
Debian's targetcli-fb 2.1.53 installs (tools/setup/storage.sh) but every command fails with
`[Errno 2] No such file or directory: '/proc/modules'` (rtslib-fb probing for target_core_mod).
The builders and the parser are tested on their text and on saveconfig fixtures in the format
of rtslib-fb's dump(); running the batches against a real LIO is for a host with a stock kernel.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from typing import Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.preview import contains_unknown, known_failures
from dynamic_providers.base import MammatusProvider



SAVECONFIG = "/etc/rtslib-fb-target/saveconfig.json"
IQN = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^\s]+)?$")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TPG = "tpg1"


# ---------------------------------------------------------------- pure builders

def target_iqn(volume: str, host: str, domain: str = "mammatus", date: str = "2026-11") -> str:
    """The target's IQN: iqn.<date>.<domain>:<host>.<volume>."""
    return f"iqn.{date}.{domain}:{host}.{volume}"


def backstore_path(name: str) -> str:
    return f"/backstores/fileio/{name}"


def _t(*args: str, binary: str = "targetcli") -> str:
    return " ".join(shlex.quote(a) for a in (binary, *args))


def _tc(props: dict):
    """The targetcli command builder for a volume (`targetcli` on PATH unless props say)."""
    binary = props.get("targetcli") or "targetcli"
    return lambda *args: _t(*args, binary=binary)


def create_batch(props: dict) -> list[str]:
    """The commands that create a volume from nothing (run with `set -e`)."""
    iqn, name = props["iqn"], props["name"]
    t = _tc(props)
    tpg = f"/iscsi/{iqn}/{TPG}"
    commands = [
        # ACLs map existing LUNs; portals are explicit (no default 0.0.0.0:3260).
        t("set", "global", "auto_add_mapped_luns=true", "auto_add_default_portal=false",
           "auto_save_on_exit=false"),
        f"mkdir -p {shlex.quote(posixpath.dirname(props['file']))}",
        t("/backstores/fileio", "create", f"name={name}", f"file_or_dev={props['file']}",
           f"size={int(props['size_gb'])}G", "write_back=false", "sparse=true"),
        t("/iscsi", "create", iqn),
        t(f"{tpg}/luns", "create", backstore_path(name)),
    ]
    commands += [t(f"{tpg}/portals", "create", ip, str(port))
                 for ip, port in _portals(props)]
    commands += [t(f"{tpg}/acls", "create", initiator) for initiator in props.get("initiators", [])]
    commands.append(t("saveconfig"))
    return commands


def update_batch(olds: dict, news: dict) -> list[str]:
    """ACLs and portals added/removed in place; everything else is a replacement."""
    tpg = f"/iscsi/{news['iqn']}/{TPG}"
    t = _tc(news)
    old_acls, new_acls = set(olds.get("initiators", [])), set(news.get("initiators", []))
    old_portals, new_portals = set(_portals(olds)), set(_portals(news))
    commands = [t("set", "global", "auto_add_mapped_luns=true")]
    commands += [t(f"{tpg}/acls", "delete", i) for i in sorted(old_acls - new_acls)]
    commands += [t(f"{tpg}/acls", "create", i) for i in sorted(new_acls - old_acls)]
    commands += [t(f"{tpg}/portals", "delete", ip, str(port)) for ip, port in sorted(old_portals - new_portals)]
    commands += [t(f"{tpg}/portals", "create", ip, str(port)) for ip, port in sorted(new_portals - old_portals)]
    commands.append(t("saveconfig"))
    return commands


def delete_batch(props: dict) -> list[str]:
    """Removes the target and the backstore; the backing file only without `retain_file`."""
    t = _tc(props)
    commands = [
        f"if {t('ls', '/iscsi/' + props['iqn'])} >/dev/null 2>&1; then "
        f"{t('/iscsi', 'delete', props['iqn'])}; fi",
        f"if {t('ls', backstore_path(props['name']))} >/dev/null 2>&1; then "
        f"{t('/backstores/fileio', 'delete', props['name'])}; fi",
        t("saveconfig"),
    ]
    if not props.get("retain_file", True):
        commands.append(f"rm -f {shlex.quote(props['file'])}")
    return commands


def script(commands: list[str]) -> str:
    return "set -e\n" + "\n".join(commands) + "\n"


def _portals(props: dict) -> list[tuple[str, int]]:
    return [(p["ip"], int(p.get("port", 3260))) for p in props.get("portals") or []]


# ---------------------------------------------------------------- pure parser

def parse_saveconfig(text: str) -> dict:
    """{storage_objects: {name: {...}}, targets: {iqn: {...}}} from saveconfig.json."""
    config = json.loads(text) if text.strip() else {}
    objects = {}
    for so in config.get("storage_objects", []):
        objects[so["name"]] = {"plugin": so.get("plugin"), "file": so.get("dev"),
                               "size": so.get("size"), "wwn": so.get("wwn"),
                               "write_back": so.get("write_back")}
    targets = {}
    for target in config.get("targets", []):
        if target.get("fabric") != "iscsi":
            continue
        tpgs = []
        for tpg in target.get("tpgs", []):
            tpgs.append({
                "tag": tpg.get("tag"), "enable": tpg.get("enable"),
                "luns": [{"index": lun["index"], "storage_object": lun["storage_object"]}
                         for lun in tpg.get("luns", [])],
                "acls": sorted(a["node_wwn"] for a in tpg.get("node_acls", [])),
                "mapped_luns": {a["node_wwn"]: sorted(m["tpg_lun"] for m in a.get("mapped_luns", []))
                                for a in tpg.get("node_acls", [])},
                "portals": sorted(({"ip": p["ip_address"], "port": p["port"]}
                                   for p in tpg.get("portals", [])),
                                  key=lambda p: (p["ip"], p["port"])),
            })
        targets[target["wwn"]] = {"tpgs": tpgs}
    return {"storage_objects": objects, "targets": targets}


def volume_state(parsed: dict, name: str, iqn: str) -> Optional[dict]:
    """A volume's observed state, or None when its target or backstore is gone."""
    so = parsed["storage_objects"].get(name)
    target = parsed["targets"].get(iqn)
    if so is None or target is None or not target["tpgs"]:
        return None
    tpg = next((t for t in target["tpgs"] if t["tag"] == 1), target["tpgs"][0])
    lun = next((entry for entry in tpg["luns"] if entry["storage_object"] == backstore_path(name)),
               None)
    return {
        "file": so["file"],
        "size_gb": (so["size"] or 0) // (1024 ** 3),
        "wwn": so["wwn"],
        "lun": None if lun is None else lun["index"],
        "initiators": tpg["acls"],
        "unmapped_initiators": [i for i, luns in tpg["mapped_luns"].items()
                                if lun is None or lun["index"] not in luns],
        "portals": tpg["portals"],
        "enabled": bool(tpg["enable"]),
    }


# ---------------------------------------------------------------- check and diff

def check_volume(news: dict) -> tuple[dict, list]:
    inputs = dict(news)
    failures: list = []
    if not NAME.match(str(news.get("name", ""))):
        failures.append(CheckFailure("name", f"must be a backstore name ([A-Za-z0-9_-]), got {news.get('name')!r}"))
    if not IQN.match(str(news.get("iqn", ""))):
        failures.append(CheckFailure("iqn", f"must be an IQN, got {news.get('iqn')!r}"))
    bad = [i for i in news.get("initiators") or [] if not IQN.match(i)]
    if bad:
        failures.append(CheckFailure("initiators", f"must be IQNs, got {bad}"))
    if not contains_unknown(news.get("initiators")):
        inputs["initiators"] = sorted(set(news.get("initiators") or []))
    if not posixpath.isabs(str(news.get("file", ""))):
        failures.append(CheckFailure("file", "must be an absolute path"))
    if int(news.get("size_gb") or 0) < 1:
        failures.append(CheckFailure("size_gb", "must be at least 1"))
    if not contains_unknown(news.get("portals")):
        inputs["portals"] = sorted(({"ip": p["ip"], "port": int(p.get("port", 3260))}
                                    for p in news.get("portals") or []),
                                   key=lambda p: (p["ip"], p["port"]))
    return inputs, failures


IMMUTABLE = ("name", "iqn", "file", "size_gb")


# ---------------------------------------------------------------- transport (built per call)

def run_script(connection: Optional[dict], text: str) -> str:
    """Runs a shell script on the storage host over SSH (dynamic_providers/transport.py; the
    local machine without a connection); its stdout."""
    from dynamic_providers.transport import transport
    with transport(connection) as t:
        return t.run(text)


def read_saveconfig_script(path: str = SAVECONFIG) -> str:
    return f"cat {shlex.quote(path)} 2>/dev/null || true\n"


# ---------------------------------------------------------------- provider

class VolumeProvider(MammatusProvider):
    immutable = (*IMMUTABLE, "connection")
    outputs = ("wwn", "lun")
    target = ("host",)
    connection_updates = False

    def check(self, _olds, news):
        inputs, failures = check_volume(news)
        return CheckResult(inputs, known_failures(news, failures))

    def _observe(self, props: dict) -> Optional[dict]:
        text = run_script(props.get("connection"), read_saveconfig_script(props.get("saveconfig", SAVECONFIG)))
        return volume_state(parse_saveconfig(text), props["name"], props["iqn"])

    def create(self, props):
        run_script(props.get("connection"), script(create_batch(props)))
        found = self._observe(props) or {}
        return CreateResult(id_=props["iqn"], outs={**props, "wwn": found.get("wwn"),
                                                     "lun": found.get("lun")})

    def update(self, _id, olds, news):
        run_script(news.get("connection"), script(update_batch(olds, news)))
        found = self._observe(news) or {}
        return UpdateResult(outs={**news, "wwn": found.get("wwn"), "lun": found.get("lun")})

    def read(self, id_, props):
        found = self._observe({**props, "iqn": id_})
        if found is None:
            return ReadResult(None, {})
        state = {**props, "iqn": id_, "file": found["file"], "size_gb": found["size_gb"],
                 "initiators": found["initiators"], "portals": found["portals"],
                 "wwn": found["wwn"], "lun": found["lun"]}
        inputs = {k: v for k, v in state.items() if k not in ("wwn", "lun")}
        return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        run_script(props.get("connection"), script(delete_batch({**props, "iqn": id_})))


class IscsiVolume(pulumi.dynamic.Resource, module="mammatus", name="IscsiVolume"):
    """An iSCSI volume on a storage host: fileio backstore, target, LUN 0, ACLs, portals."""
    iqn: pulumi.Output[str]
    wwn: pulumi.Output[Optional[str]]
    lun: pulumi.Output[Optional[int]]

    def __init__(self, resource_name: str, name: str, iqn: str, file: str, size_gb: int,
                 initiators: list[str], portals: list[dict],
                 connection: pulumi.Input[Optional[dict]], retain_file: bool = True,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(VolumeProvider(), resource_name,
                         {"name": name, "iqn": iqn, "file": file, "size_gb": size_gb,
                          "initiators": initiators, "portals": portals, "connection": connection,
                          "retain_file": retain_file, "wwn": None, "lun": None},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                             additional_secret_outputs=["connection"])))
