from components.context import CloudContext
from components.runtime import Delivered, PythonRuntime, delivered, python_daemon, python_runtime
from tests.support.netlab import stack_spec


def ctx():
    return CloudContext(stack_spec("home"), "KEY", "ssh-ed25519 AAAA")


def test_what_delivery_placed_is_what_a_layer_runs():
    c = ctx()
    access = c.access("control")
    c.binaries[("control", "nats-server")] = Delivered("/opt/mammatus/bin/nats-server", "ab" * 32)
    assert delivered(c, access, "nats-server").sha256 == "ab" * 32
    # Without a Delivery layer (a layer built alone): the path it would have, no digest.
    assert delivered(c, access, "consul") == Delivered("/opt/mammatus/bin/consul", "")


def test_a_python_service_runs_from_its_hosts_venv_with_the_bundles_source():
    c = ctx()
    access = c.access("control")
    c.runtimes["control"] = PythonRuntime("/r/venv/bin/python", "/r/src", "cd" * 32)
    daemon, deps = python_daemon(c, access, "sqs", "services.sqs", ["--listen", "x"], "SQS",
                                 user="mammatus-sqs")
    assert daemon.command == ["/r/venv/bin/python", "-m", "services.sqs", "--listen", "x"]
    assert daemon.environment["PYTHONPATH"] == "/r/src" and daemon.user == "mammatus-sqs"
    assert deps == []
    assert python_runtime(c, c.access("gateway")).python.endswith("/current/venv/bin/python")
