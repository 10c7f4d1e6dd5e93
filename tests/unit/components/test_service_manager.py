from components.service_manager import Daemon, digest, lifecycle, systemd_unit

DNSMASQ = Daemon(name="dnsmasq", command=["dnsmasq", "-k", "-C", "/etc/dnsmasq.conf"],
                 config_digest="abc", reload_signal="HUP", environment={"A": "1 2"})


def test_systemd_unit_runs_the_foreground_command_and_restarts_on_failure():
    unit = systemd_unit(DNSMASQ)
    assert "ExecStart=dnsmasq -k -C /etc/dnsmasq.conf\n" in unit
    assert "Restart=on-failure" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert "Environment='A=1 2'" in unit and "WantedBy=multi-user.target" in unit


def test_systemd_lifecycle_enables_reloads_and_disables():
    create, update, delete = lifecycle(DNSMASQ)
    assert "systemctl enable mammatus-dnsmasq && systemctl restart mammatus-dnsmasq" in create
    assert "--now" not in create          # one start, not two
    assert "systemctl reload mammatus-dnsmasq" in update
    assert "systemctl disable --now mammatus-dnsmasq" in delete
    assert "rm -f /etc/systemd/system/mammatus-dnsmasq.service" in delete


def test_units_keep_their_runtime_directory_across_a_reboot():
    unit = systemd_unit(DNSMASQ)
    assert "RuntimeDirectory=mammatus\n" in unit and "RuntimeDirectoryPreserve=yes\n" in unit


def test_config_digest_changes_the_commands_so_pulumi_sees_a_change():
    a = lifecycle(Daemon("x", ["x"], config_digest=digest("one")))
    b = lifecycle(Daemon("x", ["x"], config_digest=digest("two")))
    assert a[0] != b[0] and a[2] == b[2]


def test_systemd_units_are_sandboxed_unless_the_daemon_opts_out():
    unit = systemd_unit(DNSMASQ)
    for line in ("NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=full", "ProtectHome=yes"):
        assert f"{line}\n" in unit
    assert "ProtectSystem" not in systemd_unit(Daemon("lxd", ["lxd"], sandboxed=False))


def test_systemd_reads_percent_and_dollar_literally():
    unit = systemd_unit(Daemon("x", ["sh", "-c", 'echo "$1" 100%'], environment={"P": "5%"}))
    assert 'ExecStart=sh -c "echo \\"$$1\\" 100%%"\n' in unit
    assert "Environment=P=5%%\n" in unit


def test_a_daemon_of_its_own_user_owns_its_state_and_keeps_only_the_capabilities_it_needs():
    unit = systemd_unit(Daemon("metadata", ["python3", "-m", "services.metadata"],
                               user="mammatus-metadata", state_dir="mammatus/metadata",
                               capabilities=("CAP_NET_BIND_SERVICE",)))
    assert "User=mammatus-metadata\nGroup=mammatus-metadata\n" in unit
    assert "StateDirectory=mammatus/metadata\n" in unit
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" in unit
    assert "User=" not in systemd_unit(DNSMASQ)    # dnsmasq drops to its own user itself
