from components.render.lxd_host import SUBIDS, preseed, server_cert_of, trust_command


def test_preseed_listens_on_the_lan_address_with_a_dir_pool_and_no_bridge():
    text = preseed("10.0.0.11")
    assert "10.0.0.11:8443" in text and "driver: dir" in text and "networks" not in text


def test_trust_command_inits_then_trusts_then_prints_the_server_certificate():
    cmd = trust_command("/p.yaml", "/c.crt")
    assert cmd.startswith("export LXD_DIR=/var/lib/lxd && ")
    assert cmd.index("lxd init --preseed") < cmd.index("lxc config trust add /c.crt")
    assert cmd.endswith("cat /var/lib/lxd/server.crt")


def test_server_cert_is_the_last_pem_of_the_output():
    pem = "-----BEGIN CERTIFICATE-----\nMIIBxTCCAUug\n-----END CERTIFICATE-----"
    assert server_cert_of(f"noise\n{pem}\n") == pem + "\n"
    assert server_cert_of("no certificate") == ""


def test_subids_change_only_a_host_with_part_of_the_id_space():
    assert "/proc/self/uid_map" in SUBIDS and "-lt 4294967295" in SUBIDS
    assert "systemctl restart lxd.service" in SUBIDS
