"""One HTTPS request from a dynamic provider to a daemon of the cloud (step-ca, InfluxDB,
Consul), trusting only the cloud's root when one is given: (status, body text), an HTTP error
answer included; connection failures raise for the caller to retry or report."""

from __future__ import annotations

from typing import Optional


def send(method: str, url: str, headers: dict[str, str], data: Optional[bytes],
         ca_pem: str = "", timeout: float = 30) -> tuple[int, str]:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, context=context, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
