"""tools/providers/command.py through the ResourceProvider interface (local commands run for real;
the remote parts are tested without SSH: command building, checks, the copy logic on a local
stand-in for SFTP, the dial retries)."""
import hashlib
import os
import subprocess

import pytest
from pulumi.runtime.proto import provider_pb2

from tools.providers import command
from tools.providers._base import ARCHIVE_SIG, ASSET_SIG, SIG_KEY, ProviderError
from tests.unit.tools.helpers import UNKNOWN, Client, expect_abort, is_secret, plain, secret

LOCAL = command.LocalCommand.token
REMOTE = command.RemoteCommand.token
COPY = command.CopyToRemote.token
P = provider_pb2.PropertyDiff


@pytest.fixture
def c():
    return Client(command.make_servicer())


def test_create_runs_with_environment_stdin_dir_and_interpreter(c, tmp_path):
    inputs = c.checked(LOCAL, {
        "create": "import os,sys; print(os.environ['GREETING'], sys.stdin.read().strip(), os.getcwd())\n"
                  "print('warn', file=sys.stderr)",
        "interpreter": ["python3", "-c"], "environment": {"GREETING": "hello"}, "stdin": "from stdin",
        "dir": str(tmp_path)})
    id_, outs = c.create(LOCAL, inputs, name="cmd")
    assert id_.startswith("cmd") and len(id_) == len("cmd") + 8
    assert outs["stdout"] == f"hello from stdin {tmp_path}"
    assert outs["stderr"] == "warn"
    assert outs["create"] == inputs["create"]


def test_default_interpreter_is_sh_and_one_trailing_newline_is_trimmed(c):
    _, outs = c.create(LOCAL, c.checked(LOCAL, {"create": "printf 'a\\n\\n'; echo $0"}))
    assert outs["stdout"] == "a\n\nsh" or outs["stdout"] == "a\n\n/bin/sh"


def test_no_create_command_is_fine(c):
    id_, outs = c.create(LOCAL, c.checked(LOCAL, {"delete": "true"}))
    assert id_ and outs["stdout"] == "" and outs["stderr"] == ""


def test_failure_reports_exit_status_and_output(c):
    msg = expect_abort(c.create, LOCAL, {"create": "echo oops; echo bad >&2; exit 7"})
    assert "exit status 7" in msg and "oops" in msg and "bad" in msg and "running 'echo oops" in msg


def test_preview_runs_nothing(c, tmp_path):
    marker = tmp_path / "ran"
    inputs = c.checked(LOCAL, {"create": f"touch {marker}"})
    id_, outs = c.create(LOCAL, inputs, preview=True)
    assert not marker.exists()
    assert outs["stdout"] == UNKNOWN and outs["stderr"] == UNKNOWN
    _, outs = c.create(LOCAL, inputs)
    marker.unlink()
    upd = c.update(LOCAL, outs, {**inputs, "update": f"touch {marker}"}, preview=True)
    assert not marker.exists() and upd["stdout"] == UNKNOWN


def test_update_runs_update_with_previous_output(c):
    inputs = c.checked(LOCAL, {"create": "echo first", "update": "echo \"was: $PULUMI_COMMAND_STDOUT\""})
    _, outs = c.create(LOCAL, inputs)
    news = {**inputs, "environment": {"X": "1"}}
    d = c.diff(LOCAL, outs, news, inputs)
    assert d.changes == provider_pb2.DiffResponse.DIFF_SOME and list(d.replaces) == []
    assert d.detailedDiff["environment"].kind == P.ADD
    outs2 = c.update(LOCAL, outs, news, old_inputs=inputs)
    assert outs2["stdout"] == "was: first"


def test_update_falls_back_to_create(c):
    inputs = c.checked(LOCAL, {"create": "echo \"c $X\"", "environment": {"X": "1"}})
    _, outs = c.create(LOCAL, inputs)
    outs2 = c.update(LOCAL, outs, {**inputs, "environment": {"X": "2"}})
    assert outs2["stdout"] == "c 2"


def test_add_previous_output_in_env_false(c):
    inputs = c.checked(LOCAL, {"create": "echo first", "update": "echo \"[${PULUMI_COMMAND_STDOUT-unset}]\"",
                               "addPreviousOutputInEnv": False})
    _, outs = c.create(LOCAL, inputs)
    assert c.update(LOCAL, outs, {**inputs, "stdin": "x"})["stdout"] == "[unset]"


def test_delete_gets_previous_outputs(c, tmp_path):
    out = tmp_path / "deleted"
    inputs = c.checked(LOCAL, {"create": "echo made; echo e >&2",
                               "delete": f"echo \"$PULUMI_COMMAND_STDOUT/$PULUMI_COMMAND_STDERR\" > {out}"})
    id_, outs = c.create(LOCAL, inputs)
    c.delete(LOCAL, id_, outs)
    assert out.read_text() == "made/e\n"


def test_failed_delete_is_an_error(c):
    assert "exit status 1" in expect_abort(c.delete, LOCAL, "id", {"delete": "false", "stdout": ""})


def test_triggers_replace_and_nothing_changed_is_none(c):
    inputs = c.checked(LOCAL, {"create": "true", "triggers": ["a", 1]})
    _, outs = c.create(LOCAL, inputs)
    assert c.diff(LOCAL, outs, inputs, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
    d = c.diff(LOCAL, outs, {**inputs, "triggers": ["a", 2]}, inputs)
    assert list(d.replaces) == ["triggers"] and d.detailedDiff["triggers"].kind == P.UPDATE_REPLACE
    d = c.diff(LOCAL, outs, {**inputs, "create": "echo"}, inputs)
    assert list(d.replaces) == [] and list(d.diffs) == ["create"]


def test_any_secret_input_makes_outputs_secret(c):
    inputs, failures = c.check(LOCAL, {"create": "echo $TOKEN", "environment": secret({"TOKEN": "s3cr3t"})})
    assert failures == [] and is_secret(inputs["environment"])
    _, outs = c.create(LOCAL, inputs)
    assert is_secret(outs["stdout"]) and plain(outs["stdout"]) == "s3cr3t"
    assert is_secret(outs["environment"]) and is_secret(outs["create"])
    _, plain_outs = c.create(LOCAL, c.checked(LOCAL, {"create": "echo hi"}))
    assert not is_secret(plain_outs["stdout"])


def test_check_failures(c):
    _, failures = c.check(LOCAL, {"create": "x", "logging": "loud"})
    assert failures[0][0] == "logging"
    _, failures = c.check(LOCAL, {"create": "x", "archivePaths": ["**"]})
    assert failures[0][0] == "archivePaths"
    _, failures = c.check(LOCAL, {"create": "x", "interpreter": "bash"})
    assert failures[0][0] == "interpreter"


def test_asset_paths(c, tmp_path):
    (tmp_path / "out").mkdir()
    inputs = c.checked(LOCAL, {"create": "echo a > out/a.txt; echo s > out/secret.txt; echo x > top.log",
                               "dir": str(tmp_path), "assetPaths": ["out/**", "!**secret.*"]})
    _, outs = c.create(LOCAL, inputs)
    assert list(outs["assets"]) == ["out/a.txt"]
    asset = outs["assets"]["out/a.txt"]
    assert asset[SIG_KEY] == ASSET_SIG and asset["path"] == str(tmp_path / "out/a.txt")
    assert asset["hash"] == hashlib.sha256(b"a\n").hexdigest()


@pytest.mark.parametrize("pattern,path,match", [
    ("*.txt", "a.txt", True), ("*.txt", "d/a.txt", False), ("**.txt", "d/a.txt", True),
    ("src/**", "src/x/y.js", True), ("a?c", "abc", True), ("{a,b}.js", "b.js", True), ("[ab]", "c", False),
])
def test_glob(pattern, path, match):
    assert bool(command._glob_regex(pattern).match(path)) is match


def test_read_returns_state(c):
    inputs = c.checked(LOCAL, {"create": "echo x"})
    id_, outs = c.create(LOCAL, inputs)
    assert c.read(LOCAL, id_, outs, inputs) == (id_, outs, inputs)


# -- remote: building and checking -----------------------------------------------------------------


def test_build_remote_command_exports_quoted_environment():
    cmd = command.build_remote_command("echo \"$A|$B\"", {"A": "it's a $test"},
                                       {"PULUMI_COMMAND_STDOUT": "line1\nline2"})
    assert cmd.splitlines()[0] == "export A='it'\"'\"'s a $test'"
    assert cmd.endswith("\necho \"$A|$B\"")
    out = subprocess.run(["sh", "-c", cmd + "; printf '%s' \"$PULUMI_COMMAND_STDOUT\""], capture_output=True,
                         text=True, check=True).stdout
    assert out == "it's a $test|\nline1\nline2"


def test_build_remote_command_without_environment_is_the_command():
    assert command.build_remote_command("uptime") == "uptime"


def test_build_remote_command_rejects_bad_names():
    with pytest.raises(ProviderError):
        command.build_remote_command("true", {"A B": "x"})


def test_previous_output_env():
    assert command.previous_output_env({"stdout": "o", "stderr": ""}, None) == {"PULUMI_COMMAND_STDOUT": "o"}
    assert command.previous_output_env({"stdout": "o", "stderr": "e"}, False) == {}


def test_remote_check_applies_connection_defaults_and_keeps_it_secret(c):
    inputs, failures = c.check(REMOTE, {"connection": secret({"host": "10.0.0.2", "password": "pw"}),
                                        "create": "uptime"})
    assert failures == []
    assert is_secret(inputs["connection"])
    assert plain(inputs["connection"]) == {"host": "10.0.0.2", "password": "pw", "port": 22, "user": "root",
                                           "dialErrorLimit": 10, "perDialTimeout": 15}


@pytest.mark.parametrize("news,prop", [
    ({"create": "x"}, "connection"),
    ({"connection": {"user": "u"}}, "connection.host"),
    ({"connection": {"host": "h", "port": 70000}}, "connection.port"),
    ({"connection": {"host": "h", "proxy": {"port": 2}}}, "connection.proxy.host"),
    ({"connection": {"host": "h"}, "environment": {"BAD-NAME": "x"}}, "environment.BAD-NAME"),
])
def test_remote_check_failures(c, news, prop):
    _, failures = c.check(REMOTE, news)
    assert prop in [p for p, _ in failures], failures


def test_remote_preview_does_not_connect(c):
    inputs = c.checked(REMOTE, {"connection": {"host": "192.0.2.1"}, "create": "true"})
    id_, outs = c.create(REMOTE, inputs, preview=True)
    assert id_ == "" and outs["stdout"] == UNKNOWN
    assert is_secret(outs["connection"])


def test_remote_diff(c):
    inputs = c.checked(REMOTE, {"connection": {"host": "h"}, "create": "a", "triggers": [1]})
    outs = {**inputs, "stdout": "", "stderr": ""}
    assert c.diff(REMOTE, outs, inputs, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
    d = c.diff(REMOTE, outs, {**inputs, "connection": {**inputs["connection"], "host": "h2"}}, inputs)
    assert list(d.diffs) == ["connection"] and list(d.replaces) == []
    assert list(c.diff(REMOTE, outs, {**inputs, "triggers": [2]}, inputs).replaces) == ["triggers"]


# -- copy logic on a local stand-in for SFTP -------------------------------------------------------


class LocalSftp:
    """paramiko.SFTPClient's stat/mkdir/open/put on the local filesystem."""

    def stat(self, path):
        return os.stat(path)

    def mkdir(self, path):
        os.mkdir(path)

    def open(self, path, mode):
        return open(path, mode)

    def put(self, src, dst):
        with open(src, "rb") as s, open(dst, "wb") as d:
            d.write(s.read())


def _asset(**kw):
    return {SIG_KEY: ASSET_SIG, **kw}


def _archive(**kw):
    return {SIG_KEY: ARCHIVE_SIG, **kw}


@pytest.fixture
def sftp():
    return command._Sftp(LocalSftp())


def test_copy_file_to_new_path_creates_parents(sftp, tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("data")
    dest = tmp_path / "remote" / "deep" / "file.txt"
    command.copy_source(sftp, _asset(path=str(src)), str(dest))
    assert dest.read_text() == "data"


def test_copy_file_into_existing_directory(sftp, tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("data")
    (tmp_path / "dir").mkdir()
    command.copy_source(sftp, _asset(path=str(src)), str(tmp_path / "dir"))
    assert (tmp_path / "dir" / "src.txt").read_text() == "data"


def test_copy_text_asset(sftp, tmp_path):
    command.copy_source(sftp, _asset(text="hello"), str(tmp_path / "a" / "t.txt"))
    assert (tmp_path / "a" / "t.txt").read_text() == "hello"
    (tmp_path / "d").mkdir()
    with pytest.raises(ProviderError, match="is a directory"):
        command.copy_source(sftp, _asset(text="hello"), str(tmp_path / "d"))


def test_copy_directory_archive(sftp, tmp_path):
    src = tmp_path / "site"
    (src / "css").mkdir(parents=True)
    (src / "index.html").write_text("i")
    (src / "css" / "a.css").write_text("c")
    command.copy_source(sftp, _archive(path=str(src)), str(tmp_path / "www"))
    assert (tmp_path / "www" / "site" / "css" / "a.css").read_text() == "c"
    command.copy_source(sftp, _archive(path=str(src) + "/"), str(tmp_path / "flat"))
    assert (tmp_path / "flat" / "index.html").read_text() == "i"


def test_copy_asset_archive(sftp, tmp_path):
    f = tmp_path / "f"
    f.write_text("file")
    arch = _archive(assets={"conf/app.ini": _asset(text="x=1"), "bin/f": _asset(path=str(f))})
    command.copy_source(sftp, arch, str(tmp_path / "dest"))
    assert (tmp_path / "dest" / "conf" / "app.ini").read_text() == "x=1"
    assert (tmp_path / "dest" / "bin" / "f").read_text() == "file"


def test_copy_uri_is_refused(sftp, tmp_path):
    with pytest.raises(ProviderError, match="only path/text"):
        command.copy_source(sftp, _asset(uri="https://example.com/x"), str(tmp_path / "x"))


def test_copy_check_and_diff(c, tmp_path):
    _, failures = c.check(COPY, {"connection": {"host": "h"}, "source": "not-an-asset", "remotePath": "/x"})
    assert failures == [("asset", "either asset or archive must be set")]
    inputs = c.checked(COPY, {"connection": {"host": "h"}, "source": _asset(path="/a", hash="1"),
                              "remotePath": "/x"})
    assert plain(inputs["connection"])["port"] == 22
    assert c.diff(COPY, inputs, inputs, inputs).changes == provider_pb2.DiffResponse.DIFF_NONE
    d = c.diff(COPY, inputs, {**inputs, "source": _asset(path="/a", hash="2")}, inputs)
    assert list(d.diffs) == ["source"] and list(d.replaces) == []
    d = c.diff(COPY, inputs, {**inputs, "triggers": ["t"]}, inputs)
    assert list(d.replaces) == ["triggers"]
    id_, outs = c.create(COPY, inputs, preview=True)
    assert id_ == "" and is_secret(outs["connection"])


def test_timeout_stops_the_command(c, tmp_path):
    marker = tmp_path / "finished"
    inputs = c.checked(LOCAL, {"create": f"echo started; sleep 60; touch {marker}"})
    from tests.unit.tools.helpers import Aborted, _wire
    req = provider_pb2.CreateRequest(urn="urn:pulumi:dev::p::command:local:Command::t", type=LOCAL, name="t",
                                     properties=_wire(inputs), timeout=0.5)
    with pytest.raises(Aborted) as ei:
        c.s.Create(req, c.ctx)
    assert "timed out" in ei.value.details and "started" in ei.value.details
    assert not marker.exists()


def test_cancel_stops_running_and_later_commands(c, tmp_path):
    import threading
    started = tmp_path / "started"
    inputs = c.checked(LOCAL, {"create": f"touch {started}; sleep 60"})
    errors = []

    def create():
        try:
            c.create(LOCAL, inputs)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    t = threading.Thread(target=create)
    t.start()
    c.s.Cancel(None, c.ctx)
    t.join()
    assert len(errors) == 1 and "cancelled" in errors[0].details
    assert "cancelled" in expect_abort(c.create, LOCAL, c.checked(LOCAL, {"create": "true"}))


def test_local_run_function(c, tmp_path):
    result, failures = c.invoke("command:local:run", {"command": "echo $X; pwd", "environment": {"X": "1"},
                                                      "dir": str(tmp_path)}, preview=True)
    assert failures == [] and result["stdout"] == f"1\n{tmp_path}" and result["command"] == "echo $X; pwd"
    _, failures = c.invoke("command:local:run", {"dir": "/"})
    assert failures[0][0] == "command"
    assert "exit status 2" in expect_abort(c.invoke, "command:local:run", {"command": "exit 2"})


def test_local_run_with_secret_input_returns_secrets(c):
    result, _ = c.invoke("command:local:run", {"command": "echo $T", "environment": secret({"T": "tok"})})
    assert is_secret(result["stdout"]) and plain(result["stdout"]) == "tok"
