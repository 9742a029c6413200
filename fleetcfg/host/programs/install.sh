# fleetcfg-apply: install v8
# Installs stdin (a first line with the content's SHA256, then the content:
# SIZE bytes) as TARGET, each step only after the one
# before succeeded, printing "fleetcfg-step NAME" after each (see
# fleetcfg/host/programs/apply.py for the steps and exit statuses). Without
# USER, TARGET is root's: refused (exit 9) when it or a folder above it is a
# symlink, someone else's or writable by others, and so are the folders of
# BACKUP and STATE_PATH. With USER, every step on the file (its folder, the
# upload, reading it for the backup, the rename) runs as USER with their own
# permissions (OWNER and GROUP are then theirs: no chown, no chmod as root).
# With BEAT, while the action and the first health check run (they can take
# long), a background loop touches BEAT (the lock's heartbeat) every EVERY
# seconds, and BUSY holds "PID STARTTIME" of this program (lock.sh tells a
# --break-lock that the program still works).
# What VALIDATE and INFO print is read up to CAP bytes (fc_capture): past
# that the validation fails (exit 21) or the health check (exit 71). The
# backup copies at most BACKUP_CAP bytes of the live file: a larger one is
# refused (exit 30), since a user's file may have become a link to a huge
# file or /dev/zero since fleetcfg read it, and the copy is root's.
export LC_ALL=C
umask 077
target=$1 mode=$2 owner=$3 group=$4 size=$5 user=$6 backup=$7 validate=$8
state_path=$9 state=${10} pre=${11} action=${12} status=${13} info=${14}
health=${15} want=${16} finish=${17} pending=${18} dir_mode=${19}
beat=${20} busy=${21} every=${22} cap=${23} backup_cap=${24}
# the sha256 comes on stdin, never on the command line: any user of the host
# may read a process's arguments (ps, /proc/PID/cmdline), and the sha256 of
# a file that holds a password lets them guess the password offline
sum=$(fc_sum) || exit 12
stage=
fc_out='' fc_over=0 # set by fc_capture (lib.sh)
step() { printf 'fleetcfg-step %s\n' "$1"; }
drop() { [ -z "$stage" ] || fc_as "$user" rm -f -- "$stage" >/dev/null; }
fail() {
  drop
  exit "$1"
}
if [ -z "$user" ]; then
  fc_trusted "$target" || exit 9
fi
for f in "$backup" "$state_path"; do
  if [ -n "$f" ]; then
    fc_trusted "${f%/*}" || exit 9
  fi
done
d=${target%/*}
if [ -n "$dir_mode" ]; then
  # a root folder fleetcfg owns (certs.d/<host:port>): created with its parents
  test -d "${d:-/}" || { (umask 022 && mkdir -p -- "$d") && chmod "$dir_mode" -- "$d"; } || exit 10
else
  fc_as "$user" test -d "${d:-/}" >/dev/null || fc_as "$user" mkdir -m 0700 -- "$d" >/dev/null || exit 10
fi
stage=$(fc_stage "$target" "$user") || exit 10
printf 'fleetcfg-stage %s\n' "$stage"
trap 'drop; exit 129' HUP
trap 'drop; exit 130' INT
trap 'drop; exit 143' TERM
trap 'drop; exit 141' PIPE
fc_fill "$stage" "$user" "$size" "$sum" || fail $?
fc_as "$user" chmod "$mode" -- "$stage" >/dev/null || fail 13
if [ -z "$user" ]; then
  chown "$owner:$group" -- "$stage" || fail 14
fi
step upload
if [ -n "$validate" ]; then
  fc_capture "$cap" "$validate 2>&1"
  v=$?
  if [ "$fc_over" = 1 ]; then
    echo "fleetcfg: the validation printed more than $cap bytes" >&2
    fail 21
  fi
  [ "$v" = 0 ] || {
    printf '%s\n' "$fc_out" >&2
    fail 20
  }
  step validate
fi
made=
if [ -n "$backup" ] && fc_as "$user" test -e "$target" >/dev/null; then
  fc_as "$user" head -c "$((backup_cap + 1))" -- "$target" >"$backup" || {
    rm -f -- "$backup"
    fail 30
  }
  n=$(wc -c <"$backup")
  if [ "$n" -gt "$backup_cap" ]; then
    echo "fleetcfg: $target has more than $backup_cap bytes, the most fleetcfg reads of a file" >&2
    rm -f -- "$backup"
    fail 30
  fi
  made=$backup
  step backup
fi
if [ -n "$pending" ]; then
  fc_put "$state_path" "$pending" || {
    [ -z "$made" ] || rm -f -- "$made"
    fail 45
  }
  step pending
fi
fc_commit "$stage" "$target" "$user" || {
  [ -z "$made" ] || rm -f -- "$made"
  fail 40
}
stage=
trap - HUP INT TERM PIPE
step replace
if [ -n "$state" ]; then
  fc_put "$state_path" "$state" || exit 50
  step state
fi
if [ -n "$beat" ] && [ -n "$action$status" ]; then
  fc_beat "$beat" "$busy" "$every"
  trap fc_rest EXIT
fi
if [ -n "$pre" ]; then
  eval "$pre" >/dev/null 2>&1
fi
if [ -n "$action" ]; then
  eval "$action" || exit 60
  step action
fi
if [ -n "$status" ]; then
  s=0 i=0 c=0
  eval "$status" >/dev/null 2>&1 || s=$?
  fc_capture "$cap" "$info 2>/dev/null" || i=$?
  r=$fc_out
  if [ "$fc_over" = 1 ]; then
    fc_rest
    echo "fleetcfg: the health check's docker info printed more than $cap bytes" >&2
    exit 71
  fi
  if [ -n "$health" ]; then eval "$health" >/dev/null 2>&1 || c=$?; fi
  fc_rest
  printf 'fleetcfg-check %s %s %s %s\n' "$s" "$i" "$c" "$r"
  [ "$s" = 0 ] && [ "$i" = 0 ] && [ "$c" = 0 ] || exit 70
  if [ -n "$want" ]; then
    case $r in '' | *[!0-9]*) exit 70 ;; esac
    [ "$r" -ge "$want" ] || exit 70
  fi
  step health
fi
fc_rest
if [ -n "$finish" ]; then
  eval "$finish" || exit 80
  step unlock
fi
exit 0
