"""Vault Agent's configuration (its JSON form) as a JSON Schema WRITTEN HERE FROM VAULT'S
DOCUMENTATION, not Vault's own: Vault cannot be built on this machine, so no real `vault agent`
parses the config. Each part names the page it follows (hashicorp/vault website/content/docs/):

- agent-and-proxy/agent/index.mdx: the top-level options, the `vault` stanza and its `retry`,
  the agent's listener options (require_request_header, role, agent_api);
- agent-and-proxy/autoauth/index.mdx: `auto_auth` with one `method` and a `sinks` array of
  `{"sink": …}` (its "Sinks (JSON format)"), the options common to methods and sinks;
- agent-and-proxy/autoauth/methods/approle.mdx: the approle method's config;
- agent-and-proxy/autoauth/sinks/file.mdx: the file sink's config (mode an integer);
- agent-and-proxy/agent/apiproxy.mdx: `api_proxy`;
- configuration/listener/tcp.mdx: a tcp listener's options (those listed below).

Strict where Mammatus writes (unknown keys are errors: a misspelt key is ignored by nothing
but a schema), loose for stanzas it does not use (template, cache, telemetry, exec).
`problems(config)` adds the documented rules a schema cannot say."""

from __future__ import annotations

from typing import Any

import jsonschema

DURATION = {"type": ["string", "integer"]}   # docs/concepts/duration-format
BOOLISH = {"type": ["boolean", "string"]}

APPROLE_CONFIG = {   # autoauth/methods/approle.mdx
    "type": "object",
    "properties": {
        "role_id_file_path": {"type": "string", "minLength": 1},
        "secret_id_file_path": {"type": "string"},
        "remove_secret_id_file_after_reading": {"type": "boolean"},
        "secret_id_response_wrapping_path": {"type": "string", "minLength": 1},
    },
    "required": ["role_id_file_path"],
    # "If set, the value at secret_id_file_path will be expected to be a Response-Wrapping Token"
    "dependentRequired": {"secret_id_response_wrapping_path": ["secret_id_file_path"]},
    "additionalProperties": False,
}

METHOD = {   # autoauth/index.mdx, "Configuration (Method)"
    "type": "object",
    "properties": {
        "type": {"type": "string", "minLength": 1},
        "mount_path": {"type": "string"},
        "namespace": {"type": "string"},
        "wrap_ttl": DURATION,
        "min_backoff": DURATION,
        "max_backoff": DURATION,
        "exit_on_err": {"type": "boolean"},
        "config": {"type": "object"},
    },
    "required": ["type", "config"],
    "additionalProperties": False,
    "if": {"properties": {"type": {"const": "approle"}}},
    "then": {"properties": {"config": APPROLE_CONFIG}},
}

FILE_SINK_CONFIG = {   # autoauth/sinks/file.mdx
    "type": "object",
    "properties": {
        "path": {"type": "string", "minLength": 1},
        "mode": {"type": "integer", "minimum": 0, "maximum": 0o7777},
        "owner": {"type": "integer"},
        "group": {"type": "integer"},
    },
    "required": ["path"],
    "additionalProperties": False,
}

SINK = {   # autoauth/index.mdx, "Configuration (Sinks)"
    "type": "object",
    "properties": {
        "type": {"type": "string", "minLength": 1},
        "wrap_ttl": DURATION,
        "dh_type": {"enum": ["curve25519"]},
        "dh_path": {"type": "string"},
        "derive_key": {"type": "boolean"},
        "aad": {"type": "string"},
        "aad_env_var": {"type": "string"},
        "config": {"type": "object"},
    },
    "required": ["type", "config"],
    # "dh_path (string: required if dh_type is set)"
    "dependentRequired": {"dh_type": ["dh_path"], "dh_path": ["dh_type"]},
    "additionalProperties": False,
    "if": {"properties": {"type": {"const": "file"}}},
    "then": {"properties": {"config": FILE_SINK_CONFIG}},
}

AUTO_AUTH = {
    "type": "object",
    "properties": {
        # JSON form: "method" : [ {…} ]; one method only ("method (object: required)").
        "method": {"type": "array", "items": METHOD, "minItems": 1, "maxItems": 1},
        "sinks": {"type": "array", "items": {
            "type": "object", "properties": {"sink": SINK}, "required": ["sink"],
            "additionalProperties": False}},
    },
    "required": ["method"],
    "additionalProperties": False,
}

VAULT = {   # agent/index.mdx, "vault stanza" and "retry stanza"
    "type": "object",
    "properties": {
        "address": {"type": "string", "pattern": "^https?://"},
        "ca_cert": {"type": "string"},
        "ca_path": {"type": "string"},
        "client_cert": {"type": "string"},
        "client_key": {"type": "string"},
        "tls_skip_verify": BOOLISH,
        "tls_server_name": {"type": "string"},
        "namespace": {"type": "string"},
        "retry": {"type": "object", "properties": {"num_retries": {"type": "integer",
                                                                    "minimum": -1}},
                  "additionalProperties": False},
    },
    "additionalProperties": False,
}

LISTENER = {   # configuration/listener/tcp.mdx (a subset) and agent/index.mdx "listener stanza"
    "type": "object",
    "properties": {
        "type": {"enum": ["tcp", "unix"]},
        "address": {"type": "string"},
        "tls_disable": BOOLISH,
        "tls_cert_file": {"type": "string"},
        "tls_key_file": {"type": "string"},
        "tls_min_version": {"enum": ["tls10", "tls11", "tls12", "tls13"]},
        "tls_client_ca_file": {"type": "string"},
        "tls_require_and_verify_client_cert": BOOLISH,
        "max_request_size": {"type": "integer"},
        "max_request_duration": DURATION,
        "http_idle_timeout": DURATION,
        "http_read_timeout": DURATION,
        "http_write_timeout": DURATION,
        "require_request_header": {"type": "boolean"},
        "role": {"enum": ["default", "metrics_only"]},
        "agent_api": {"type": "object", "properties": {"enable_quit": {"type": "boolean"}},
                      "additionalProperties": False},
    },
    "required": ["type"],
    "additionalProperties": False,
}

API_PROXY = {   # agent/apiproxy.mdx
    "type": "object",
    "properties": {
        "use_auto_auth_token": {"anyOf": [{"type": "boolean"}, {"const": "force"}]},
        "enforce_consistency": {"enum": ["always", "never"]},
        "when_inconsistent": {"enum": ["fail", "retry", "forward"]},
    },
    "additionalProperties": False,
}

AGENT = {   # agent/index.mdx, "Configuration file options"
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "vault": VAULT,
        "auto_auth": AUTO_AUTH,
        "api_proxy": API_PROXY,
        "cache": {"type": "object"},
        "listener": {"type": "array", "items": LISTENER},
        "pid_file": {"type": "string"},
        "exit_after_auth": {"type": "boolean"},
        "disable_idle_connections": {"type": "array", "items": {
            "enum": ["auto-auth", "caching", "proxying", "templating"]}},
        "disable_keep_alives": {"type": "array", "items": {
            "enum": ["auto-auth", "caching", "proxying", "templating"]}},
        "template": {"type": "array"},
        "template_config": {"type": "object"},
        "exec": {"type": "object"},
        "env_template": {"type": ["array", "object"]},
        "telemetry": {"type": "object"},
        "log_level": {"enum": ["trace", "debug", "info", "warn", "error"]},
        "log_format": {"enum": ["standard", "json"]},
        "log_file": {"type": "string"},
        "log_rotate_duration": DURATION,
        "log_rotate_bytes": {"type": "integer"},
        "log_rotate_max_files": {"type": "integer"},
    },
    "additionalProperties": False,
}


def validate(config: dict) -> None:
    """Raises jsonschema.ValidationError for a config the documented schema refuses."""
    jsonschema.Draft202012Validator(AGENT).validate(config)


def problems(config: dict) -> list[str]:
    """The documented rules beyond the schema."""
    found = []
    auto_auth = config.get("auto_auth")
    if auto_auth:
        api_proxy = config.get("api_proxy") or {}
        # autoauth: a token goes somewhere (a sink, a template, or the API proxy).
        if not auto_auth.get("sinks") and not config.get("template") and \
                not api_proxy.get("use_auto_auth_token"):
            found.append("auto_auth needs a sink, a template or api_proxy.use_auto_auth_token")
        method = auto_auth["method"][0]
        # autoauth/index.mdx: a method that wraps its token cannot be renewed by the agent, and
        # AppRole auto-auth needs tokens of unlimited uses; wrapping both ways is refused.
        if method.get("wrap_ttl") and any(s["sink"].get("wrap_ttl")
                                          for s in auto_auth.get("sinks", [])):
            found.append("wrap_ttl on both the method and a sink")
    if config.get("api_proxy") and not config.get("listener"):
        # agent/apiproxy.mdx: the API proxy is served by the agent's listeners.
        found.append("api_proxy needs a listener")
    return found


def error_type() -> Any:
    return jsonschema.ValidationError
