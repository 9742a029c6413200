"""Surface files from ``registries:``: certs.d files, the daemon.json entries
registries add, and the checks of their certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetcfg.core.findings import Severity
from fleetcfg.inventory import load_inventory
from fleetcfg.lint.lookups import StandInLookups
from fleetcfg.lint.repo import lint_repo
from fleetcfg.render import Renderer
from fleetcfg.render.surface import (
    ApplyAction,
    combined_action,
    mirror_hosts,
    registry_entries,
    render_surface,
)
from tests.pki import make_ca, make_cert
from tests.unit.inventory.repo import line_of, write_repo

CA = make_ca("Corp Root CA")
CLIENT = make_cert("ci-01", ca=False, issuer=CA)

INVENTORY = """
defaults:
  daemon_profile: base
  registries:
    registry.corp.example.com:
      port: 5000
      ca_file: certs/corp-ca.pem
    mirror:
      host: mirror.corp.example.com
      ca_file: certs/corp-ca.pem
      mirror_of: docker.io
groups:
  ci:
    registries:
      registry.corp.example.com:
        client_cert_file: certs/client.cert
        client_key_file: certs/client.key
    hosts:
      ci-01: {address: 10.0.0.1}
  airgap:
    registries:
      mirror: null
      lab: {host: 10.9.0.5, port: 5000, insecure: true, mirror_of: docker.io}
    hosts:
      airgap-01: {address: 10.0.0.2, registries: {registry.corp.example.com: {port: 5443}}}
"""
PROFILES = {"base.yaml.j2": "registry-mirrors: [https://hub-cache.example.com]\n"}


def _repo(tmp_path: Path, inventory: str = INVENTORY, **files: str) -> Path:
    path = write_repo(tmp_path, inventory, PROFILES)
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    defaults = {
        "corp-ca.pem": CA.cert_pem,
        "client.cert": CLIENT.cert_pem,
        "client.key": CLIENT.key_pem,
    }
    for name, text in (defaults | files).items():
        (certs / name).write_text(text)
    return path


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    return Renderer(load_inventory(_repo(tmp_path)))


def test_registries_merge_by_name_and_field_and_null_removes_one(renderer: Renderer) -> None:
    ci = {e.name: e for e in registry_entries(renderer.inventory.host("ci-01"))}
    airgap = {e.name: e for e in registry_entries(renderer.inventory.host("airgap-01"))}
    assert sorted(ci) == ["mirror", "registry.corp.example.com"]
    assert ci["registry.corp.example.com"].address == "registry.corp.example.com:5000"
    assert ci["registry.corp.example.com"].fields["client_key_file"] == "certs/client.key"
    assert sorted(airgap) == ["lab", "registry.corp.example.com"]
    assert airgap["registry.corp.example.com"].address == "registry.corp.example.com:5443"
    assert "client_key_file" not in airgap["registry.corp.example.com"].fields


def test_certs_d_files_are_named_by_host_and_port_with_modes(renderer: Renderer) -> None:
    result = render_surface(renderer, renderer.inventory.host("ci-01"))
    assert not result.findings
    by_path = {f.path: f for f in result.files}
    folder = "/etc/docker/certs.d/registry.corp.example.com:5000"
    assert sorted(by_path) == [
        "/etc/docker/certs.d/mirror.corp.example.com/ca.crt",
        f"{folder}/ca.crt",
        f"{folder}/client.cert",
        f"{folder}/client.key",
    ]
    ca = by_path[f"{folder}/ca.crt"]
    assert (ca.kind, ca.mode, ca.secret, ca.owned_dir) == ("certs.d", 0o644, False, folder)
    assert ca.content == CA.cert_pem.encode()
    assert ca.action is ApplyAction.NONE
    key = by_path[f"{folder}/client.key"]
    assert (key.mode, key.secret) == (0o600, True)
    assert CLIENT.key_pem.strip() not in key.display_text()
    assert result.owned_dirs == ("/etc/docker/certs.d/mirror.corp.example.com", folder)


def test_the_client_key_is_masked_in_renderer_output(renderer: Renderer) -> None:
    render_surface(renderer, renderer.inventory.host("ci-01"))
    line = CLIENT.key_pem.strip().splitlines()[1]
    assert line not in renderer.mask(f"oops {CLIENT.key_pem}")


def test_certs_d_file_source_is_the_inventory_line(tmp_path: Path) -> None:
    path = _repo(tmp_path)
    renderer = Renderer(load_inventory(path))
    result = render_surface(renderer, renderer.inventory.host("ci-01"))
    key = next(f for f in result.files if f.path.endswith("client.key"))
    assert key.source is not None and key.source.line == line_of(path, "client_key_file")


def test_registries_add_mirrors_and_insecure_entries_after_the_profiles(
    renderer: Renderer,
) -> None:
    ci = renderer.render("ci-01")
    assert ci.data["registry-mirrors"] == [
        "https://hub-cache.example.com",
        "https://mirror.corp.example.com",
    ]
    assert "insecure-registries" not in ci.data
    airgap = renderer.render("airgap-01")
    assert airgap.data["registry-mirrors"] == [
        "https://hub-cache.example.com",
        "http://10.9.0.5:5000",
    ]
    assert airgap.data["insecure-registries"] == ["10.9.0.5:5000"]
    assert not airgap.findings


def test_a_mirror_the_profile_already_lists_is_not_added_twice(tmp_path: Path) -> None:
    inventory = INVENTORY.replace("https://hub-cache", "x")
    path = _repo(tmp_path, inventory)
    (tmp_path / "profiles" / "base.yaml.j2").write_text(
        "registry-mirrors: [https://mirror.corp.example.com/]\n"
    )
    rendered = Renderer(load_inventory(path)).render("ci-01")
    assert rendered.data["registry-mirrors"] == ["https://mirror.corp.example.com/"]


def test_a_registry_with_a_ca_in_the_profiles_insecure_list_is_a_finding(
    tmp_path: Path,
) -> None:
    path = _repo(tmp_path)
    (tmp_path / "profiles" / "base.yaml.j2").write_text(
        "insecure-registries: [registry.corp.example.com:5000]\n"
    )
    rendered = Renderer(load_inventory(path)).render("ci-01")
    found = [f for f in rendered.findings if f.rule == "FC076"]
    assert len(found) == 1
    assert "use the CA, drop insecure" in found[0].message
    assert found[0].line == line_of(path, "ca_file")
    assert found[0].severity is Severity.WARNING


def test_an_insecure_registry_with_a_ca_is_a_finding_at_insecure(tmp_path: Path) -> None:
    inventory = INVENTORY.replace(
        "      mirror_of: docker.io\ngroups",
        "      mirror_of: docker.io\n      insecure: true\ngroups",
    )
    path = _repo(tmp_path, inventory)
    rendered = Renderer(load_inventory(path)).render("ci-01")
    found = [f for f in rendered.findings if f.rule == "FC076"]
    assert [f.line for f in found] == [line_of(path, "insecure: true")]
    assert rendered.data["insecure-registries"] == ["mirror.corp.example.com"]


def _findings(tmp_path: Path, host: str = "ci-01", **files: str) -> list[tuple[str, str]]:
    renderer = Renderer(load_inventory(_repo(tmp_path, **files)))
    result = render_surface(renderer, renderer.inventory.host(host))
    return [(f.rule, f.message) for f in result.findings]


def test_a_ca_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    found = _findings(tmp_path, **{"corp-ca.pem": "not a certificate\n"})
    assert {rule for rule, _ in found} == {"FC070"}
    assert any("not a PEM certificate" in m for _, m in found)


def test_a_server_certificate_given_as_ca_is_refused(tmp_path: Path) -> None:
    leaf = make_cert("registry.corp.example.com", ca=False, issuer=CA)
    found = _findings(tmp_path, **{"corp-ca.pem": leaf.cert_pem})
    assert ("FC070" in {r for r, _ in found}) and any("not a CA certificate" in m for _, m in found)


def test_a_certificate_without_basic_constraints_is_not_a_ca(tmp_path: Path) -> None:
    bare = make_cert("Old Root", ca=True, basic_constraints=False)
    found = _findings(tmp_path, **{"corp-ca.pem": bare.cert_pem})
    assert any(r == "FC070" and "not a CA certificate" in m for r, m in found)


def test_an_expired_ca_is_an_error_and_one_expiring_soon_a_warning(tmp_path: Path) -> None:
    old = make_ca("Old CA", not_before=datetime.now(UTC) - timedelta(days=400), days=365)
    assert [r for r, _ in _findings(tmp_path / "a", **{"corp-ca.pem": old.cert_pem})] == [
        "FC071",
        "FC071",
    ]
    soon = make_ca("Soon CA", days=11)
    found = _findings(tmp_path / "b", **{"corp-ca.pem": soon.cert_pem})
    assert [r for r, _ in found] == ["FC072", "FC072"]
    assert "in 9 days" in found[0][1] or "in 10 days" in found[0][1]


def test_a_client_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    other = make_cert("other", ca=False, issuer=CA)
    found = _findings(tmp_path, **{"client.key": other.key_pem})
    assert found == [
        (
            "FC073",
            "registry 'registry.corp.example.com' (registry.corp.example.com:5000): "
            "the client key does not match the client certificate",
        )
    ]


def test_lint_checks_the_certificates_but_never_reads_the_key(tmp_path: Path) -> None:
    path = _repo(tmp_path, **{"client.key": "garbage"})
    inventory = load_inventory(path)
    renderer = Renderer(inventory)
    renderer.lookups = StandInLookups(inventory.root, inventory.secret_env)
    result = render_surface(renderer, inventory.host("ci-01"))
    assert not result.findings
    key = next(f for f in result.files if f.path.endswith("client.key"))
    assert b"garbage" not in key.content


def test_a_ca_file_outside_the_repo_is_refused_at_its_line(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pem"
    outside.write_text(CA.cert_pem)
    inventory = INVENTORY.replace(
        "      port: 5000\n      ca_file: certs/corp-ca.pem",
        "      port: 5000\n      ca_file: ../outside.pem",
    )
    path = _repo(tmp_path / "repo", inventory)
    renderer = Renderer(load_inventory(path))
    result = render_surface(renderer, renderer.inventory.host("ci-01"))
    assert [(f.rule, f.line) for f in result.findings] == [
        ("FC077", line_of(path, "../outside.pem"))
    ]
    assert "leads outside the repo" in result.findings[0].message
    assert all("registry.corp.example.com:5000" not in f.path for f in result.files)


def _with_mirror_lines(tmp_path: Path, extra: str) -> list[tuple[str, str]]:
    inventory = INVENTORY.replace(
        "      mirror_of: docker.io\ngroups", f"      mirror_of: docker.io\n{extra}groups"
    )
    renderer = Renderer(load_inventory(_repo(tmp_path, inventory)))
    result = render_surface(renderer, renderer.inventory.host("ci-01"))
    return [(f.rule, f.message) for f in result.findings]


def test_ca_and_ca_file_together_are_refused(tmp_path: Path) -> None:
    found = _with_mirror_lines(tmp_path, "      ca: inline\n")
    assert [r for r, _ in found] == ["FC077"]
    assert "give ca or ca_file, not both" in found[0][1]


def test_two_registries_at_one_address_are_refused(tmp_path: Path) -> None:
    found = _with_mirror_lines(tmp_path, "    again: {host: mirror.corp.example.com}\n")
    assert [r for r, _ in found] == ["FC077"]
    assert "registries 'again' and 'mirror' are both mirror.corp.example.com" in found[0][1]


def test_buildkit_mirrors_are_host_names_not_urls(renderer: Renderer) -> None:
    entries = registry_entries(renderer.inventory.host("airgap-01"))
    assert mirror_hosts(entries, "docker.io") == ["10.9.0.5:5000"]


def test_the_combined_action_is_the_strongest_daemon_action_plus_the_builder() -> None:
    assert combined_action([]) == (ApplyAction.NONE,)
    assert combined_action([ApplyAction.NONE, ApplyAction.RELOAD]) == (ApplyAction.RELOAD,)
    assert combined_action(
        [ApplyAction.RECREATE_BUILDER, ApplyAction.DAEMON_RELOAD_RESTART, ApplyAction.RESTART]
    ) == (ApplyAction.DAEMON_RELOAD_RESTART, ApplyAction.RECREATE_BUILDER)


def test_a_registry_host_with_a_port_is_refused_by_the_inventory(tmp_path: Path) -> None:
    inventory = INVENTORY.replace(
        "      host: mirror.corp.example.com", "      host: mirror.corp.example.com:443"
    )
    with pytest.raises(Exception, match="has a port or a scheme"):
        load_inventory(_repo(tmp_path, inventory))


def test_lint_reports_a_bad_ca_at_the_inventory_line_with_its_hosts(
    tmp_path: Path,
) -> None:
    leaf = make_cert("registry.corp.example.com", ca=False, issuer=CA)
    path = _repo(tmp_path, **{"corp-ca.pem": leaf.cert_pem})
    report = lint_repo(path)
    found = [f for f in report.findings if f.rule == "FC070"]
    first, second = (line_of(path, "ca_file: certs/corp-ca.pem", n) for n in (1, 2))
    assert sorted((f.line, f.hosts) for f in found) == [
        (first, ("airgap-01",)),  # its port differs: registry...:5443
        (first, ("ci-01",)),
        (second, ("ci-01",)),
    ]
    assert not report.ok


def test_a_profile_mirror_on_another_port_than_the_registrys_ca_is_a_finding(
    tmp_path: Path,
) -> None:
    path = _repo(tmp_path)
    (tmp_path / "profiles" / "base.yaml.j2").write_text(
        "registry-mirrors: [https://mirror.corp.example.com:5000]\n"
    )
    rendered = Renderer(load_inventory(path)).render("ci-01")
    [found] = [f for f in rendered.findings if f.rule == "FC074"]
    assert "dockerd reads certs.d/mirror.corp.example.com:5000/ for it" in found.message
    assert "set port: 5000" in found.message
    assert found.line == line_of(path, "host: mirror.corp.example.com")


def test_a_client_certificate_named_like_a_ca_is_a_finding(tmp_path: Path) -> None:
    inventory = INVENTORY.replace("certs/client.cert", "certs/client.crt")
    path = _repo(tmp_path, inventory, **{"client.crt": CLIENT.cert_pem})
    renderer = Renderer(load_inventory(path))
    result = render_surface(renderer, renderer.inventory.host("ci-01"))
    [found] = result.findings
    assert found.rule == "FC075" and found.line == line_of(path, "certs/client.crt")
    assert "named like a ca" in found.message
    assert [f.path.rsplit("/", 1)[1] for f in result.files if "5000" in f.path] == [
        "ca.crt",
        "client.cert",
        "client.key",
    ]
