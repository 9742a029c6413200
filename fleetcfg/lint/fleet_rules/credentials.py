"""Credential rules: secrets written in the repo rather than read with
``env()``/``file()`` (proxy URLs, client config auths)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from fleetcfg.core.rules import (
    CREDENTIALS,
)
from fleetcfg.core.urlcreds import mask_url_credentials
from fleetcfg.core.yamlsource import KeyPath
from fleetcfg.lint.fleet_rules.base import (
    Fleet,
    Hit,
    Target,
    client_rule,
    daemon_rule,
    from_lookup,
)

_CLIENT_PROXY_KEYS = ("httpProxy", "httpsProxy", "ftpProxy", "allProxy")
_AUTH_SECRET_KEYS = ("auth", "password", "identitytoken", "registrytoken")


def _password_in_url(url: str) -> str | None:
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        return parts.password or None
    except ValueError:
        return None


@daemon_rule("proxies", secrets=True)
def daemon_credentials(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC040: a proxy password written in the repo."""
    proxies = t.data.get("proxies")
    if not isinstance(proxies, dict):
        return
    for key in ("http-proxy", "https-proxy"):
        url = proxies.get(key)
        if not isinstance(url, str):
            continue
        password = _password_in_url(url)
        if password and not from_lookup(password, t.secrets):
            yield _credential_hit(f"proxies.{key}", ("proxies", key), password, url)


def _credential_hit(what: str, path: KeyPath, secret: str, shown: str | None = None) -> Hit:
    example = f" ({mask_url_credentials(shown)})" if shown else ""
    return Hit(
        CREDENTIALS,
        f"{what}{example} holds a password written in clear in the repo: anyone who can "
        'read the repo has it. Read it when rendering with env("NAME") or file("PATH") in '
        "the profile, and rotate it",
        path,
        value=secret,
    )


@client_rule("proxies", "auths", secrets=True)
def client_credentials(t: Target, fleet: Fleet) -> Iterator[Hit]:
    """FC040 for config.json: proxy passwords and registry auths in the repo."""
    proxies = t.data.get("proxies")
    if isinstance(proxies, dict):
        for name, cfg in proxies.items():
            if not isinstance(cfg, dict):
                continue
            for key in _CLIENT_PROXY_KEYS:
                url = cfg.get(key)
                password = _password_in_url(url) if isinstance(url, str) else None
                if password and not from_lookup(password, t.secrets):
                    yield _credential_hit(
                        f"proxies.{name}.{key}", ("proxies", name, key), password, url
                    )
    auths = t.data.get("auths")
    if isinstance(auths, dict):
        for registry, entry in auths.items():
            if not isinstance(entry, dict):
                continue
            for key in _AUTH_SECRET_KEYS:
                value = entry.get(key)
                if isinstance(value, str) and value and not from_lookup(value, t.secrets):
                    yield Hit(
                        CREDENTIALS,
                        f'auths."{registry}".{key} holds a registry credential written in clear '
                        'in the repo. Read it with file("PATH") or env("NAME") in the profile '
                        "(or leave auths to docker login / a credential helper), and rotate it",
                        ("auths", registry, key),
                        value=value,
                    )
