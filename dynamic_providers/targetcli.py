"""iSCSI volumes on LIO (the Linux kernel's SCSI target) through targetcli, over SSH.

Seed design: Linux-IO with targetcli for iSCSI block devices. One resource (`IscsiVolume`) is a
whole exported volume: a fileio backstore (a sparse file), an iSCSI target with TPG 1, the
backstore as LUN 0, one ACL per allowed initiator IQN (the LUN mapped automatically) and the
portals it listens on. Changes run as one batch of targetcli commands followed by `saveconfig`;
the state is read back from targetcli's saveconfig JSON (/etc/rtslib-fb-target/saveconfig.json,
the format rtslib-fb's `RTSRoot.dump()` writes), so a refresh sees drift.

CHAP (`chap`: {initiator: {userid, password}}, a secret output): with it the TPG enforces
authentication (`set attribute authentication=1 generate_node_acls=0`, in the batch, before any
portal exists) and each ACL gets its own credentials (`<acl> set auth userid=… password=…`).
Those commands carry the password, so they never reach a command line: they go to targetcli on
its standard input from a 0600 file in a private 0700 TARGETCLI_HOME under /run (its log file,
which records every command, goes with it), removed afterwards. targetcli does not stop or fail
on an error in that mode, so the provider reads the ACLs' credentials back from saveconfig
(rtslib-fb dumps them as node_acls[].chap_userid/chap_password; the file is 0600) and fails,
with the passwords redacted, when they are not what it asked for. A changed password is an
update in place; a refresh that finds other credentials, or authentication off, shows a diff.

Pure builders (`create_batch`, `update_batch`, `delete_batch`, `auth_batch`; the IQNs come from
stacks/iscsi.py) and the parser
(`parse_saveconfig`, `volume_state`) are apart from the transport (dynamic_providers/transport.py:
paramiko, built per call; a local shell when no connection is given). check and diff never
connect.

Not runnable here: LIO needs the kernel's configfs target support (target_core_mod mounted at
/sys/kernel/config/target). This machine's kernel has neither configfs nor /proc/modules;
Debian's targetcli-fb 2.1.53 installs (tools/setup/storage.sh) but every command fails with
`[Errno 2] No such file or directory: '/proc/modules'` (rtslib-fb probing for target_core_mod).
The builders and the parser are tested on their text (each line parsed by configshell-fb's own
grammar, the one targetcli reads) and on saveconfig fixtures in the format of rtslib-fb's
dump(); running the batches against a real LIO is for a host with a stock kernel.
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
from stacks.iscsi import target_iqn  # noqa: F401 - the cloud's target names, used with this provider



SAVECONFIG = "/etc/rtslib-fb-target/saveconfig.json"
IQN = re.compile(r"^iqn\.\d{4}-\d{2}\.[a-z0-9.-]+(:[^\s]+)?$")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TPG = "tpg1"
# What configshell-fb's grammar takes as a parameter value, no more: a CHAP userid (an IQN) and
# a password travel unquoted. RFC 3720 wants a CHAP secret of at least 12 bytes (96 bits).
CHAP_USERID = re.compile(r"^[A-Za-z0-9.:_@-]{1,255}$")
CHAP_PASSWORD = re.compile(r"^[A-Za-z0-9]{12,255}$")
# Where a CHAP batch and targetcli's private home live for one run (tmpfs, root's alone).
RUN_DIR = "/run"


# ---------------------------------------------------------------- pure builders

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
    ]
    if props.get("chap"):
        # Before any portal listens: no initiator logs in without its credentials.
        commands.append(_auth_attribute(props))
    commands.append(t(f"{tpg}/luns", "create", backstore_path(name)))
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
    if olds.get("chap") or news.get("chap"):   # on (again, idempotent), or off when dropped
        commands.append(_auth_attribute(news))
    commands.append(t("saveconfig"))
    return commands


def _auth_attribute(props: dict) -> str:
    """The TPG's authentication: enforced (and no ACLs made on the fly) with CHAP, else off."""
    on = 1 if props.get("chap") else 0
    return _tc(props)(f"/iscsi/{props['iqn']}/{TPG}", "set", "attribute",
                      f"authentication={on}", "generate_node_acls=0")


def auth_batch(props: dict, initiators: Optional[list[str]] = None) -> str:
    """targetcli's standard input that sets each ACL's CHAP credentials (all of them, or those
    of `initiators`), then saves. Secret: never a command line (see the module)."""
    tpg = f"/iscsi/{props['iqn']}/{TPG}"
    chap = props.get("chap") or {}
    lines = [f"{tpg}/acls/{initiator} set auth userid={chap[initiator]['userid']} "
             f"password={chap[initiator]['password']}"
             for initiator in sorted(chap if initiators is None else initiators)]
    return "\n".join([*lines, "saveconfig", "exit"]) + "\n"


def changed_chap(olds: dict, news: dict) -> list[str]:
    """The initiators whose credentials an update sets: new ACLs, and changed credentials."""
    old_chap = olds.get("chap") or {}
    old_acls = set(olds.get("initiators", []))
    return sorted(i for i, creds in (news.get("chap") or {}).items()
                  if i not in old_acls or old_chap.get(i) != creds)


def redact(text: str, props: dict) -> str:
    """Text from targetcli (it echoes `Parameter password is now '…'`) without the passwords."""
    for creds in (props.get("chap") or {}).values():
        if creds.get("password"):
            text = text.replace(creds["password"], "********")
    return text


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
                "attributes": {k: tpg.get("attributes", {}).get(k)
                               for k in ("authentication", "generate_node_acls")},
                "acls": sorted(a["node_wwn"] for a in tpg.get("node_acls", [])),
                # rtslib-fb dumps an ACL's credentials only when they are set.
                "chap": {a["node_wwn"]: {"userid": a["chap_userid"],
                                         "password": a.get("chap_password", "")}
                         for a in tpg.get("node_acls", []) if a.get("chap_userid")},
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
        "authentication": bool(tpg["attributes"].get("authentication")),
        "chap": tpg["chap"],
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
    chap = news.get("chap") or {}
    if not contains_unknown(chap):
        failures += _chap_failures(chap, news.get("initiators") or [])
    if not contains_unknown(news.get("portals")):
        inputs["portals"] = sorted(({"ip": p["ip"], "port": int(p.get("port", 3260))}
                                    for p in news.get("portals") or []),
                                   key=lambda p: (p["ip"], p["port"]))
    return inputs, failures


def _chap_failures(chap: dict, initiators: list) -> list:
    """What is wrong with the CHAP credentials (never the password itself: it is a secret)."""
    failures = []
    if chap and not contains_unknown(initiators) and set(chap) != set(initiators):
        failures.append(CheckFailure("chap", "needs credentials for exactly the initiators, got "
                                             f"{sorted(chap)} for {sorted(initiators)}"))
    for initiator, creds in sorted(chap.items()):
        if not isinstance(creds, dict) or not CHAP_USERID.match(str(creds.get("userid", ""))):
            failures.append(CheckFailure("chap", f"{initiator}: userid must be 1-255 of "
                                                 "[A-Za-z0-9.:_@-]"))
        elif not CHAP_PASSWORD.match(str(creds.get("password", ""))):
            failures.append(CheckFailure("chap", f"{initiator}: password must be 12-255 "
                                                 "letters and digits"))
    return failures


IMMUTABLE = ("name", "iqn", "file", "size_gb")


# ---------------------------------------------------------------- transport (built per call)

def run_script(connection: Optional[dict], text: str) -> str:
    """Runs a shell script on the storage host over SSH (dynamic_providers/transport.py; the
    local machine without a connection); its stdout."""
    from dynamic_providers.transport import transport
    with transport(connection) as t:
        return t.run(text)


def run_auth_batch(connection: Optional[dict], props: dict, batch: str) -> str:
    """Feeds `batch` to targetcli on its standard input from a 0600 file in a private 0700
    home (its prefs and its log, which records each command with its password, die with it);
    targetcli's output, passwords redacted."""
    from dynamic_providers.transport import CommandFailed, transport
    binary = shlex.quote(props.get("targetcli") or "targetcli")
    with transport(connection) as t:
        home = t.run(f"mktemp -d {shlex.quote(RUN_DIR)}/mammatus-targetcli.XXXXXXXX").strip()
        batch_file = f"{home}/batch"
        try:
            t.write(batch_file, batch, mode=0o600)
            return redact(t.run(f"TARGETCLI_HOME={shlex.quote(home)} {binary} "
                                f"< {shlex.quote(batch_file)} 2>&1"), props)
        except CommandFailed as exc:
            raise CommandFailed(redact(str(exc), props)) from None
        finally:
            t.run(f"rm -rf {shlex.quote(home)}")


def chap_mismatch(found: Optional[dict], props: dict) -> list[str]:
    """The initiators whose credentials (or the TPG's authentication) saveconfig does not show
    as asked."""
    chap = props.get("chap") or {}
    if found is None:
        return sorted(chap)
    if found["authentication"] != bool(chap):
        return ["(the TPG's authentication attribute)"]
    return sorted(i for i, creds in chap.items() if found["chap"].get(i) != creds)


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

    def _set_chap(self, props: dict, initiators: Optional[list[str]] = None) -> dict:
        """The ACLs' credentials through targetcli's standard input, checked in saveconfig;
        the volume's observed state."""
        output = ""
        if props.get("chap") and (initiators is None or initiators):
            output = run_auth_batch(props.get("connection"), props, auth_batch(props, initiators))
        found = self._observe(props)
        wrong = chap_mismatch(found, props)
        if wrong:
            raise RuntimeError(f"targetcli did not set the CHAP credentials of {', '.join(wrong)} "
                               f"on {props['iqn']}: {output.strip()[-2000:]}")
        return found or {}

    def create(self, props):
        run_script(props.get("connection"), script(create_batch(props)))
        found = self._set_chap(props)
        return CreateResult(id_=props["iqn"], outs={**props, "wwn": found.get("wwn"),
                                                     "lun": found.get("lun")})

    def update(self, _id, olds, news):
        run_script(news.get("connection"), script(update_batch(olds, news)))
        found = self._set_chap(news, changed_chap(olds, news))
        return UpdateResult(outs={**news, "wwn": found.get("wwn"), "lun": found.get("lun")})

    def read(self, id_, props):
        found = self._observe({**props, "iqn": id_})
        if found is None:
            return ReadResult(None, {})
        state = {**props, "iqn": id_, "file": found["file"], "size_gb": found["size_gb"],
                 "initiators": found["initiators"], "portals": found["portals"],
                 "wwn": found["wwn"], "lun": found["lun"]}
        if props.get("chap") is not None:
            # Credentials that do not hold (or authentication off) show as a diff to put right.
            state["chap"] = found["chap"] if found["authentication"] else {}
        inputs = {k: v for k, v in state.items() if k not in ("wwn", "lun")}
        return ReadResult(id_, state, inputs)

    def delete(self, id_, props):
        run_script(props.get("connection"), script(delete_batch({**props, "iqn": id_})))


class IscsiVolume(pulumi.dynamic.Resource, module="mammatus", name="IscsiVolume"):
    """An iSCSI volume on a storage host: fileio backstore, target, LUN 0, ACLs (each with its
    CHAP credentials when `chap` is given: {initiator: {userid, password}}), portals."""
    iqn: pulumi.Output[str]
    wwn: pulumi.Output[Optional[str]]
    lun: pulumi.Output[Optional[int]]

    def __init__(self, resource_name: str, name: str, iqn: str, file: str, size_gb: int,
                 initiators: list[str], portals: list[dict],
                 connection: pulumi.Input[Optional[dict]], retain_file: bool = True,
                 chap: Optional[pulumi.Input[dict]] = None,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"name": name, "iqn": iqn, "file": file, "size_gb": size_gb,
                 "initiators": initiators, "portals": portals, "connection": connection,
                 "retain_file": retain_file, "wwn": None, "lun": None}
        if chap is not None:
            props["chap"] = chap
        super().__init__(VolumeProvider(), resource_name, props,
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                             additional_secret_outputs=["connection", "chap"])))
