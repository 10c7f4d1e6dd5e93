"""Smoke test of benchmarks/dev_up.py's phase accounting (the benchmark itself needs a whole up)."""

import json

from benchmarks.dev_up import critical_path, phase_of, phases, slowest

BOX = "urn:pulumi:dev::mammatus::mammatus:index:Cloud$mammatus:dev:DevBoxPlane$netplane:Ns::dev-box-ns"
DELIVERY = ("urn:pulumi:dev::mammatus::mammatus:index:Cloud$mammatus:delivery:Delivery$"
            "pulumi-python:dynamic/mammatus:Artifact::dev-delivery-control-step-ca")
LAYER = "urn:pulumi:dev::mammatus::mammatus:index:Cloud$mammatus:pki:CertificateAuthority$x::dev-ca-x"


def test_phase_of_follows_the_component_chain():
    assert [phase_of(u) for u in (BOX, DELIVERY, LAYER)] == ["hosts", "delivery", "layers"]


def test_phases_span_first_to_last_step(tmp_path):
    events = [(BOX, 10.0, "resourcePreEvent"), (BOX, 14.0, "resOutputsEvent"),
              (DELIVERY, 12.0, "resourcePreEvent"), (DELIVERY, 13.5, "resOutputsEvent"),
              (LAYER, 14.0, "resourcePreEvent"), (LAYER, 20.0, "resOutputsEvent")]
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps({"timestamp": t, kind: {"metadata": {"urn": u, "op": "create"}}})
                             for u, t, kind in events) + "\n" + json.dumps({"timestamp": 30}) + "\n")
    assert phases(log) == {"hosts": 4.0, "delivery": 1.5, "layers": 6.0}
    assert slowest(log, 2) == [("dev-ca-x", 6.0), ("dev-box-ns", 4.0)]


def test_slowest_leaves_components_out(tmp_path):
    component = "urn:pulumi:dev::mammatus::mammatus:index:Cloud$mammatus:pki:CertificateAuthority::dev-ca"
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps({"timestamp": t, kind: {"metadata": {"urn": u, "op": "create"}}})
                             for u, t, kind in [(component, 1.0, "resourcePreEvent"),
                                                (LAYER, 2.0, "resourcePreEvent"),
                                                (LAYER, 3.0, "resOutputsEvent"),
                                                (component, 9.0, "resOutputsEvent")]) + "\n")
    assert slowest(log) == [("dev-ca-x", 1.0)]


def test_critical_path_follows_the_dependency_that_ended_last(tmp_path):
    base = "urn:pulumi:dev::mammatus::mammatus:index:Cloud$"
    host, debs, bundle, venv, late = (f"{base}dev:DevHost::{n}" for n in
                                      ("host", "debs", "bundle", "venv", "late"))
    layer = f"{base}mammatus:x:Layer::layer"
    daemon = f"{base}mammatus:x:Layer$HostService::daemon"
    events = [(host, 0, 10), (debs, 10, 20), (bundle, 10, 12), (venv, 20, 30), (late, 1, 2),
              (daemon, 31, 40)]
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps({"timestamp": t, kind: {"metadata": {"urn": u, "op": "create"}}})
                             for u, a, b in events
                             for t, kind in ((a, "resourcePreEvent"), (b, "resOutputsEvent"))) + "\n")
    delivery = f"{base}mammatus:delivery:Delivery::delivery"    # a component as a dependency
    resources = [{"urn": host, "custom": True}, {"urn": delivery, "custom": False},
                 {"urn": debs, "custom": True, "parent": delivery, "dependencies": [host]},
                 {"urn": bundle, "custom": True, "dependencies": [host]},
                 {"urn": venv, "custom": True, "dependencies": [bundle, delivery]},
                 {"urn": late, "custom": True},
                 {"urn": layer, "custom": False},
                 {"urn": daemon, "custom": True, "parent": layer, "dependencies": [venv, late]}]
    assert [name for name, *_ in critical_path(log, resources)] == ["host", "debs", "venv", "daemon"]
    assert critical_path(log, resources)[-1] == ("daemon", 31.0, 40.0)


def test_a_components_dependencies_hold_for_its_children(tmp_path):
    base = "urn:pulumi:dev::mammatus::mammatus:index:Cloud$"
    venv, file = f"{base}mammatus:Runtime::venv", f"{base}mammatus:HostFile$Write::hook-write"
    hook = f"{base}mammatus:HostFile::hook"
    log = tmp_path / "events.jsonl"
    log.write_text("\n".join(json.dumps({"timestamp": t, kind: {"metadata": {"urn": u, "op": "create"}}})
                             for u, t, kind in [(venv, 0, "resourcePreEvent"), (venv, 8, "resOutputsEvent"),
                                                (file, 8, "resourcePreEvent"), (file, 9, "resOutputsEvent")]))
    resources = [{"urn": venv, "custom": True}, {"urn": hook, "custom": False, "dependencies": [venv]},
                 {"urn": file, "custom": True, "parent": hook}]
    assert [name for name, *_ in critical_path(log, resources)] == ["venv", "hook-write"]
