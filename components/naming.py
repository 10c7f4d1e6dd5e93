"""How the cloud names things in its DNS: the domain of a stack and a host's full name. Shared by
the layers and the renderers (the dnsmasq renderer answers these names)."""

from __future__ import annotations

DEFAULT_DOMAIN = "mammatus"  # a stack without mammatus:network still names its certificates


def domain_of(spec) -> str:
    return spec.network.domain if spec.network else DEFAULT_DOMAIN


def fqdn(name: str, domain: str) -> str:
    return name if name == domain or name.endswith("." + domain) or "." in name else f"{name}.{domain}"


def sns_signing_name(spec) -> str:
    """The name on SNS's signing certificate (with the cloud's CA): the Notifications layer
    issues it, subscribers such as the functions connector check it."""
    return fqdn(f"sns-{spec.placement.sns}", domain_of(spec))
