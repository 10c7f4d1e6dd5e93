"""The Vault provider's pure parts: durations, the role's parameters and what a read compares,
the wrapped secret-id's parsing (Vault's wrap_info), and check."""

import pytest

from dynamic_providers import vault

WRAPPED = {"request_id": "", "lease_id": "", "renewable": False, "lease_duration": 0,
           "data": None, "warnings": None, "auth": None, "wrap_info": {
               "token": "hvs.CAES", "accessor": "wrapacc", "ttl": 3600,
               "creation_time": "2024-07-10T09:30:21.328855679Z",
               "creation_path": "auth/approle/role/web/secret-id",
               "wrapped_accessor": "84896a0c-1347-aa90-a4f6-aca8b7558780"}}


@pytest.mark.parametrize("text, expected", [("0", 0), ("90", 90), ("15m", 900), ("1h", 3600),
                                            ("7d", 604800), (3600, 3600)])
def test_durations_read_as_vault_reads_them(text, expected):
    assert vault.seconds(text) == expected


def test_role_parameters_require_a_secret_id_and_unlimited_token_uses():
    params = vault.role_params({"token_policies": ["web", "base"], "token_ttl": "1h",
                                "token_max_ttl": "24h", "secret_id_ttl": "0",
                                "secret_id_num_uses": 0})
    assert params == {"token_policies": ["base", "web"], "token_ttl": "1h",
                      "token_max_ttl": "24h", "secret_id_ttl": "0", "secret_id_num_uses": 0,
                      "bind_secret_id": True, "token_num_uses": 0}
    # Vault's read-role answer (seconds) and the parameters compare equal.
    read = {"token_policies": ["web", "base"], "token_ttl": 3600, "token_max_ttl": 86400,
            "secret_id_ttl": 0, "secret_id_num_uses": 0, "bind_secret_id": True,
            "token_num_uses": 0, "period": 0}
    assert vault.role_view(read) == vault.role_view(params)
    assert vault.role_view({**read, "token_ttl": 60}) != vault.role_view(params)


def test_a_wrapped_secret_id_gives_the_token_and_the_secret_ids_accessor():
    got = vault.parse_wrapped_secret_id(WRAPPED, "approle", "web")
    assert got == {"wrapping_token": "hvs.CAES", "wrapping_accessor": "wrapacc",
                   "secret_id_accessor": "84896a0c-1347-aa90-a4f6-aca8b7558780",
                   "wrap_expires": "2024-07-10T10:30:21Z"}


@pytest.mark.parametrize("change, message", [
    ({"creation_path": "sys/wrapping/wrap"}, "was made at 'sys/wrapping/wrap'"),
    ({"wrapped_accessor": ""}, "no wrapped_accessor"),
    ({"token": ""}, "did not wrap"),
])
def test_a_wrapped_secret_id_from_elsewhere_or_without_accessor_is_refused(change, message):
    answer = {**WRAPPED, "wrap_info": {**WRAPPED["wrap_info"], **change}}
    with pytest.raises(vault.VaultError, match=message):
        vault.parse_wrapped_secret_id(answer, "approle", "web")


def test_wrap_expiry_reads_offsets_and_nanoseconds():
    assert vault.wrap_expiry("2016-09-28T14:16:13.07103516-04:00", 300) == "2016-09-28T18:21:13Z"
    assert vault.wrap_expiry("2021-09-08T15:12:28+02:00", 120) == "2021-09-08T13:14:28Z"


def test_check_wants_https_and_a_token_and_ignores_unknowns():
    p = vault.PolicyProvider()
    bad = p.check({}, {"connection": {"address": "https://v:8200"}, "name": "web", "policy": ""})
    assert sorted(f.property for f in bad.failures) == ["connection", "policy"]
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"   # at preview, from another resource
    assert p.check({}, {"connection": unknown, "name": "web", "policy": "x"}).failures == []


def test_a_new_wrap_ttl_is_an_update_that_keeps_the_credentials():
    p = vault.SecretIdProvider()
    conn = {"address": "https://v:8200", "ca_pem": "", "token": "t"}
    olds = {"connection": conn, "mount": "approle", "role": "web", "instance": "web-1",
            "wrap_ttl": "1h", "role_id": "r", "wrapping_token": "w", "wrapping_accessor": "a",
            "secret_id_accessor": "s", "wrap_expires": "z"}
    news = {k: olds[k] for k in ("connection", "mount", "role", "instance")} | {"wrap_ttl": "2h"}
    plan = p.diff("s", olds, news)
    assert plan.changes and plan.replaces == []
    assert p.update("s", olds, news).outs["wrapping_token"] == "w"
    assert p.diff("s", olds, {**news, "role": "db"}).replaces == ["role"]
