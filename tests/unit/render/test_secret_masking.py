"""Secrets are masked in every form they can be printed in (issue 10, item 3):
raw, URL-encoded, JSON-escaped, base64, transformed by a template, and the
previous value a host still holds where a secret is rendered."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from fleetcfg.core.secrets import mask_data, mask_text
from fleetcfg.core.urlcreds import MASK, mask_url_credentials
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.fakes.dockerhost import FakeDockerHost
from tests.leaks import assert_hidden, secret_forms
from tests.unit.inventory.repo import write_repo
from tests.unit.plan.helpers import plan_with

#: a generated password with every character that breaks naive masking
HOSTILE = "p@ss/w:rd+x=%2F\"'"
ROTATED = "kX9+Qw/7Zp3=="


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://svc:ab/cdef@proxy:3128", "http://svc:***@proxy:3128"),
        ("http://svc:pa,ss@proxy:3128", "http://svc:***@proxy:3128"),
        ('http://svc:p"w@proxy:3128', "http://svc:***@proxy:3128"),
        ('"http://svc:p\\"w@proxy:3128"', '"http://svc:***@proxy:3128"'),
        (f"http://svc:{HOSTILE}@proxy:3128", "http://svc:***@proxy:3128"),
        ("https://tok3n-only@host/x", "https://***@host/x"),
        ("http://proxy:3128 and mail@example.com", "http://proxy:3128 and mail@example.com"),
        ('{"a": "http://h:1","b": "x@y"}', '{"a": "http://h:1","b": "x@y"}'),
    ],
)
def test_url_userinfo_is_masked_up_to_the_last_at_before_the_host(url: str, masked: str) -> None:
    assert mask_url_credentials(url) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ('"svc:Hunt3r-pw@proxy.corp:3128"', '"svc:***@proxy.corp:3128"'),
        ("HTTPS_PROXY=svc:p@ss@proxy.corp:3128", "HTTPS_PROXY=svc:***@proxy.corp:3128"),
        ("'svc:pw@[fd00::1]:3128/'", "'svc:***@[fd00::1]:3128/'"),
        ("svc:pw@proxy", "svc:***@proxy"),
        # not a proxy's credentials: no password, an image digest, an address
        ('"svc@proxy:3128"', '"svc@proxy:3128"'),
        ('"busybox:1.36@sha256:0123abcd"', '"busybox:1.36@sha256:0123abcd"'),
        ("deploy@10.0.0.1:22: Permission denied", "deploy@10.0.0.1:22: Permission denied"),
    ],
)
def test_a_proxy_written_without_its_scheme_has_its_password_masked(text: str, masked: str) -> None:
    # Go reads a proxy setting without a scheme as http:// (user:pw@host:3128
    # is http://user:pw@host:3128), and so does fleetcfg's proxy check
    assert mask_url_credentials(text) == masked


def test_a_hostile_secret_is_masked_in_every_form() -> None:
    user_pass = base64.b64encode(f"svc:{HOSTILE}".encode()).decode()
    text = "\n".join([*secret_forms(HOSTILE), f"auth: {user_pass}"])
    masked = mask_text(text, [HOSTILE])
    assert_hidden(HOSTILE, masked)
    assert HOSTILE[3:] not in masked and user_pass not in masked
    assert mask_data({"k": [f"x={quote(HOSTILE, safe='')}"]}, [HOSTILE]) == {"k": [f"x={MASK}"]}


INVENTORY = """
secrets: {env: [PW]}
defaults: {daemon_profile: base}
hosts:
  web-01: {address: 10.0.0.1}
"""

TRANSFORMS = """
labels:
  - {{ ("a=" ~ env('PW')|lower)|to_json }}
  - {{ ("b=" ~ env('PW')|reverse)|to_json }}
  - {{ ("c=" ~ env('PW')|list|join('.'))|to_json }}
  - {{ ("d=" ~ env('PW')|upper|replace('S', 'Z'))|to_json }}
  - {{ ("e=" ~ env('PW')|urlencode)|to_json }}
proxies:
  http-proxy: "http://svc:{{ env('PW')|urlquote }}@proxy:3128"
"""


def test_whatever_a_template_derives_from_a_secret_is_masked(tmp_path: Path) -> None:
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": TRANSFORMS})
    renderer = Renderer(load_inventory(path), environ={"PW": HOSTILE})
    rendered = renderer.render("web-01")
    shown = rendered.canonical_json()
    for derived in (
        HOSTILE.lower(),
        HOSTILE[::-1],
        ".".join(HOSTILE),
        HOSTILE.upper().replace("S", "Z"),
    ):
        assert json.dumps(derived)[1:-1] not in shown and derived not in shown
    assert_hidden(HOSTILE, shown)
    assert '"http-proxy": "http://svc:***@proxy:3128"' in shown
    assert quote(HOSTILE, safe="") in rendered.canonical_json(show_secrets=True)


def test_secrets_derived_by_a_template_are_masked_in_its_error_messages(tmp_path: Path) -> None:
    profile = "labels: [\"{{ env('PW')|reverse }}\"]\nbroken: {{ (env('PW')|reverse)[1:] ~ 1/0 }}\n"
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": profile})
    renderer = Renderer(load_inventory(path), environ={"PW": "simple-secret-9"})
    with pytest.raises(Exception) as caught:
        renderer.render("web-01")
    assert "simple-secret-9"[::-1] not in str(caught.value)


@pytest.mark.parametrize("at", [175, 180, 184])
def test_a_secret_cut_by_the_quote_of_a_long_rendered_line_is_still_masked(
    tmp_path: Path, at: int
) -> None:
    # the error quotes at most 200 characters of the line: masked first, so
    # that the secret is not cut in two (a part the masking would not find)
    profile = 'labels: ["' + "x" * at + "{{ env('PW') }}" + "y" * 300 + '" oops]\n'
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": profile})
    renderer = Renderer(load_inventory(path), environ={"PW": "simple-secret-9"})
    with pytest.raises(Exception) as caught:
        renderer.render("web-01")
    message = str(caught.value)
    assert "rendered line 1: 'labels: [\"xxx" in message and "...'" in message
    for n in range(5, len("simple-secret-9") + 1):
        assert "simple-secret-9"[:n] not in message


def test_a_long_value_of_the_wrong_type_never_shows_a_part_of_its_secret(
    tmp_path: Path,
) -> None:
    # the message quoted the first 37 characters of a long string: a cut
    # secret, or a URL cut before its "@", that masking could not find
    secret = "Xq7vR2mK9pL4wN8sT1yB6cF3hJ5dG0zA"
    profile = (
        "registry-mirrors: \"https://svc:{{ env('PW') }}@mirror.corp\"\n"
        "labels: \"{{ env('PW') }}{{ env('PW') }}\"\n"
        "live-restore: \"{{ env('PW') }}-and-more-text\"\n"
    )
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": profile})
    renderer = Renderer(load_inventory(path), environ={"PW": secret})
    rendered = renderer.render("web-01")
    messages = [renderer.mask(f.message) for f in rendered.findings]
    assert [f.path for f in rendered.findings] == ["labels", "live-restore", "registry-mirrors"]
    for message in messages:
        for n in range(5, len(secret) + 1):
            assert secret[:n] not in message, message
    assert 'write ["https://svc:***@mirror.corp"]' in messages[2]


PROXY_PROFILE = """
proxies:
  http-proxy: "http://svc:{{ env('PW')|urlquote }}@proxy.corp:3128"
  no-proxy: "localhost"
labels: ["token={{ env('PW')|urlquote }}"]
"""


def test_the_previous_secret_on_the_host_is_masked_after_a_rotation(tmp_path: Path) -> None:
    old = quote(ROTATED, safe="")
    host = FakeDockerHost(
        "web-01",
        daemon_json={
            "proxies": {"http-proxy": f"http://svc:{old}@proxy.corp:3128", "no-proxy": "x"},
            "labels": [f"token={old}"],
        },
    )
    planned = plan_with(
        tmp_path,
        host,
        inventory=INVENTORY,
        profiles={"base.yaml.j2": PROXY_PROFILE},
        environ={"PW": HOSTILE},
    )
    dumped = planned.plan.model_dump_json()
    text = json.dumps(planned.plan.model_dump(mode="json"), indent=2)
    for output in (dumped, text):
        assert_hidden(ROTATED, output)
        assert_hidden(HOSTILE, output)
    assert "token=***" in dumped


def test_a_proxy_password_a_host_wrote_without_the_scheme_is_never_shown(
    tmp_path: Path,
) -> None:
    # dockerd takes "svc:pw@proxy:3128" for http://svc:pw@proxy:3128; the
    # profile no longer sets proxies, so the plan removes the host's own
    host = FakeDockerHost(
        "web-01",
        daemon_json={
            "proxies": {"http-proxy": f"svc:{quote(ROTATED, safe='')}@proxy.corp:3128"},
            "log-driver": "local",
        },
    )
    planned = plan_with(tmp_path, host, profiles={"base.json": '{"log-driver": "json-file"}'})
    daemon = planned.plan.files[0]
    assert '- proxies: {"http-proxy": "svc:***@proxy.corp:3128"}' in [
        c.display for c in daemon.changes
    ]
    assert_hidden(ROTATED, planned.plan.model_dump_json())
    # nor a plain sha256 a guess of the password could be checked against
    assert (daemon.live_sha256 or "").startswith("hmac-sha256:")


def test_masking_gives_the_same_for_short_values_remembered_and_long_text_not_kept() -> None:
    # a plan masks the same short values on every host: they are remembered
    # per secret set; a long text (a whole file, a diff) is masked as usual
    # and never kept in memory
    from fleetcfg.core import secrets as module

    value = f"http://svc:{HOSTILE}@proxy:3128"
    assert mask_text(value, {HOSTILE}) == mask_text(value, [HOSTILE]) == "http://svc:***@proxy:3128"
    assert mask_text(value, {"other"}) == "http://svc:***@proxy:3128"
    assert mask_text("json-file", {HOSTILE}) == "json-file"
    kept = module._mask_short_text.cache_info().currsize
    long_text = ("x" * 600) + f" {ROTATED} " + json.dumps({"http-proxy": value})
    masked = mask_text(long_text, {HOSTILE, ROTATED})
    assert HOSTILE not in masked and ROTATED not in masked
    assert masked.startswith("x" * 600 + " *** ")
    assert module._mask_short_text.cache_info().currsize == kept
