"""Debian packages installed on a host at their pinned versions, from the repository Mammatus
delivered there (tools/dist/debs.py; an Artifact, sha256-checked on the host), so the host
needs no mirror of its own:

    <root>/<digest16>/{Packages,pool/}     the flat repository, unpacked
    <root>/<digest16>/sources.list         `deb [trusted=yes] file:… ./` (the tar's digest is
                                           the trust: it was checked on arrival)
    apt-get -o Dir::Etc::SourceList=… -o Dir::State::Lists=… install name=version …

Only this repository is consulted (the host's own sources are ignored), so an air-gapped host
installs exactly the pins. Without a repository (`bundle` empty: the stack's
`packages.source: mirror`) the same pins come from the host's own apt sources. Distribution units that would collide with a Mammatus unit on the
same port are masked (`mask`). `read` asks dpkg for each package's version: a removed or
upgraded package shows as drift and `up` installs the pin again. `delete` removes the
repository, not the packages (other software on the host may need them).
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult
from pulumi.dynamic import UpdateResult

from dynamic_providers.transport import transport
from dynamic_providers.base import MammatusProvider

IMMUTABLE = ("host", "root")


def repo_dir(root: str, sha256: str) -> str:
    return posixpath.join(root, sha256[:16])


def apt_options(repo: str) -> str:
    q = shlex.quote
    return (f"-o Dir::Etc::SourceList={q(repo)}/sources.list -o Dir::Etc::SourceParts=/nonexistent "
            f"-o Dir::State::Lists={q(repo)}/lists -o APT::Get::List-Cleanup=0")


def install_command(bundle: str, root: str, sha256: str, packages: dict[str, str],
                    mask: list[str]) -> str:
    q = shlex.quote
    wanted = " ".join(q(f"{name}={version}") for name, version in sorted(packages.items()))
    if bundle:
        repo = repo_dir(root, sha256)
        opts = apt_options(repo)
        lines = [
            "set -e",
            f"if [ ! -f {q(repo)}/Packages ]; then",
            f"  rm -rf {q(repo)} && mkdir -p {q(repo)} && tar -xf {q(bundle)} -C {q(repo)}",
            "fi",
            f"mkdir -p {q(repo)}/lists/partial",
            f"echo 'deb [trusted=yes] file:{repo} ./' > {q(repo)}/sources.list",
            f"apt-get {opts} -qq update",
        ]
    else:       # the host's own mirror
        opts = ""
        lines = ["set -e", "apt-get -qq update"]
    # Units of the distribution that would take a Mammatus unit's place, masked before the
    # package can start them.
    lines += [f"systemctl mask {q(unit)} >/dev/null 2>&1 || true" for unit in sorted(mask)]
    lines += [
        f"DEBIAN_FRONTEND=noninteractive apt-get {opts} -qq -y --no-install-recommends "
        f"--allow-downgrades -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
        f"install {wanted} >/dev/null",
    ]
    if bundle:      # older repositories of ours go; this one stays for the next install
        lines.append(f"ls -1d {q(root)}/*/ | grep -v '/{sha256[:16]}/$' | xargs -r rm -rf")
    return "\n".join(lines)


def query_command(packages: list[str]) -> str:
    names = " ".join(shlex.quote(p) for p in sorted(packages))
    return f"dpkg-query -W -f '${{Package}} ${{Version}} ${{db:Status-Status}}\\n' {names} 2>/dev/null || true"


def parse_query(stdout: str) -> dict[str, str]:
    """{package: version} of the packages dpkg has installed."""
    found = {}
    for line in (stdout or "").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "installed":
            found[parts[0]] = parts[1]
    return found


def normalize(news: dict[str, Any]) -> tuple[dict[str, Any], list[CheckFailure]]:
    props = {"connection": news.get("connection") or None, "bundle": news.get("bundle") or "",
             "sha256": str(news.get("sha256") or "").lower(), "root": news.get("root", ""),
             "packages": dict(news.get("packages") or {}), "mask": sorted(news.get("mask") or [])}
    failures = []
    for key in ("bundle", "root") if props["bundle"] else ("root",):
        if not isinstance(props[key], str) or not posixpath.isabs(props[key]):
            failures.append(CheckFailure(key, f"must be an absolute path, got {props[key]!r}"))
    if props["bundle"] and len(props["sha256"]) != 64:
        failures.append(CheckFailure("sha256", "must be the repository's sha256 (64 hex digits)"))
    if not props["packages"]:
        failures.append(CheckFailure("packages", "name at least one package"))
    return props, failures


def view(props: dict[str, Any]) -> dict[str, Any]:
    return {"host": (props.get("connection") or {}).get("host", ""), "root": props.get("root"),
            "packages": props.get("packages"), "mask": props.get("mask")}


class DebianPackagesProvider(MammatusProvider):
    immutable = IMMUTABLE

    def view(self, props):
        return view(props)  # a new repository with the same pins changes nothing on the host

    def check(self, _olds, news):
        props, failures = normalize(news)
        return CheckResult(props, failures)

    def _install(self, props) -> dict:
        with transport(props["connection"]) as t:
            t.run(install_command(props["bundle"], props["root"], props["sha256"],
                                  props["packages"], props["mask"]))
        return props

    def create(self, props):
        return CreateResult(id_=props["root"], outs=self._install(props))

    def update(self, _id, _olds, news):
        return UpdateResult(outs=self._install(news))

    def read(self, id_, props):
        with transport(props.get("connection")) as t:
            found = parse_query(t.run(query_command(list(props.get("packages") or {}))))
        seen = {**props, "packages": {name: found.get(name, "absent")
                                      for name in props.get("packages") or {}}}
        return ReadResult(id_, seen, seen)

    def delete(self, id_, props):
        with transport(props.get("connection")) as t:
            t.run(f"rm -rf {shlex.quote(id_)}")


class DebianPackages(pulumi.dynamic.Resource, module="mammatus", name="DebianPackages"):
    def __init__(self, name: str, connection: pulumi.Input[Optional[dict]],
                 bundle: pulumi.Input[Optional[str]],
                 sha256: str, root: str, packages: dict[str, str], mask: list[str] = (),
                 opts: Optional[pulumi.ResourceOptions] = None):
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["connection"]))
        super().__init__(DebianPackagesProvider(), name,
                         {"connection": connection, "bundle": bundle, "sha256": sha256,
                          "root": root, "packages": packages, "mask": list(mask)}, opts)
