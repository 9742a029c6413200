"""The example repo at the top level (inventory.yaml + profiles/) renders and
validates for every host and every client user."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from fleetcfg.core.findings import Severity
from fleetcfg.inventory import Inventory, load_inventory
from fleetcfg.render import Renderer
from fleetcfg.render.surface import render_surface

REPO = Path(__file__).resolve().parents[3]
INVENTORY = load_inventory(REPO / "inventory.yaml")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    environ = {"PROXY_PASSWORD": "example-only"}
    return Renderer(load_inventory(REPO / "inventory.yaml"), environ=environ)


def test_the_example_models_the_enterprise_fleet() -> None:
    inv: Inventory = INVENTORY
    assert {"ci-runners", "developers", "prod", "prod-eu", "prod-us", "airgapped"} <= set(
        inv.groups
    )
    assert inv.group_hosts("prod") == inv.group_hosts("prod-eu") | inv.group_hosts("prod-us")
    assert len(inv.hosts) >= 10


@pytest.mark.parametrize("host", list(INVENTORY.hosts))
def test_every_host_renders_a_valid_daemon_json_for_its_engine(
    renderer: Renderer, host: str
) -> None:
    rendered = renderer.render(host)
    errors = [f for f in rendered.findings if f.severity is Severity.ERROR]
    assert rendered.ok and not errors, errors
    assert rendered.findings == (), rendered.findings


@pytest.mark.parametrize(
    ("host", "user"),
    [(name, user) for name, host in INVENTORY.hosts.items() for user in host.client_users],
)
def test_every_client_user_gets_a_valid_config_json(
    renderer: Renderer, host: str, user: str
) -> None:
    rendered = renderer.render(host, "client", user)
    assert rendered.ok, rendered.findings


def test_the_proxy_password_never_appears_in_output(renderer: Renderer) -> None:
    rendered = renderer.render("ci-01")
    assert "example-only" in rendered.canonical_json(show_secrets=True)
    assert "example-only" not in rendered.canonical_json()


def test_no_proxy_covers_local_internal_mirror_and_docker_ranges(renderer: Renderer) -> None:
    data = renderer.render("prod-eu-01").to_json_dict()
    no_proxy = data["proxies"]["no-proxy"].split(",")
    pools = [p["base"] for p in data["default-address-pools"]]
    assert {"localhost", "127.0.0.0/8", ".corp.example.com"} <= set(no_proxy)
    assert data["registry-mirrors"][0].endswith("mirror-eu.corp.example.com")
    assert set(pools) <= set(no_proxy)
    assert "172.17.0.0/16" in no_proxy


def test_docker_networks_stay_clear_of_the_reserved_ranges(renderer: Renderer) -> None:
    reserved = INVENTORY.networks.reserved_networks()
    for host in INVENTORY.hosts:
        data = renderer.render(host).to_json_dict()
        nets = [ipaddress.ip_network(p["base"]) for p in data["default-address-pools"]]
        nets.append(ipaddress.ip_interface(data["bip"]).network)
        assert not [(n, r) for n in nets for r in reserved if n.overlaps(r)], host


def test_log_rotation_is_50m_times_5_compressed_by_default(renderer: Renderer) -> None:
    data = renderer.render("prod-us-01").to_json_dict()
    assert data["log-driver"] == "json-file"
    assert data["log-opts"] == {"max-size": "50m", "max-file": "10", "compress": "true"}
    assert renderer.render("airgap-01").to_json_dict()["log-opts"]["max-file"] == "5"


def test_the_gpu_group_wins_by_priority_on_a_ci_runner(renderer: Renderer) -> None:
    rendered = renderer.render("ci-03")
    assert rendered.to_json_dict()["log-opts"]["max-size"] == "100m"
    assert rendered.manage == "keys"


def test_the_airgapped_site_uses_its_private_registry_and_no_proxy(renderer: Renderer) -> None:
    daemon = renderer.render("airgap-01")
    data = daemon.to_json_dict()
    assert "proxies" not in data
    # trusted through its CA in certs.d, never insecure
    assert "insecure-registries" not in data
    assert data["registry-mirrors"] == ["https://registry.airgap.example.com:5000"]
    assert "proxies" not in renderer.render("airgap-01", "client").to_json_dict()
    surface = render_surface(renderer, INVENTORY.host("airgap-01"), daemon)
    assert [f.path for f in surface.files] == [
        "/etc/docker/certs.d/registry.airgap.example.com:5000/ca.crt"
    ]
    assert surface.findings == ()


def test_every_host_trusts_the_corporate_ca_through_certs_d(renderer: Renderer) -> None:
    ca = (REPO / "certs" / "corp-ca.pem").read_bytes()
    for name in INVENTORY.hosts:
        surface = render_surface(renderer, INVENTORY.host(name))
        assert surface.findings == (), name
        assert [f.content for f in surface.of_kind("certs.d")] == [ca], name


def test_ci_runners_add_their_cache_after_the_company_mirror(renderer: Renderer) -> None:
    data = renderer.render("ci-01").to_json_dict()
    assert data["registry-mirrors"] == [
        "https://mirror.corp.example.com",
        "https://ci-cache.corp.example.com",
    ]


def test_newer_engines_get_structured_daemon_logs(renderer: Renderer) -> None:
    assert renderer.render("prod-us-02").to_json_dict()["log-format"] == "json"
    assert "log-format" not in renderer.render("airgap-01").to_json_dict()


def test_developer_machines_drop_the_metrics_endpoint(renderer: Renderer) -> None:
    rendered = renderer.render("dev-01")
    assert "metrics-addr" not in rendered.to_json_dict()
    assert rendered.removed_keys == ("metrics-addr",)
    assert renderer.render("prod-eu-01").to_json_dict()["metrics-addr"] == "10.3.0.11:9323"


def test_the_corporate_proxy_goes_to_daemon_json_from_engine_23(renderer: Renderer) -> None:
    daemon = renderer.render("prod-us-01")
    assert daemon.to_json_dict()["proxies"]["http-proxy"] == (
        "http://svc-docker:example-only@proxy.corp.example.com:3128"
    )
    surface = render_surface(renderer, INVENTORY.host("prod-us-01"), daemon)
    assert not surface.of_kind("dropin")


def test_the_legacy_host_gets_the_proxy_drop_in_instead(renderer: Renderer) -> None:
    daemon = renderer.render("legacy-01")
    assert "proxies" not in daemon.to_json_dict()
    surface = render_surface(renderer, INVENTORY.host("legacy-01"), daemon)
    (dropin, env_file) = surface.of_kind("dropin")
    assert dropin.path == "/etc/systemd/system/docker.service.d/http-proxy.conf"
    assert dropin.action.value == "daemon-reload+restart" and dropin.mode == 0o644
    # the proxy password is not in Environment=, which systemd shows to every
    # user of the host, but in the file EnvironmentFile= names (0600)
    assert dropin.content.decode().splitlines()[1:] == [
        "[Service]",
        f"EnvironmentFile=-{env_file.path}",
    ]
    assert env_file.path == "/etc/systemd/system/docker.service.d/http-proxy.env"
    assert env_file.action.value == "daemon-reload+restart" and env_file.mode == 0o600
    text = env_file.content.decode()
    assert 'NO_PROXY="localhost,127.0.0.0/8,::1,.corp.example.com,' in text
    assert surface.findings == ()


def test_ci_runners_get_buildkitd_toml_with_the_same_mirrors_and_the_corporate_ca(
    renderer: Renderer,
) -> None:
    daemon = renderer.render("ci-01")
    surface = render_surface(renderer, INVENTORY.host("ci-01"), daemon)
    (config,) = surface.of_kind("buildkit")
    text = config.content.decode()
    assert 'mirrors = ["mirror.corp.example.com", "ci-cache.corp.example.com"]' in text
    assert "/etc/docker/certs.d/registry.corp.example.com/ca.crt" in text
    assert config.commands[-1][:5] == ("docker", "buildx", "create", "--name", "ci")
    assert not render_surface(renderer, INVENTORY.host("prod-us-01"), None).of_kind("buildkit")
