"""Mammatus' ``command`` resource provider (the resources of pulumi_command 1.x):
``command:local:Command``, ``command:remote:Command`` and ``command:remote:CopyToRemote``.

Semantics follow upstream (pulumi-command on pulumi-go-provider's ``infer``): input changes are
in-place updates (the ``update`` command, else ``create``, is run again), ``triggers`` changes
replace; the previous stdout/stderr are in ``PULUMI_COMMAND_STDOUT``/``PULUMI_COMMAND_STDERR`` for
update and delete unless ``addPreviousOutputInEnv`` is false; stdout/stderr lose one trailing
newline; every output is secret when any input is secret; nothing runs during preview.

Deliberate difference: remote environment variables are exported by the command line itself
(``export K='v'``) instead of SSH "env" requests, which Debian's sshd refuses unless AcceptEnv
lists them (upstream then fails the command).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
import signal
import stat
import subprocess
import threading
from typing import Optional

from tools.providers._base import (
    ARCHIVE_SIG, ASSET_SIG, SIG_KEY, UNKNOWN, CheckFailure, DiffResult, Interrupt, ProviderError,
    ProviderServicer, ResourceType, bound_logger, contains_unknown, serve, values_equal)
from tools.providers._version import sdk_version
from tools import ssh

NAME = "command"
STDOUT_ENV = "PULUMI_COMMAND_STDOUT"
STDERR_ENV = "PULUMI_COMMAND_STDERR"
LOGGING_MODES = ("stdout", "stderr", "stdoutAndStderr", "none")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def unique_id(name: str) -> str:
    """pulumi's resource.NewUniqueHex(name, 8, 0): the name and 8 random hex digits."""
    return name + secrets.token_hex(4)


def trim_newline(s: str) -> str:
    return s[:-1] if s.endswith("\n") else s


def log_streams(logging: Optional[str]) -> tuple[bool, bool]:
    """(log stdout?, log stderr?) for the `logging` input; both by default, as upstream."""
    mode = logging or "stdoutAndStderr"
    return mode in ("stdout", "stdoutAndStderr"), mode in ("stderr", "stdoutAndStderr")


class _Collector:
    """Collects a stream's bytes; with ``echo``, sends each complete line to the engine log."""

    def __init__(self, echo: bool):
        self.buf = bytearray()
        self.echo = echo
        self._log = bound_logger()  # the reader threads are not the RPC's thread
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self.buf.extend(data)
        if not self.echo:
            return
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            self._log(line.decode(errors="replace"))

    def close(self) -> None:
        if self.echo and self._pending:
            self._log(self._pending.decode(errors="replace"))
        self._pending = b""

    def text(self) -> str:
        return self.buf.decode(errors="replace")


def _pump(read, collector: _Collector) -> None:
    while True:
        data = read(32768)
        if not data:
            break
        collector.feed(data)
    collector.close()


def previous_output_env(state: dict, add_previous: Optional[bool]) -> dict:
    """The PULUMI_COMMAND_STDOUT/STDERR variables for a run that follows an earlier one."""
    if add_previous is False:
        return {}
    env = {}
    if state.get("stdout"):
        env[STDOUT_ENV] = state["stdout"]
    if state.get("stderr"):
        env[STDERR_ENV] = state["stderr"]
    return env


class _Command(ResourceType):
    """Shared by local and remote commands."""

    replace_on = frozenset({"triggers"})
    outputs_secret_if_any_input_secret = True
    outputs = {"stdout": "string", "stderr": "string"}

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        env = inputs.get("environment")
        if env is not None and env is not UNKNOWN:
            if not isinstance(env, dict):
                failures.append(CheckFailure("environment", "environment must be a map of strings"))
            else:
                for k, v in env.items():
                    if v is not UNKNOWN and not isinstance(v, str):
                        failures.append(CheckFailure(f"environment.{k}", "must be a string"))
        logging = inputs.get("logging")
        if logging not in (None, UNKNOWN) and logging not in LOGGING_MODES:
            failures.append(CheckFailure("logging", f"logging must be one of {', '.join(LOGGING_MODES)}, "
                                                    f"got: {logging!r}"))
        return inputs, failures

    def run(self, command: str, inputs: dict, previous: dict) -> dict:
        raise NotImplementedError

    def create(self, name, inputs, preview):
        outs = dict(inputs)
        if preview:
            outs.update({"stdout": UNKNOWN, "stderr": UNKNOWN})
            return "", outs
        if contains_unknown(inputs):
            raise ProviderError(f"{self.token}: inputs are not known")
        outs.update({"stdout": "", "stderr": ""})
        if inputs.get("create"):
            outs.update(self.run(inputs["create"], inputs, {}))
        return unique_id(name), outs

    def update(self, id, olds, news, old_inputs, preview):
        outs = dict(news)
        outs["stdout"], outs["stderr"] = olds.get("stdout", ""), olds.get("stderr", "")
        cmd = news.get("update") or news.get("create")
        if preview:
            if cmd:
                outs.update({"stdout": UNKNOWN, "stderr": UNKNOWN})
            return outs
        if cmd:
            outs.update(self.run(cmd, news, olds))
        return outs

    def delete(self, id, state, old_inputs):
        if state.get("delete"):
            self.run(state["delete"], state, state)


# -- local --------------------------------------------------------------------------------------


def local_argv(command: str, interpreter: Optional[list]) -> list[str]:
    return [*(interpreter if interpreter else ["/bin/sh", "-c"]), command]


def run_local(command: str, *, interpreter=None, dir=None, environment=None, stdin=None,
              previous_env=None, logging=None) -> dict:
    env = dict(os.environ)
    env.update(environment or {})
    env.update(previous_env or {})
    argv = local_argv(command, interpreter)
    interrupt = Interrupt()
    if interrupt.reason():
        raise ProviderError(f"{interrupt.reason()}: not running {command!r}")
    try:
        # its own process group, so that a timeout or cancel stops the command's children too
        proc = subprocess.Popen(argv, cwd=dir or os.getcwd(), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as e:
        raise ProviderError(f"{e}: running {command!r}") from None
    log_out, log_err = log_streams(logging)
    out, err = _Collector(log_out), _Collector(log_err)
    readers = [threading.Thread(target=_pump, args=(proc.stdout.read1, out), daemon=True),
               threading.Thread(target=_pump, args=(proc.stderr.read1, err), daemon=True)]
    for t in readers:
        t.start()
    if stdin:
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except BrokenPipeError:  # the command did not read all of its stdin
            pass
    stopped = interrupt.wait(lambda: proc.poll() is not None)
    if stopped:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for t in readers:
        t.join()
    proc.wait()
    stdout, stderr = out.text(), err.text()
    if stopped:
        raise ProviderError(f"{stopped}: running {command!r}:\n{stdout}{stderr}")
    if proc.returncode != 0:
        raise ProviderError(f"exit status {proc.returncode}: running {command!r}:\n{stdout}{stderr}")
    return {"stdout": trim_newline(stdout), "stderr": trim_newline(stderr)}


def _glob_regex(pattern: str) -> re.Pattern:
    """gobwas/glob with '/' separator: ** any, * any but '/', ? one char but '/', {a,b}."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "{":
            j = pattern.find("}", i)
            if j < 0:
                out += re.escape(c)
            else:
                out += "(?:" + "|".join(re.escape(p) for p in pattern[i + 1:j].split(",")) + ")"
                i = j
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1:j]
                out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                i = j
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


def path_asset(path: str) -> dict:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {SIG_KEY: ASSET_SIG, "path": path, "hash": digest}


def glob_assets(directory: str, globs: list[str]) -> dict:
    rules = [(g.startswith("!"), _glob_regex(g.lstrip("!"))) for g in globs]
    found: dict = {}
    for root, _dirs, files in os.walk(directory):
        for fn in sorted(files):
            full = os.path.join(root, fn)
            rel = os.path.relpath(full, directory).replace(os.sep, "/")
            for exclude, rx in rules:
                if rx.match(rel):
                    if exclude:
                        found.pop(rel, None)
                    else:
                        found[rel] = path_asset(full)
    return dict(sorted(found.items()))


class LocalCommand(_Command):
    token = "command:local:Command"
    inputs = {"create": "string", "update": "string", "delete": "string", "environment": "object",
              "stdin": "string", "dir": "string", "interpreter": "array", "triggers": "array",
              "addPreviousOutputInEnv": "boolean", "logging": "string", "assetPaths": "array",
              "archivePaths": "array"}
    outputs = {"stdout": "string", "stderr": "string", "assets": "object"}

    def check(self, olds, news):
        inputs, failures = super().check(olds, news)
        if inputs.get("archivePaths"):
            failures.append(CheckFailure("archivePaths", "archivePaths is not supported by Mammatus' "
                                                         "command provider (use assetPaths)"))
        interp = inputs.get("interpreter")
        if interp not in (None, UNKNOWN) and (not isinstance(interp, list) or
                                              any(not isinstance(x, str) for x in interp if x is not UNKNOWN)):
            failures.append(CheckFailure("interpreter", "interpreter must be a list of strings"))
        return inputs, failures

    def run(self, command, inputs, previous):
        out = run_local(command, interpreter=inputs.get("interpreter"), dir=inputs.get("dir"),
                        environment=inputs.get("environment"), stdin=inputs.get("stdin"),
                        previous_env=previous_output_env(previous, inputs.get("addPreviousOutputInEnv")),
                        logging=inputs.get("logging"))
        if inputs.get("assetPaths"):
            out["assets"] = glob_assets(inputs.get("dir") or os.getcwd(), inputs["assetPaths"])
        return out


# -- remote -------------------------------------------------------------------------------------

CONNECTION_DEFAULTS = {"port": 22, "user": "root", "dialErrorLimit": 10, "perDialTimeout": 15}


def connection_with_defaults(conn: dict) -> dict:
    conn = dict(conn)
    for k, v in CONNECTION_DEFAULTS.items():
        if conn.get(k) is None:
            conn[k] = v
    if isinstance(conn.get("proxy"), dict):
        conn["proxy"] = connection_with_defaults(conn["proxy"])
    return conn


def connection_failures(conn, prop: str = "connection") -> list[CheckFailure]:
    if conn is None:
        return [CheckFailure(prop, f"Missing required property '{prop}'")]
    if conn is UNKNOWN:
        return []
    if not isinstance(conn, dict):
        return [CheckFailure(prop, f"{prop} must be an object")]
    failures = []
    if conn.get("host") is None:
        failures.append(CheckFailure(f"{prop}.host", "Missing required property 'host'"))
    port = conn.get("port")
    if port not in (None, UNKNOWN) and (not isinstance(port, (int, float)) or not 0 < port < 65536):
        failures.append(CheckFailure(f"{prop}.port", f"port must be between 1 and 65535, got: {port!r}"))
    if isinstance(conn.get("proxy"), dict):
        failures += connection_failures(conn["proxy"], f"{prop}.proxy")
    return failures


def build_remote_command(command: str, environment: Optional[dict] = None,
                         previous_env: Optional[dict] = None) -> str:
    """The command line sent to the remote shell: exports for the environment (and the previous
    outputs), then the user's command unchanged."""
    env = dict(environment or {})
    env.update(previous_env or {})
    lines = []
    for k, v in env.items():
        if not _ENV_NAME.match(k):
            raise ProviderError(f"invalid environment variable name {k!r}")
        lines.append(f"export {k}={shlex.quote(v)}")
    return "\n".join([*lines, command]) if lines else command


def _ssh_options(conn: dict) -> dict:
    """tools.ssh.connect()'s keyword arguments for one of pulumi-command's connections."""
    return {"private_key": conn.get("privateKey") or "", "key_password": conn.get("privateKeyPassword"),
            "password": conn.get("password"), "host_key": conn.get("hostKey"),
            "agent_socket": conn.get("agentSocketPath") or os.environ.get("SSH_AUTH_SOCK"),
            "timeout": conn.get("perDialTimeout") or None}


def dial(conn: dict) -> ssh.Lease:
    """A lease on an authenticated connection (through its proxy, if any) of this process's
    pool, by Mammatus' one SSH client (tools/ssh.py: host-key pinning, retries, reuse)."""
    conn = connection_with_defaults(conn)
    proxy = conn.get("proxy")
    jump = None
    if proxy:
        jump = {"host": proxy["host"], "port": int(proxy["port"]), "user": proxy["user"],
                "attempts": int(proxy.get("dialErrorLimit", 10)), **_ssh_options(proxy)}
    try:
        return ssh.POOL.acquire(conn["host"], int(conn["port"]), conn["user"],
                                attempts=int(conn.get("dialErrorLimit", 10)), proxy=jump,
                                **_ssh_options(conn))
    except ssh.SshError as exc:
        raise ProviderError(str(exc)) from None


def run_remote(conn: dict, command: str, *, environment=None, stdin=None, previous_env=None,
               logging=None) -> dict:
    full = build_remote_command(command, environment, previous_env)
    interrupt = Interrupt()
    lease = dial(conn)
    try:
        chan = ssh.with_channel(lease, lambda client: client.get_transport().open_session())
        chan.exec_command(full)
        log_out, log_err = log_streams(logging)
        out, err = _Collector(log_out), _Collector(log_err)
        readers = [threading.Thread(target=_pump, args=(chan.recv, out), daemon=True),
                   threading.Thread(target=_pump, args=(chan.recv_stderr, err), daemon=True)]
        for t in readers:
            t.start()
        if stdin:
            chan.sendall(stdin.encode())
        chan.shutdown_write()
        stopped = interrupt.wait(chan.exit_status_ready)
        if stopped:
            chan.close()
            raise ProviderError(f"{stopped}: running {command!r}:\n{out.text()}{err.text()}")
        for t in readers:
            t.join()
        status = chan.recv_exit_status()
        chan.close()
    finally:
        lease.release()
    stdout, stderr = out.text(), err.text()
    if status != 0:
        raise ProviderError(f"Process exited with status {status}: running {command!r}:\n{stdout}{stderr}")
    return {"stdout": trim_newline(stdout), "stderr": trim_newline(stderr)}


def checked_connection(inputs: dict, failures: list) -> tuple[dict, list]:
    """The connection checked as a whole (its own messages replace the generic one) and filled
    with pulumi-command's defaults."""
    failures = [f for f in failures if f.property != "connection"]
    failures += connection_failures(inputs.get("connection"))
    if isinstance(inputs.get("connection"), dict):
        inputs["connection"] = connection_with_defaults(inputs["connection"])
    return inputs, failures


class RemoteCommand(_Command):
    token = "command:remote:Command"
    inputs = {"connection": "object", "create": "string", "update": "string", "delete": "string",
              "environment": "object", "stdin": "string", "triggers": "array",
              "addPreviousOutputInEnv": "boolean", "logging": "string"}
    required = ("connection",)
    secret_outputs = frozenset({"connection"})

    def check(self, olds, news):
        inputs, failures = checked_connection(*super().check(olds, news))
        env = inputs.get("environment")
        if isinstance(env, dict):
            failures += [CheckFailure(f"environment.{k}", "not a valid environment variable name")
                         for k in env if not _ENV_NAME.match(k)]
        return inputs, failures

    def run(self, command, inputs, previous):
        return run_remote(inputs["connection"], command, environment=inputs.get("environment"),
                          stdin=inputs.get("stdin"),
                          previous_env=previous_output_env(previous, inputs.get("addPreviousOutputInEnv")),
                          logging=inputs.get("logging"))


# -- copy ---------------------------------------------------------------------------------------


def _source_kind(source) -> Optional[str]:
    if isinstance(source, dict):
        if source.get(SIG_KEY) == ASSET_SIG:
            return "asset"
        if source.get(SIG_KEY) == ARCHIVE_SIG:
            return "archive"
    return None


def source_hash(source: dict) -> str:
    if source.get("hash"):
        return source["hash"]
    return hashlib.sha256(repr(sorted((k, str(v)) for k, v in source.items())).encode()).hexdigest()


class _Sftp:
    """The few SFTP operations of upstream's copy, on a paramiko SFTPClient."""

    def __init__(self, sftp):
        self.sftp = sftp

    def stat(self, path):
        try:
            return self.sftp.stat(path)
        except FileNotFoundError:
            return None
        except IOError as e:
            if getattr(e, "errno", None) == 2:
                return None
            raise

    @staticmethod
    def is_dir(st) -> bool:
        return st is not None and stat.S_ISDIR(st.st_mode)

    def makedirs(self, path: str) -> None:
        if not path or path in ("/", "."):
            return
        st = self.stat(path)
        if st is not None:
            if not self.is_dir(st):
                raise ProviderError(f"remote path {path} exists but is not a directory")
            return
        self.makedirs(os.path.dirname(path.rstrip("/")))
        self.sftp.mkdir(path)

    def write(self, data: bytes, dest: str) -> None:
        with self.sftp.open(dest, "wb") as f:
            f.write(data)

    def put_file(self, src: str, dest: str) -> None:
        self.sftp.put(src, dest)

    def put_dir(self, src: str, dest: str) -> None:
        for root, _dirs, files in os.walk(src):
            rel = os.path.relpath(root, src)
            target = dest if rel == "." else os.path.join(dest, rel)
            st = self.stat(target)
            if st is None:
                self.sftp.mkdir(target)
            elif not self.is_dir(st):
                raise ProviderError(f"remote path {target} exists but is not a directory")
            for fn in files:
                self.put_file(os.path.join(root, fn), os.path.join(target, fn))


def copy_source(sftp: _Sftp, source: dict, remote_path: str) -> None:
    kind = _source_kind(source)
    if kind == "asset" and source.get("text") is not None:
        if sftp.is_dir(sftp.stat(remote_path)):
            raise ProviderError(f"remote path {remote_path} is a directory; when using a text asset, "
                                "remotePath must be a file path")
        sftp.makedirs(os.path.dirname(remote_path))
        sftp.write(source["text"].encode(), remote_path)
        return
    if kind == "archive" and isinstance(source.get("assets"), dict):
        st = sftp.stat(remote_path)
        if st is not None and not sftp.is_dir(st):
            raise ProviderError(f"remote path {remote_path} exists but is not a directory; cannot copy "
                                "asset archive contents")
        sftp.makedirs(remote_path)
        for name, member in sorted(source["assets"].items()):
            dest = os.path.join(remote_path, name)
            if _source_kind(member) == "archive":
                copy_source(sftp, member, dest)
                continue
            sftp.makedirs(os.path.dirname(dest))
            if member.get("text") is not None:
                sftp.write(member["text"].encode(), dest)
            elif member.get("path"):
                sftp.put_file(member["path"], dest)
            else:
                raise ProviderError(f"asset archive member {name}: only path and text assets are supported")
        return
    path = source.get("path")
    if not path:
        raise ProviderError("source: only path/text assets and path/asset archives are supported "
                            "(no remote URIs offline)")
    dest_stat = sftp.stat(remote_path)
    if os.path.isdir(path):
        if dest_stat is None:
            sftp.makedirs(remote_path)
        dest = remote_path
        if not path.endswith("/"):
            dest = os.path.join(remote_path, os.path.basename(path.rstrip("/")))
            st = sftp.stat(dest)
            if st is not None and not sftp.is_dir(st):
                raise ProviderError(f"remote path {dest} exists but is not a directory")
        sftp.put_dir(path, dest)
    else:
        dest = remote_path
        if sftp.is_dir(dest_stat):
            dest = os.path.join(remote_path, os.path.basename(path))
        elif dest_stat is None:
            sftp.makedirs(os.path.dirname(remote_path))
        sftp.put_file(path, dest)


class CopyToRemote(ResourceType):
    token = "command:remote:CopyToRemote"
    inputs = {"connection": "object", "source": "pulumi.json#/Asset", "remotePath": "string",
              "triggers": "array"}
    outputs = {}
    required = ("connection", "source", "remotePath")
    replace_on = frozenset({"triggers"})
    secret_outputs = frozenset({"connection"})
    outputs_secret_if_any_input_secret = True

    def check(self, olds, news):
        inputs, failures = checked_connection(*super().check(olds, news))
        src = inputs.get("source")
        if src is not None and src is not UNKNOWN and _source_kind(src) is None:
            failures.append(CheckFailure("asset", "either asset or archive must be set"))
        return inputs, failures

    def diff(self, id, olds, news, old_inputs):
        before = old_inputs if old_inputs else olds
        result = DiffResult()
        for key in sorted(set(self.inputs)):
            old, new = before.get(key), news.get(key)
            if key == "source" and isinstance(old, dict) and isinstance(new, dict):
                same = source_hash(old) == source_hash(new) and not contains_unknown(new)
            else:
                same = values_equal(old, new) or (old is None and new is None)
            if not same:
                result.changes.append(key)
                if key in self.replace_on:
                    result.replaces.append(key)
        return result

    def _copy(self, inputs: dict) -> None:
        lease = dial(inputs["connection"])
        try:
            sftp = ssh.with_channel(lease, lambda client: client.open_sftp())
            try:
                copy_source(_Sftp(sftp), inputs["source"], inputs["remotePath"])
            finally:
                sftp.close()
        finally:
            lease.release()

    def create(self, name, inputs, preview):
        if preview:
            return "", dict(inputs)
        if contains_unknown(inputs):
            raise ProviderError(f"{self.token}: inputs are not known")
        self._copy(inputs)
        return secrets.token_hex(4), dict(inputs)

    def update(self, id, olds, news, old_inputs, preview):
        if preview:
            return dict(news)
        if source_hash(olds.get("source") or {}) != source_hash(news["source"]) \
                or olds.get("remotePath") != news.get("remotePath"):
            self._copy(news)
        return dict(news)


RESOURCES = (LocalCommand(), RemoteCommand(), CopyToRemote())


def local_run(args: dict, preview: bool, secret_args: set):
    """command:local:run — runs the command on every program run (previews included), as upstream."""
    failures = []
    if not isinstance(args.get("command"), str):
        failures.append(CheckFailure("command", "Missing required property 'command'"))
    if args.get("archivePaths"):
        failures.append(CheckFailure("archivePaths", "archivePaths is not supported by Mammatus' "
                                                     "command provider (use assetPaths)"))
    if failures:
        return {}, failures, ()
    result = dict(args)
    result.update(LocalCommand().run(args["command"], args, {}))
    return result, [], (set(result) if secret_args else ())  # infer: outputs depend on all inputs


FUNCTIONS = {"command:local:run": local_run}


def make_servicer() -> ProviderServicer:
    return ProviderServicer(NAME, sdk_version("pulumi_command"), RESOURCES, functions=FUNCTIONS)


def main() -> None:
    serve(make_servicer())


if __name__ == "__main__":
    main()
