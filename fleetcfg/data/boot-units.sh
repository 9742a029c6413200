# fleetcfg-boot-units: docker.service's drop-ins in place, and loaded by
# systemd, before dockerd first starts.
#
# systemd reads unit files and their drop-ins when it starts and on
# `systemctl daemon-reload` only: a drop-in cloud-init's write_files writes
# during boot is on disk but not in effect when docker.service starts. So
# `fleetcfg cloud-init` writes the drop-ins with this program, from bootcmd
# (the first modules of cloud-init's network stage, before write_files; the
# stage is ordered before network-online.target, which docker.service starts
# after), then runs `systemctl daemon-reload`. bootcmd runs on every boot:
# cloud-init-per runs this program once per instance, like write_files, so a
# drop-in changed later (fleetcfg apply or converge) is not put back at the
# next boot. The program arrives on stdin (`sh -s`): the drop-in, which may
# hold the proxy password, is never in a command line.
#
# FLEETCFG_ROOT (default: empty, the machine's /) is the folder the paths are
# written under. Exit 0: written and loaded; 1: not (stderr says why).
set -eu
umask 022
root=${FLEETCFG_ROOT:-}

fail() {
    printf 'fleetcfg-boot-units: %s\n' "$*" >&2
    exit 1
}

# put PATH MODE SHA256, the content base64-encoded on stdin: written to a
# temporary file next to PATH, checked, then renamed over it
put() {
    dir=$root${1%/*}
    mkdir -p "$dir" || fail "cannot create $dir"
    tmp=$(mktemp "$dir/.${1##*/}.fleetcfg-XXXXXX") || fail "cannot write in $dir"
    if ! { base64 -d >"$tmp" && chmod "$2" "$tmp" && chown root:root "$tmp"; }; then
        rm -f "$tmp"
        fail "cannot write $1"
    fi
    if ! printf '%s  %s\n' "$3" "$tmp" | sha256sum -c --quiet - >/dev/null 2>&1; then
        rm -f "$tmp"
        fail "$1 does not have the sha256 fleetcfg rendered (the user-data was changed?)"
    fi
    mv -f "$tmp" "$root$1"
    printf 'fleetcfg-boot-units: wrote %s (%s root:root)\n' "$1" "$2"
}

reload() {
    systemctl daemon-reload </dev/null ||
        fail "systemctl daemon-reload failed: docker.service would start without its drop-ins"
    printf 'fleetcfg-boot-units: systemctl daemon-reload done: docker.service starts with its drop-ins\n'
}

# the files (generated)
