"""render, plan and apply read only what the repo may read: declared
environment variables, files inside the repo, templates inside profiles/
(issue 10)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from fleetcfg.core.errors import SecretLookupError, TemplateError
from fleetcfg.inventory import load_inventory
from fleetcfg.render import Renderer
from fleetcfg.render.templates import make_environment, strip_marks
from tests.unit.inventory.repo import write_repo

INVENTORY = """
secrets: {env: [PROXY_PASSWORD]}
defaults: {daemon_profile: base}
hosts:
  web-01: {address: 10.0.0.1}
"""
OUTSIDE = "root:$6$outside-the-repo:20228"


def render(root: Path, profile: str, environ: dict[str, str] | None = None) -> str:
    path = write_repo(root, INVENTORY, {"base.yaml.j2": profile})
    rendered = Renderer(load_inventory(path), environ=environ or {}).render("web-01")
    return rendered.canonical_json(show_secrets=True)


def test_env_of_an_undeclared_variable_is_a_render_error_naming_the_fix(tmp_path: Path) -> None:
    profile = "labels: [\"k={{ env('HOME')|lower }}\"]\n"
    with pytest.raises(SecretLookupError) as caught:
        render(tmp_path, profile, {"HOME": "/root/Secret-Home"})
    error = caught.value
    assert error.line == 1 and error.host == "web-01"
    assert "secrets: {env: [HOME]}" in (error.hint or "")
    assert "secret-home" not in str(error).lower()


def test_env_of_a_declared_variable_is_read(tmp_path: Path) -> None:
    profile = "labels: [\"k={{ env('PROXY_PASSWORD') }}\"]\n"
    assert "k=pw-value" in render(tmp_path, profile, {"PROXY_PASSWORD": "pw-value"})


@pytest.mark.parametrize("name", ["../outside.txt", "~/outside.txt", "link/outside.txt"])
def test_file_outside_the_repo_is_a_render_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside.txt").write_text(OUTSIDE)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link").symlink_to(tmp_path)
    with pytest.raises(SecretLookupError) as caught:
        render(repo, f"labels: [\"k={{{{ file('{name}') }}}}\"]\n")
    assert OUTSIDE not in str(caught.value)


def test_file_inside_the_repo_through_a_symlink_that_stays_inside_is_read(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("in-repo-token\n")
    (tmp_path / "current").symlink_to(tmp_path / "secrets")
    assert "k=in-repo-token" in render(tmp_path, "labels: [\"k={{ file('current/token') }}\"]\n")


def test_an_include_symlinked_out_of_profiles_is_a_render_error(tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text(OUTSIDE)
    repo = tmp_path / "repo"
    write_repo(repo, INVENTORY, {"base.yaml.j2": "labels: [\"{% include 'x.txt' %}\"]\n"})
    (repo / "profiles" / "x.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(TemplateError) as caught:
        render(repo, "labels: [\"{% include 'x.txt' %}\"]\n")
    assert "outside profiles/" in caught.value.message and caught.value.line == 1
    assert OUTSIDE not in str(caught.value)


def test_an_include_from_a_subfolder_of_profiles_works(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_repo(repo, INVENTORY, {"parts/labels.j2": '"from-a-part"'})
    assert "from-a-part" in render(repo, "labels: [{% include 'parts/labels.j2' %}]\n")


def test_the_include_is_refused_at_render_time_too(tmp_path: Path) -> None:
    """A computed name is only known when rendering: the loader refuses it then."""
    (tmp_path / "outside.txt").write_text(OUTSIDE)
    repo = tmp_path / "repo"
    profile = "labels: [\"{% include ('x' ~ '.txt') %}\"]\n"
    write_repo(repo, INVENTORY, {"base.yaml.j2": profile})
    (repo / "profiles" / "x.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(TemplateError) as caught:
        render(repo, profile)
    assert "outside profiles/" in caught.value.message
    assert OUTSIDE not in str(caught.value)


HOSTILE = "p@ss/w:rd+x=%2F\"'?#[]!$&()*,;~ é"


def test_urlquote_encodes_every_reserved_character(tmp_path: Path) -> None:
    template = make_environment(tmp_path).from_string("{{ password|urlquote }}")
    quoted, _ = strip_marks(template.render(password=HOSTILE))
    assert unquote(quoted) == HOSTILE
    assert all(c.isalnum() or c in "%-._~" for c in quoted)
    url = f"http://svc:{quoted}@proxy.corp:3128"
    parts = urlsplit(url)
    assert parts.hostname == "proxy.corp" and parts.port == 3128
    assert unquote(parts.password or "") == HOSTILE


def test_the_shipped_example_builds_a_valid_proxy_url_from_any_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = Path(__file__).resolve().parents[3]
    inventory = load_inventory(repo / "inventory.yaml")
    rendered = Renderer(inventory, environ={"PROXY_PASSWORD": "kX9+Qw/7Zp3=="}).render("ci-01")
    url = rendered.to_json_dict()["proxies"]["http-proxy"]
    parts = urlsplit(url)
    assert parts.hostname == "proxy.corp.example.com" and parts.port == 3128
    assert unquote(parts.password or "") == "kX9+Qw/7Zp3=="
