"""The iPXE script: one section per machine of network.pxe.machines, found by the MAC iPXE
booted from; any other MAC exits to the firmware."""

from components.render import ipxe
from stacks.spec import PxeMachine
from tests.support.netlab import stack_spec


def network(*machines: PxeMachine):
    net = stack_spec("home").network
    return net.model_copy(update={"pxe": net.pxe.model_copy(update={"machines": list(machines)})})


WEB = PxeMachine(mac="52:54:00:AA:BB:02", name="web-9", preseed="http://10.0.0.2/web-9.cfg",
                 kernelArgs="console=ttyS0,115200n8")
DB = PxeMachine(mac="52:54:00:aa:bb:03", name="db-9")


def sections(text: str) -> dict[str, list[str]]:
    """label -> the lines under it."""
    out, current = {}, None
    for line in text.splitlines():
        if line.startswith(":"):
            current = line[1:]
            out[current] = []
        elif current is not None and line:
            out[current].append(line)
    return out


def test_the_script_dispatches_on_the_boot_macs_label_and_else_exits():
    text = ipxe.render(network(WEB, DB))
    lines = text.splitlines()
    assert lines[0] == "#!ipxe"
    assert "goto mac-${netX/mac:hexhyp} || goto unknown" in lines
    got = sections(text)
    assert set(got) == {"mac-52-54-00-aa-bb-02", "mac-52-54-00-aa-bb-03", "unknown", "failed"}
    assert got["unknown"][-1] == "exit" and "not in mammatus:network.pxe.machines" in got["unknown"][0]
    assert got["failed"][-1] == "exit 1"


def test_the_installer_is_amd64s_unless_ipxe_itself_runs_on_arm64():
    lines = ipxe.render(network(WEB)).splitlines()
    arch = lines.index("iseq ${buildarch} arm64 && set installer arm64 || set installer amd64")
    assert arch < lines.index("goto mac-${netX/mac:hexhyp} || goto unknown")


def test_each_machine_boots_the_installer_with_its_own_preseed():
    got = sections(ipxe.render(network(WEB, DB)))
    web = got["mac-52-54-00-aa-bb-02"]
    kernel = next(line for line in web if line.startswith("kernel "))
    assert kernel == ("kernel debian-installer/${installer}/linux initrd=initrd.gz auto=true "
                      "priority=critical url=http://10.0.0.2/web-9.cfg hostname=web-9 "
                      "domain=mammatus console=ttyS0,115200n8 || goto failed")
    assert "initrd debian-installer/${installer}/initrd.gz || goto failed" in web
    assert web[-1] == "boot || goto failed"
    assert "web-9.mammatus (52:54:00:aa:bb:02)" in web[0]
    # Without a preseed the installer asks: no unattended flags, no url.
    db = next(line for line in got["mac-52-54-00-aa-bb-03"] if line.startswith("kernel "))
    assert "url=" not in db and "auto=true" not in db and "hostname=db-9" in db


def test_paths_are_relative_so_the_script_works_from_wherever_it_was_fetched():
    text = ipxe.render(network(WEB))
    assert "tftp://" not in text and "http://10.0.0.2/web-9.cfg" in text
    for line in text.splitlines():
        if line.startswith(("kernel ", "initrd ")):
            assert not line.split()[1].startswith("/")


def test_no_machines_still_gives_a_script_that_exits():
    got = sections(ipxe.render(network()))
    assert set(got) == {"unknown", "failed"}
