"""The proxy drop-in producer: ``/etc/systemd/system/docker.service.d/http-proxy.conf``
from ``proxy:`` when it goes there (:mod:`fleetcfg.render.proxy`).

Applying a change: ``systemctl daemon-reload`` then a restart of docker
(systemd reads unit files only on daemon-reload, dockerd its environment only
when it starts). When the proxy URLs hold a password, the variables go to
``http-proxy.env`` next to it (0600, named by ``EnvironmentFile=``): systemd
shows ``Environment=`` values to every user of the host, not an environment
file's. The password is masked in the plan's diff.
"""

from __future__ import annotations

from fleetcfg.dockerd.dropin import DROPIN_PATH, ENV_FILE_PATH
from fleetcfg.render.proxy import dropin_findings, resolve_proxy, setting_location
from fleetcfg.render.surface.model import SurfaceContext, SurfaceFile, SurfaceOutput

REASON = "the proxy drop-in changed"
#: why removing it needs daemon-reload + restart
REMOVED = "the proxy drop-in was removed"


def proxy_dropin(ctx: SurfaceContext) -> SurfaceOutput:
    """The drop-in of a host whose proxy goes there, and the findings about
    its proxy (FC080-FC082, FC084, FC087 and FC089; FC083 comes with daemon.json)."""
    proxy = resolve_proxy(ctx.host, ctx.lookups)
    if proxy is None:
        return SurfaceOutput()
    findings = list(proxy.findings)
    files: list[SurfaceFile] = []
    if proxy.to_dropin:
        daemon = ctx.daemon.data if ctx.daemon is not None else None
        findings += dropin_findings(ctx.host, proxy, daemon)
        source = setting_location(ctx.host, ("proxy",))
        files.append(
            SurfaceFile.produced(
                "dropin",
                DROPIN_PATH,
                proxy.dropin_text().encode(),
                credentials=proxy.dropin_holds_credentials,
                reason=REASON,
                source=source,
            )
        )
        env_file = proxy.env_file_text()
        if env_file is not None:
            files.append(
                SurfaceFile.produced(
                    "dropin",
                    ENV_FILE_PATH,
                    env_file.encode(),
                    credentials=True,
                    reason=REASON,
                    source=source,
                )
            )
    return SurfaceOutput(files=tuple(files), findings=tuple(findings), secrets=proxy.secrets)
