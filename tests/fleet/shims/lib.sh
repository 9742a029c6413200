# shellcheck shell=bash disable=SC2034
# Shared by the fleet host shims (dockerd, docker, systemctl, journalctl).
# Installed per host as /usr/local/sbin/.fleet/lib.sh; everything a host knows
# about itself lives next to it in /usr/local/sbin/.fleet:
#
#   settings          written by the test (host side): version, flags, faults
#   unit              active | failed | inactive | activating | deactivating
#   result            systemd's Result= (success | exit-code)
#   main-pid          the fake dockerd's pid (0 when not running)
#   last-pid          the pid of the last started dockerd
#   starts            how many times the daemon was started since the reset
#   active-enter, inactive-enter, state-change   epoch seconds of transitions
#   loaded.json       the daemon.json the running daemon uses (absent: none)
#   loaded.sha256     its sha256, "absent" when dockerd runs without a file
#   started.sha256    the sha256 the daemon loaded at its last start
#   info.json         what `docker info` reports (computed at start/reload)
#   containers        one line per container: ID NAME STATE RESTART IMAGE
#   events.log        EPOCH<TAB>KIND<TAB>key=value...  (every state change)
#   journal.log       EPOCH<TAB>IDENT<TAB>PID<TAB>MESSAGE
#   commands.log      EPOCH<TAB>USER<TAB>exec|shell<TAB>COMMAND (escaped)
#   faults/           fault counters writable by every login user

export LC_ALL=C TZ=UTC
FLEET=${FLEET_STATE_DIR:-/usr/local/sbin/.fleet}
# shellcheck source=/dev/null
. "$FLEET/settings"
FLEET_DOCKERD_DIR=${FLEETCFG_DOCKERD_DIR:-$DOCKERD_DIR}

# fleet_event KIND key=value...   (silently skipped for users who cannot write)
fleet_event() {
    [[ -w $FLEET/events.log ]] || return 0
    local IFS=$'\t'
    printf '%s\t%s\n' "$EPOCHREALTIME" "$*" >>"$FLEET/events.log"
}

# fleet_journal IDENT PID MESSAGE   (one entry per line of MESSAGE)
fleet_journal() {
    [[ -w $FLEET/journal.log ]] || return 0
    local ident=$1 pid=$2 line now=$EPOCHREALTIME
    shift 2
    while IFS= read -r line; do
        printf '%s\t%s\t%s\t%s\n' "$now" "$ident" "$pid" "$line"
    done <<<"$*" >>"$FLEET/journal.log"
}

fleet_systemd_log() { fleet_journal systemd 1 "$*"; }

# fleet_dockerd_log LEVEL MESSAGE [EXTRA]: a logrus line as dockerd writes it
fleet_dockerd_log() {
    local t=$EPOCHREALTIME ts
    printf -v ts '%(%Y-%m-%dT%H:%M:%S)T.%s000Z' "${t%.*}" "${t#*.}"
    local msg=${2//\\/\\\\}
    msg=${msg//\"/\\\"}
    fleet_journal dockerd "${FLEET_PID:-0}" "time=\"$ts\" level=$1 msg=\"$msg\"${3:+ $3}"
}

# fleet_get NAME [DEFAULT]: the content of a state file (first line) in REPLY
fleet_get() {
    REPLY=${2-}
    [[ -r $FLEET/$1 ]] && IFS= read -r REPLY <"$FLEET/$1"
    [[ -n $REPLY ]] || REPLY=${2-}
}

# fleet_set NAME VALUE: replace a state file atomically
fleet_set() {
    printf '%s\n' "$2" >"$FLEET/.$1.tmp" && mv -f "$FLEET/.$1.tmp" "$FLEET/$1"
}

fleet_engine_major() { REPLY=${ENGINE_VERSION%%.*}; }

fleet_version_line() {
    printf 'Docker version %s%s, build %s\n' "$ENGINE_VERSION" "$ENGINE_SUFFIX" "$ENGINE_BUILD"
}

# fleet_config_file: the daemon.json dockerd reads with the unit's flags
fleet_config_file() {
    REPLY=/etc/docker/daemon.json
    local i next=0
    for i in "${EXEC_START_FLAGS[@]}"; do
        if ((next)); then
            REPLY=$i
            next=0
        elif [[ $i == --config-file ]]; then
            next=1
        elif [[ $i == --config-file=* ]]; then
            REPLY=${i#--config-file=}
        fi
    done
}

# fleet_sha256 FILE: sha256 of FILE in REPLY, "absent" when it does not exist
fleet_sha256() {
    if [[ -f $1 ]]; then
        REPLY=$(sha256sum <"$1")
        REPLY=${REPLY%% *}
    else
        REPLY=absent
    fi
}

# fleet_real_validate ARGS...: run Debian's real dockerd --validate; its stderr
# ends up in FLEET_VALIDATE_OUTPUT and its exit status is returned
fleet_real_validate() {
    local rc=0 bin=$FLEET_DOCKERD_DIR/usr/sbin/dockerd
    if [[ ! -x $bin ]]; then
        FLEET_VALIDATE_OUTPUT="fleet host: the real dockerd is missing at $bin (run scripts/fetch-dockerd or set FLEETCFG_DOCKERD_DIR)"
        return 127
    fi
    FLEET_VALIDATE_OUTPUT=$(PATH="$FLEET_DOCKERD_DIR/usr/sbin:$PATH" "$bin" --validate "$@" 2>&1 >/dev/null) || rc=$?
    return "$rc"
}

# fleet_compute_info CONFIG OUT: what `docker info` reports for a daemon that
# loaded CONFIG (a file, or /dev/null for none) into OUT (JSON)
fleet_compute_info() {
    local cfg=$1
    [[ -s $cfg ]] || cfg=/dev/null
    jq -n --slurpfile c <(if [[ $cfg == /dev/null ]]; then echo '{}'; else cat "$cfg"; fi) \
        --arg version "$ENGINE_VERSION" --arg name "$FLEET_HOST" \
        --arg kernel "$(uname -r)" --arg id "$DAEMON_ID" '
      def mask: if type == "string" then sub("://(?<u>[^:@/]+):[^@/]*@"; "://\(.u):xxxxx@") else . end;
      ($c[0] // {}) as $d
      | ($d.proxies // {}) as $p
      | {
          ID: $id,
          Containers: 0, ContainersRunning: 0, ContainersPaused: 0, ContainersStopped: 0, Images: 0,
          Driver: ($d["storage-driver"] // "overlay2"),
          DriverStatus: [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                         ["Using metacopy", "false"], ["Native Overlay Diff", "true"],
                         ["userxattr", "false"]],
          Plugins: {Volume: ["local"], Network: ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
                    Authorization: ($d["authorization-plugins"] // null),
                    Log: ["awslogs", "fluentd", "gcplogs", "gelf", "journald", "json-file", "local", "splunk", "syslog"]},
          MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true,
          IPv4Forwarding: true, Debug: ($d.debug // false),
          NFd: 24, OomKillDisable: false, NGoroutines: 42,
          SystemTime: (now | todate),
          LoggingDriver: ($d["log-driver"] // "json-file"),
          CgroupDriver: ((($d["exec-opts"] // []) | map(select(startswith("native.cgroupdriver="))) | last
                          | if . == null then null else ltrimstr("native.cgroupdriver=") end) // "systemd"),
          CgroupVersion: "2",
          KernelVersion: $kernel, OperatingSystem: "Debian GNU/Linux 12 (bookworm)",
          OSVersion: "12", OSType: "linux", Architecture: "x86_64",
          IndexServerAddress: "https://index.docker.io/v1/",
          RegistryConfig: {
            InsecureRegistryCIDRs: (["127.0.0.0/8"] + ($d["insecure-registries"] // [])),
            IndexConfigs: {"docker.io": {Name: "docker.io", Mirrors: ($d["registry-mirrors"] // []),
                                          Secure: true, Official: true}},
            Mirrors: ($d["registry-mirrors"] // [])
          },
          NCPU: 2, MemTotal: 8331149312,
          DockerRootDir: ($d["data-root"] // "/var/lib/docker"),
          HttpProxy: (($p["http-proxy"] // $d["http-proxy"] // "") | mask),
          HttpsProxy: (($p["https-proxy"] // $d["https-proxy"] // "") | mask),
          NoProxy: ($p["no-proxy"] // $d["no-proxy"] // ""),
          Name: $name, Labels: ($d.labels // []),
          ExperimentalBuild: ($d.experimental // false),
          ServerVersion: $version,
          Runtimes: ({"io.containerd.runc.v2": {path: "runc"}, runc: {path: "runc"}} + ($d.runtimes // {})),
          DefaultRuntime: ($d["default-runtime"] // "runc"),
          Swarm: {NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false,
                  Error: "", RemoteManagers: null},
          LiveRestoreEnabled: ($d["live-restore"] // false),
          Isolation: "",
          InitBinary: "docker-init",
          SecurityOptions: ["name=apparmor", "name=seccomp,profile=builtin", "name=cgroupns"],
          Warnings: null
        }' >"$2.tmp" 2>/dev/null || echo '{}' >"$2.tmp"
    mv -f "$2.tmp" "$2"
}

# fleet_ensure_info: info.json for the running daemon (the reset removes it)
fleet_ensure_info() {
    [[ -s $FLEET/info.json ]] || fleet_compute_info "$FLEET/loaded.json" "$FLEET/info.json"
}

# fleet_info_json: `docker info` as JSON in REPLY (the daemon's settings plus
# live container counts); computes info.json first when the reset removed it
fleet_info_json() {
    [[ -w $FLEET ]] && fleet_ensure_info
    local running total src=$FLEET/info.json
    if [[ ! -s $src ]]; then
        src=$(mktemp)
        fleet_compute_info "$FLEET/loaded.json" "$src"
    fi
    fleet_count_containers
    running=$REPLY
    total=$FLEET_TOTAL_CONTAINERS
    REPLY=$(jq -c --argjson r "$running" --argjson t "$total" \
        '. + {Containers: $t, ContainersRunning: $r, ContainersStopped: ($t - $r), Images: $t}' "$src")
    [[ $src == "$FLEET/info.json" ]] || rm -f "$src"
}

# fleet_count_containers: REPLY = running containers, FLEET_TOTAL_CONTAINERS = all
fleet_count_containers() {
    local id _name state rest
    REPLY=0
    FLEET_TOTAL_CONTAINERS=0
    [[ -r $FLEET/containers ]] || return 0
    while read -r id _name state rest; do
        [[ -n $id ]] || continue
        FLEET_TOTAL_CONTAINERS=$((FLEET_TOTAL_CONTAINERS + 1))
        [[ $state == running ]] && REPLY=$((REPLY + 1))
    done <"$FLEET/containers"
}

# fleet_live_restore: true when the running daemon has live-restore on
fleet_live_restore() {
    fleet_ensure_info
    local v
    v=$(jq -r '.LiveRestoreEnabled // false' "$FLEET/info.json" 2>/dev/null)
    [[ $v == true ]]
}

# fleet_uptime_text EPOCH: "5min ago" style text in REPLY
fleet_ago() {
    local now=${EPOCHREALTIME%.*} d
    d=$((now - ${1:-now}))
    ((d < 0)) && d=0
    if ((d < 60)); then
        REPLY="${d}s ago"
    elif ((d < 3600)); then
        REPLY="$((d / 60))min $((d % 60))s ago"
    elif ((d < 86400)); then
        REPLY="$((d / 3600))h $((d % 3600 / 60))min ago"
    else
        REPLY="$((d / 86400)) days ago"
    fi
}

# fleet_timestamp EPOCH: systemd's timestamp format ("Tue 2024-05-07 10:00:00 UTC")
fleet_timestamp() {
    if [[ -z ${1-} || $1 == 0 ]]; then
        REPLY=
    else
        printf -v REPLY '%(%a %Y-%m-%d %H:%M:%S UTC)T' "${1%.*}"
    fi
}

# fleet_json_string TEXT: TEXT as a JSON string literal in REPLY
fleet_json_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\t'/\\t}
    s=${s//$'\r'/\\r}
    REPLY="\"$s\""
}

# fleet_gofmt FORMAT JSONFILE: render a Go template of the simple kinds docker
# users write ({{json .}}, {{.A.B}}, {{json .A}}, literal text) with jq
fleet_gofmt() {
    local fmt=$1 file=$2 prog='""' lit path isjson
    fmt=${fmt#table }
    local re='^([^{]*)\{\{-?[[:space:]]*(json[[:space:]]+)?\.([A-Za-z0-9_.]*)[[:space:]]*-?\}\}(.*)$'
    while [[ -n $fmt ]]; do
        if [[ $fmt =~ $re ]]; then
            lit=${BASH_REMATCH[1]}
            isjson=${BASH_REMATCH[2]}
            path=${BASH_REMATCH[3]}
            fmt=${BASH_REMATCH[4]}
        elif [[ $fmt != *'{{'* ]]; then
            lit=$fmt
            isjson=
            path=__none__
            fmt=
        else
            echo "template parsing error: template: :1: function or field not supported by the fleet host's docker shim: $1" >&2
            return 1
        fi
        lit=${lit//\\n/$'\n'}
        lit=${lit//\\t/$'\t'}
        fleet_json_string "$lit"
        prog+=" + $REPLY"
        [[ $path == __none__ ]] && continue
        local sel=.
        [[ -n $path ]] && sel=".\"${path//./\".\"}\""
        if [[ -n $isjson ]]; then
            prog+=" + ($sel | tojson)"
        else
            prog+=" + ($sel | gofmt)"
        fi
    done
    jq -r 'def gofmt: if type == "string" then .
                      elif type == "array" then "[" + (map(gofmt) | join(" ")) + "]"
                      elif type == "object" then "map[" + (to_entries | map(.key + ":" + (.value | gofmt)) | join(" ")) + "]"
                      elif . == null then "<no value>"
                      else tostring end;
           '"$prog" "$file"
}
