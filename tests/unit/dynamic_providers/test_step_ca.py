import json

import dill
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dynamic_providers import step_ca as p
from tests.support.pki import make_pki

KEY = ec.generate_private_key(ec.SECP256R1())
KEY_PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()


def _b64d(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_token_is_an_es256_jwt_verifiable_with_the_public_key():
    token = p.build_token(KEY_PEM, "kid1", "mammatus", "https://ca:9000/1.0/sign", "svc",
                          ["svc", "10.0.0.9"], now=1000, jti="j")
    header, claims = p.decode_token(token)
    assert header == {"alg": "ES256", "kid": "kid1", "typ": "JWT"}
    assert claims == {"iss": "mammatus", "aud": "https://ca:9000/1.0/sign", "sub": "svc",
                      "iat": 1000, "nbf": 970, "exp": 1300, "jti": "j", "sans": ["svc", "10.0.0.9"]}
    signing_input, sig = token.rsplit(".", 1)
    raw = _b64d(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    KEY.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))


def test_token_refuses_other_keys():
    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    with pytest.raises(ValueError, match="P-256"):
        p.build_token(other, "k", "i", "a", "s")


def test_requests():
    assert p.sign_request("https://ca:9000/", "CSR", "T") == {
        "method": "POST", "url": "https://ca:9000/1.0/sign", "body": {"csr": "CSR", "ott": "T"}}
    revoke = p.revoke_request("https://ca:9000", "123", "T", "bye")
    assert revoke["url"].endswith("/1.0/revoke") and revoke["body"]["passive"] is True
    assert revoke["body"]["serial"] == "123"
    assert p.provisioners_request("https://ca:9000")["method"] == "GET"


def test_parse_sign_response_splits_leaf_and_chain():
    pki = make_pki()
    body = json.dumps({"crt": pki.intermediate_pem, "ca": pki.root_pem,
                       "certChain": [pki.intermediate_pem, pki.root_pem]})
    out = p.parse_sign_response(201, body)
    assert out["certificate_pem"] == pki.intermediate_pem and out["chain_pem"] == pki.root_pem
    assert out["serial"].isdigit() and len(out["fingerprint"]) == 64
    with pytest.raises(RuntimeError, match=r"sign failed \(401\): bad token"):
        p.parse_sign_response(401, json.dumps({"status": 401, "message": "bad token"}))
    with pytest.raises(RuntimeError, match="not json"):
        p.parse_provisioners(500, "not json")


def test_ca_json_upsert_and_remove_keep_other_provisioners():
    base = json.dumps({"root": "r", "authority": {"provisioners": [
        {"type": "ACME", "name": "acme"}, {"type": "JWK", "name": "ci", "key": {"kid": "old"}}]}})
    updated = json.loads(p.upsert_provisioner(base, {"type": "JWK", "name": "ci", "key": {"kid": "new"}}))
    assert updated["root"] == "r"
    assert updated["authority"]["provisioners"] == [
        {"type": "ACME", "name": "acme"}, {"type": "JWK", "name": "ci", "key": {"kid": "new"}}]
    added = json.loads(p.upsert_provisioner(base, {"type": "OIDC", "name": "sso"}))
    assert [x["name"] for x in added["authority"]["provisioners"]] == ["acme", "ci", "sso"]
    removed = json.loads(p.remove_provisioner(base, "jwk", "ci"))
    assert removed["authority"]["provisioners"] == [{"type": "ACME", "name": "acme"}]
    assert p.find_provisioner(updated["authority"]["provisioners"], "jwk", "ci")["key"]["kid"] == "new"


def test_reload_command_systemd_or_pid_file():
    assert p.reload_command(None, "mammatus-step-ca") == "systemctl kill -s HUP mammatus-step-ca || true"
    assert p.reload_command("/run/x.pid", None) == 'if [ -s /run/x.pid ]; then kill -HUP "$(cat /run/x.pid)"; fi'


def test_checks_allow_unknowns_in_previews_and_catch_bad_values():
    good = {"ca_url": "https://ca", "csr_pem": p.UNKNOWN, "provisioner": "m",
            "provisioner_key": p.UNKNOWN, "kid": "k", "root_pem": p.UNKNOWN}
    assert p.check_certificate(good)[1] == []
    bad = p.check_certificate({**good, "ca_url": "http://ca", "csr_pem": "nope"})[1]
    assert {f.property for f in bad} == {"ca_url", "csr_pem"}
    # Unknown (non-string) values pass; absent or empty ones do not.
    assert p.check_certificate({**good, "kid": None})[1] == []
    missing = {k: v for k, v in good.items() if k != "kid"}
    assert [f.property for f in p.check_certificate({**missing, "root_pem": ""})[1]] == ["kid", "root_pem"]
    inputs, failures = p.check_provisioner({"provisioner": {"type": "jwk", "name": "x"},
                                            "config_path": "/etc/ca.json"})
    assert failures == [] and (inputs["type"], inputs["name"]) == ("JWK", "x")
    assert p.check_provisioner({"provisioner": {"type": "BOGUS", "name": "x"},
                                "config_path": "rel"})[1]


def test_diff_replaces_only_on_immutable_fields():
    old = {"ca_url": "https://ca", "csr_pem": "A", "provisioner": "m", "kid": "k",
           "provisioner_key": "K1", "root_pem": "R", "certificate_pem": "C"}
    same = p.CertificateProvider().diff("c", old, {**old, "certificate_pem": None})
    assert same.changes is False
    rotate_root = p.CertificateProvider().diff("c", old, {**old, "root_pem": "R2"})
    assert rotate_root.changes is True and rotate_root.replaces == []
    new_csr = p.CertificateProvider().diff("c", old, {**old, "csr_pem": "B"})
    assert new_csr.replaces == ["csr_pem"]
    prov = {"type": "JWK", "name": "ci", "config_path": "/c", "base_digest": "1",
            "provisioner": {"claims": 1}, "connection": {"host": "a", "port": 22}}
    assert p.ProvisionerProvider().diff("p", prov, {**prov, "provisioner": {"claims": 2}}).replaces == []
    assert p.ProvisionerProvider().diff("p", prov, {**prov, "base_digest": "2"}).replaces == ["base_digest"]
    moved = p.ProvisionerProvider().diff("p", prov, {**prov, "connection": {"host": "b", "port": 22}})
    assert moved.replaces == ["connection"] and moved.delete_before_replace is True


def test_a_certificate_two_thirds_through_its_life_is_renewed_new_one_first():
    import calendar
    import time

    def stamp(t):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    start = calendar.timegm((2026, 11, 1, 0, 0, 0))
    old = {"ca_url": "https://ca", "csr_pem": "A", "provisioner": "m", "kid": "k",
           "provisioner_key": "K1", "root_pem": "R", "certificate_pem": "C",
           "not_before": stamp(start), "not_after": stamp(start + 30 * 86400)}
    assert not p.due_for_renewal(old, now=start + 19 * 86400)
    assert p.due_for_renewal(old, now=start + 21 * 86400)
    assert not p.due_for_renewal({"not_before": None}, now=start)  # not issued yet
    fresh = {**old, "not_before": stamp(time.time() - 60), "not_after": stamp(time.time() + 30 * 86400)}
    assert p.CertificateProvider().diff("c", fresh, {**fresh, "certificate_pem": None}).changes is False
    due = p.CertificateProvider().diff("c", old, {**old, "certificate_pem": None})  # now: long past
    assert due.replaces == ["not_after"] and due.delete_before_replace is False


def test_providers_survive_dill_and_read_rederives_certificate_facts():
    pki = make_pki()
    provider = dill.loads(dill.dumps(p.CertificateProvider()))
    props = {"ca_url": "https://ca", "csr_pem": "A", "certificate_pem": pki.root_pem,
             "serial": "1", "fingerprint": "tampered"}
    read = provider.read("1", props)
    assert read.outs["fingerprint"] != "tampered" and len(read.outs["fingerprint"]) == 64
    assert "certificate_pem" not in read.inputs
    assert provider.read("1", {"certificate_pem": None}).id is None
    assert isinstance(dill.loads(dill.dumps(p.ProvisionerProvider())), p.ProvisionerProvider)


def test_a_ca_that_is_starting_is_asked_again_with_a_fresh_token(monkeypatch):
    import http.client
    import ssl
    import urllib.error

    import pytest

    answers = [ConnectionRefusedError(111, "refused"),
               http.client.RemoteDisconnected("closed without response"), (201, "{}")]
    sent = []

    def fake_http(request, _root):
        sent.append(request["body"]["ott"])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(p, "http", fake_http)
    tokens = iter(["t1", "t2", "t3"])
    got = p.http_while_starting(lambda: {"body": {"ott": next(tokens)}}, "ROOT", sleep=lambda _: None)
    assert got == (201, "{}") and sent == ["t1", "t2", "t3"]   # a one-time token per attempt

    # A certificate the root does not verify is no CA still starting: no retry.
    bad = urllib.error.URLError(ssl.SSLCertVerificationError("unknown ca"))
    monkeypatch.setattr(p, "http", lambda *_: (_ for _ in ()).throw(bad))
    with pytest.raises(urllib.error.URLError):
        p.http_while_starting(lambda: {}, "ROOT", sleep=lambda _: None)
    # And patience ends, naming the last error.
    monkeypatch.setattr(p, "http", lambda *_: (_ for _ in ()).throw(ConnectionRefusedError("refused")))
    with pytest.raises(RuntimeError, match="did not answer within 0 s: refused"):
        p.http_while_starting(lambda: {}, "ROOT", patience=0, sleep=lambda _: None)
