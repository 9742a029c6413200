#!/bin/sh
# fleetcfg-boot-check: did dockerd come up with the files cloud-init wrote?
#
# `fleetcfg cloud-init` writes this program with write_files and runs it once
# from runcmd, after docker.service started. It never restarts anything.
#
#   fleetcfg-boot-check [--timeout SECONDS] [--file "SHA256  PATH"]...
#                       [--mirrors JSON] [--live-restore true|false]
#                       [--log-driver NAME] [--dropin PATH]...
#                       [--http-proxy URL] [--https-proxy URL]
#
# --file: the file still holds what was written (sha256sum -c).
# --mirrors: `docker info` reports these registry mirrors (compact JSON, as
#   Go's json prints them, without the trailing slash dockerd adds).
# --live-restore, --log-driver: `docker info` reports these values.
# --dropin: systemd has this docker.service drop-in loaded (DropInPaths lists
#   it, NeedDaemonReload is no): bootcmd wrote it and ran daemon-reload.
# --http-proxy, --https-proxy: `docker info` reports this proxy (credentials
#   masked as dockerd masks them: xxxxx:xxxxx).
#
# Exit 0: dockerd answers and runs with the files; 1: it does not (stderr says
# what differs and what to do); 2: usage error.
set -u

timeout=120
files=""
mirrors=""
live_restore=""
log_driver=""
dropins=""
http_proxy_want=""
https_proxy_want=""
problems=0

say() { printf 'fleetcfg-boot-check: %s\n' "$*" >&2; }
bad() {
    say "$*"
    problems=$((problems + 1))
}

while [ "$#" -gt 0 ]; do
    if [ "$#" -lt 2 ]; then
        say "$1 needs a value"
        exit 2
    fi
    case $1 in
    --timeout) timeout=$2 ;;
    --file) files="$files$2
" ;;
    --mirrors) mirrors=$2 ;;
    --live-restore) live_restore=$2 ;;
    --log-driver) log_driver=$2 ;;
    --dropin) dropins="$dropins $2" ;;
    --http-proxy) http_proxy_want=$2 ;;
    --https-proxy) https_proxy_want=$2 ;;
    *)
        say "unknown argument: $1"
        exit 2
        ;;
    esac
    shift 2
done

if [ -n "$files" ]; then
    if ! failed=$(printf '%s' "$files" | sha256sum -c --quiet - 2>&1); then
        bad "a file differs from what cloud-init wrote (changed since, or not written): $failed"
    fi
fi

waited=0
until docker info >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
        say "docker info did not answer within ${timeout}s: dockerd is not running" \
            "(see systemctl status docker and journalctl -u docker)"
        exit 1
    fi
    sleep 1
    waited=$((waited + 1))
done

race="dockerd started before cloud-init wrote /etc/docker/daemon.json, or reads another file; \
restart it once (systemctl restart docker) and look at how the image starts docker"

if [ -n "$mirrors" ]; then
    got=$(docker info --format '{{json .RegistryConfig.Mirrors}}' 2>&1)
    # dockerd ends every mirror with a slash
    plain=$(printf '%s' "$got" | sed 's#/"#"#g')
    if [ "$plain" != "$mirrors" ]; then
        bad "dockerd reports registry mirrors $got, daemon.json sets $mirrors: $race"
    fi
fi
if [ -n "$live_restore" ]; then
    got=$(docker info --format '{{.LiveRestoreEnabled}}' 2>&1)
    if [ "$got" != "$live_restore" ]; then
        bad "dockerd reports live-restore $got, daemon.json sets $live_restore: $race"
    fi
fi
if [ -n "$log_driver" ]; then
    got=$(docker info --format '{{.LoggingDriver}}' 2>&1)
    if [ "$got" != "$log_driver" ]; then
        bad "dockerd reports log driver $got, daemon.json sets $log_driver: $race"
    fi
fi

if [ -n "$dropins" ]; then
    unloaded="bootcmd did not write it and run systemctl daemon-reload before docker.service \
started (see cloud-init status --long and /var/log/cloud-init-output.log); run systemctl \
daemon-reload and restart docker once"
    need=$(systemctl show docker.service -p NeedDaemonReload --value 2>&1)
    if [ "$need" != no ]; then
        bad "systemd has not loaded docker.service's drop-ins as they are on disk" \
            "(NeedDaemonReload: $need): dockerd runs without them: $unloaded"
    fi
    loaded=$(systemctl show docker.service -p DropInPaths --value 2>&1)
    for dropin in $dropins; do
        case " $loaded " in
        *" $dropin "*) ;;
        *) bad "systemd has not loaded the drop-in $dropin (DropInPaths: $loaded): $unloaded" ;;
        esac
    done
fi
proxy_race="dockerd started before systemd loaded the drop-in; restart it once \
(systemctl restart docker) and look at how the image starts docker"
if [ -n "$http_proxy_want" ]; then
    got=$(docker info --format '{{.HTTPProxy}}' 2>&1)
    if [ "$got" != "$http_proxy_want" ]; then
        bad "dockerd reports HTTP proxy '$got', the drop-in sets '$http_proxy_want': $proxy_race"
    fi
fi
if [ -n "$https_proxy_want" ]; then
    got=$(docker info --format '{{.HTTPSProxy}}' 2>&1)
    if [ "$got" != "$https_proxy_want" ]; then
        bad "dockerd reports HTTPS proxy '$got', the drop-in sets '$https_proxy_want': $proxy_race"
    fi
fi

if [ "$problems" -gt 0 ]; then
    exit 1
fi
printf 'fleetcfg-boot-check: dockerd answers and runs with the files cloud-init wrote\n'
