import dill

from dynamic_providers import dev_host as dh

PROPS = {"lxd_dir": "/var/lib/mammatus/dev/box/lxd", "name": "mm-compute", "image": "mammatus-host-ab",
         "nics": [{"device": "lan", "bridge": "br0", "ifname": "eth0"}], "nesting": True,
         "files": [{"path": "/etc/resolv.conf", "mode": "0644", "content": "nameserver 1\n"}],
         "remove": [], "after_boot": [], "address": "198.51.100.4", "ssh_port": 22}


def test_check_names_the_bad_inputs_and_lets_unknowns_pass():
    props, failures = dh.normalize({**PROPS, "lxd_dir": "relative", "name": "bad name!",
                                    "nics": [{"device": "lan"}]})
    assert {f.property for f in failures} == {"lxd_dir", "name", "nics"}
    unknown = object()   # a preview's unknown value is no list: not checked, kept as it is
    props, failures = dh.normalize({**PROPS, "files": unknown})
    assert failures == [] and props["files"] is unknown


def test_the_container_is_made_nested_with_its_nics_bridged():
    argvs = dh.init_argvs(PROPS)
    assert argvs[0] == ["lxc", "init", "mammatus-host-ab", "mm-compute", "-c", "security.nesting=true"]
    assert argvs[1] == ["lxc", "config", "device", "add", "mm-compute", "lan", "nic",
                        "nictype=bridged", "parent=br0", "name=eth0"]
    assert dh.init_argvs({**PROPS, "nesting": False})[0][-1] == "mm-compute"


def test_files_go_in_from_stdin_with_their_mode_from_the_first_byte():
    argv = dh.push_argv(PROPS, "/etc/ssh/ssh_host_ed25519_key", "0600")
    assert argv[-2:] == ["-", "mm-compute/etc/ssh/ssh_host_ed25519_key"]
    assert argv[argv.index("--mode") + 1] == "0600" and "--create-dirs" in argv


def test_status_comes_from_lxds_answer():
    assert dh.parse_status('{"status": "Stopped", "name": "mm-compute"}') == "Stopped"
    assert dh.parse_status("Error: not found") is None


def test_any_input_change_replaces_a_stopped_host_is_started_again(monkeypatch):
    provider = dh.DevHostProvider()
    monkeypatch.setattr(dh.DevHostProvider, "serving", lambda self, props: True)
    same = provider.diff("mm-compute", {**PROPS, "status": "Running"}, PROPS)
    assert not same.changes
    moved = provider.diff("mm-compute", {**PROPS, "status": "Running"}, {**PROPS, "address": "198.51.100.5"})
    assert moved.changes and moved.replaces == ["address"] and moved.delete_before_replace
    stopped = provider.diff("mm-compute", {**PROPS, "status": "Stopped"}, PROPS)
    assert stopped.changes and stopped.replaces == []


def test_a_host_down_without_a_refresh_is_an_update(monkeypatch):
    """After this machine rebooted the state still says Running: diff looks for itself."""
    provider = dh.DevHostProvider()
    monkeypatch.setattr(dh.DevHostProvider, "serving", lambda self, props: False)
    down = provider.diff("mm-compute", {**PROPS, "status": "Running"}, PROPS)
    assert down.changes and down.replaces == []


def test_only_an_ssh_banner_counts_as_sshd_answering():
    import socket
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer(banner):
            conn, _ = listener.accept()
            with conn:
                conn.sendall(banner)
        for banner, expected in ((b"SSH-2.0-OpenSSH_9.2\r\n", True), (b"HTTP/1.1 400\r\n", False)):
            t = threading.Thread(target=answer, args=(banner,))
            t.start()
            assert dh.sshd_answers("127.0.0.1", port) is expected
            t.join()
    assert dh.sshd_answers("127.0.0.1", port) is False     # nothing listens any more


def test_the_provider_survives_pickling():
    assert isinstance(dill.loads(dill.dumps(dh.DevHostProvider())), dh.DevHostProvider)


def test_a_container_still_booting_is_not_serving_a_stopped_sshd_is_no_reboot(monkeypatch):
    import subprocess

    provider = dh.DevHostProvider()
    monkeypatch.setattr(dh.DevHostProvider, "status", lambda self, props: "Running")
    for state, serving in (("starting", False), ("running", True), ("degraded", True)):
        monkeypatch.setattr(dh.DevHostProvider, "_run", lambda self, props, argv, state=state, **kw:
                            subprocess.CompletedProcess(argv, 0, state + "\n", ""))
        assert provider.serving(PROPS) is serving, state
