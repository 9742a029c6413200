"""env() and file() lookups; secrets masked in every output and error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcfg.core.errors import SecretLookupError, TemplateError
from fleetcfg.core.secrets import holds_credentials, mask_data, mask_text
from fleetcfg.core.urlcreds import MASK, mask_url_credentials
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from tests.unit.inventory.repo import write_repo

INVENTORY = """
secrets: {env: [PROXY_PASSWORD, TOKEN, PW, NOPE]}
defaults:
  daemon_profile: base
  vars: {proxy_user: svc, proxy_host: "proxy.corp:3128"}
hosts:
  web-01: {address: 10.0.0.1}
"""

PROXY = """
proxies:
  http-proxy: "http://{{ proxy_user }}:{{ env('PROXY_PASSWORD') }}@{{ proxy_host }}"
  no-proxy: localhost
"""


def renderer(tmp_path: Path, profile: str, environ: dict[str, str] | None = None) -> Renderer:
    path = write_repo(tmp_path, INVENTORY, {"base.yaml.j2": profile})
    return Renderer(load_inventory(path), environ=environ or {})


def test_env_supplies_the_value_and_output_masks_it(tmp_path: Path) -> None:
    rendered = renderer(tmp_path, PROXY, {"PROXY_PASSWORD": "s3cr3t-pw"}).render("web-01")
    assert (
        rendered.to_json_dict()["proxies"]["http-proxy"] == "http://svc:s3cr3t-pw@proxy.corp:3128"
    )
    masked = rendered.canonical_json()
    assert "s3cr3t-pw" not in masked
    assert "http://svc:***@proxy.corp:3128" in masked
    assert "s3cr3t-pw" in rendered.canonical_json(show_secrets=True)
    assert rendered.secrets == frozenset({"s3cr3t-pw"})


def test_a_secret_is_masked_wherever_it_appears_not_only_in_urls(tmp_path: Path) -> None:
    profile = "labels: [\"token={{ env('TOKEN') }}\"]\n"
    rendered = renderer(tmp_path, profile, {"TOKEN": "abcdef123"}).render("web-01")
    assert '"token=***"' in rendered.canonical_json()


def test_a_missing_env_variable_names_host_template_and_line(tmp_path: Path) -> None:
    with pytest.raises(SecretLookupError) as caught:
        renderer(tmp_path, "debug: true\n" + PROXY.lstrip()).render("web-01")
    error = caught.value
    assert "PROXY_PASSWORD is not set" in error.message
    assert error.host == "web-01"
    assert error.file == str(tmp_path / "profiles" / "base.yaml.j2")
    assert error.line == 3
    assert "export PROXY_PASSWORD" in (error.hint or "")


def test_env_with_a_default_uses_it_when_unset(tmp_path: Path) -> None:
    profile = PROXY.replace("env('PROXY_PASSWORD')", "env('PROXY_PASSWORD', 'placeholder')")
    rendered = renderer(tmp_path, profile).render("web-01")
    assert rendered.to_json_dict()["proxies"]["http-proxy"].startswith("http://svc:placeholder@")
    assert "placeholder" not in rendered.canonical_json()


def test_file_reads_relative_to_the_inventory_folder_without_trailing_newline(
    tmp_path: Path,
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "proxy").write_text("from-a-file\n")
    profile = PROXY.replace("env('PROXY_PASSWORD')", "file('secrets/proxy')")
    rendered = renderer(tmp_path, profile).render("web-01")
    assert (
        rendered.to_json_dict()["proxies"]["http-proxy"] == "http://svc:from-a-file@proxy.corp:3128"
    )
    assert "from-a-file" not in rendered.canonical_json()


def test_file_refuses_absolute_paths_outside_the_repo(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("abs-secret")
    profile = f"labels: [\"k={{{{ file('{secret}') }}}}\"]\n"
    with pytest.raises(SecretLookupError) as caught:
        renderer(tmp_path / "repo", profile).render("web-01")
    assert "must be relative to the repo" in caught.value.message
    assert "abs-secret" not in str(caught.value)


def test_a_missing_file_names_host_template_and_line(tmp_path: Path) -> None:
    profile = PROXY.replace("env('PROXY_PASSWORD')", "file('secrets/nope')")
    with pytest.raises(SecretLookupError) as caught:
        renderer(tmp_path, profile).render("web-01")
    assert "secret file secrets/nope not found" in caught.value.message
    assert (caught.value.host, caught.value.line) == ("web-01", 2)


def test_secrets_are_masked_in_error_messages(tmp_path: Path) -> None:
    # the rendered line quoted in the error holds the secret
    profile = "proxies: {http-proxy: \"{{ env('PW') }}\", \n  bad\n"
    with pytest.raises(TemplateError) as caught:
        renderer(tmp_path, profile, {"PW": "hunter2-secret"}).render("web-01")
    assert "hunter2-secret" not in str(caught.value)


def test_url_credentials_from_inventory_variables_are_masked_too(tmp_path: Path) -> None:
    profile = 'proxies: {http-proxy: "http://admin:plain-in-repo@proxy:3128"}\n'
    rendered = renderer(tmp_path, profile).render("web-01")
    assert "plain-in-repo" not in rendered.canonical_json()
    assert "http://admin:***@proxy:3128" in rendered.canonical_json()


def test_the_renderer_remembers_every_secret_for_later_output(tmp_path: Path) -> None:
    r = renderer(tmp_path, PROXY, {"PROXY_PASSWORD": "s3cr3t-pw"})
    r.render("web-01")
    assert r.mask("log line with s3cr3t-pw in it") == f"log line with {MASK} in it"


def test_masking_helpers() -> None:
    assert mask_url_credentials("https://u:p%40ss@h:1/x and ftp://a:b@c") == (
        "https://u:***@h:1/x and ftp://a:***@c"
    )
    assert mask_url_credentials("http://proxy:3128") == "http://proxy:3128"
    assert mask_text('{"pw": "a\\"quote"}', ['a"quote']) == '{"pw": "***"}'
    # short secrets are masked as whole words only, never inside other words
    assert mask_text("pin 42 in 4242", ["42"]) == "pin *** in 4242"
    assert mask_data({"k": ["x-secret-value-x", 3]}, ["secret-value"]) == {"k": ["x-***-x", 3]}


def test_env_takes_its_default_by_keyword_too(tmp_path: Path) -> None:
    profile = "labels: [\"x={{ env('NOPE', default='fallback-value') }}\"]\n"
    rendered = renderer(tmp_path, profile).render("web-01")
    assert rendered.to_json_dict()["labels"] == ["x=fallback-value"]


def test_a_url_password_or_a_lookup_value_counts_as_a_credential() -> None:
    assert holds_credentials('{"http-proxy": "http://svc:pw@proxy:3128"}', ())
    assert holds_credentials('{"labels": ["token=tok-7f3a"]}', {"tok-7f3a"})
    assert not holds_credentials('{"http-proxy": "http://proxy:3128"}', {"unused"})
    assert not holds_credentials('{"debug": true}', ())
