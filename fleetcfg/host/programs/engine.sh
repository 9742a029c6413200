# fleetcfg-facts: engine v1
# The first line of `dockerd --version`, or the line RECORD holds when it
# describes the very binary `command -v dockerd` finds now. RECORD (written
# by SAVE, see below) is two lines: "fleetcfg-engine v1 DEV INODE SIZE MTIME
# CTIME PATH" (stat -L of the binary) and the version line. It is believed
# only when it and every folder above it pass fc_trusted (not a symlink,
# root's, nobody else may write): a host user cannot plant a version. Any
# change of the binary (an upgrade: new inode, size, mtime or ctime; another
# PATH) runs the real `dockerd --version`.
# With SAVE (apply, under the lock: the state folder exists), the line the
# real `dockerd --version` printed is recorded when the binary did not change
# while it ran (an atomic write, 0600 in RECORD's trusted folder). At most
# 4 KiB of what dockerd prints is kept (fc_capture).
export LC_ALL=C
umask 077
record=$1 save=$2
fc_out='' # set by fc_capture (lib.sh), which evals the command
bin=$(command -v dockerd 2>/dev/null) || bin=
id=
trusted=
case $bin in
/*)
  # one stat for the record's trust check and the binary (its own line,
  # when neither it nor a folder above it is a symlink: else stat -L)
  fc_trust "$record" "$bin"
  [ -n "${fc_why%%"$fc_nl"*}" ] || trusted=1
  fc_stats=${fc_stats#*"$fc_nl"}
  if [ -n "${fc_stats%%"$fc_nl"*}" ]; then
    fc_fields "${fc_stats%%"$fc_nl"*}"
    # shellcheck disable=SC2154 # set by fc_fields (lib.sh)
    id="$fc_dev $fc_ino $fc_size $fc_mtime $fc_ctime"
  else
    id=$(stat -L -c '%d %i %s %Y %Z' -- "$bin" 2>/dev/null) || id=
  fi
  ;;
esac
[ -z "$id" ] || id="fleetcfg-engine v1 $id $bin"
if [ -n "$id" ] && [ -f "$record" ] && [ -n "$trusted" ] &&
  { IFS= read -r have && IFS= read -r line; } 2>/dev/null <"$record" &&
  [ "$have" = "$id" ] && [ -n "$line" ]; then
  printf '%s\n' "$line"
  exit 0
fi
fc_capture 4096 'dockerd --version'
s=$?
out=$fc_out
[ -z "$out" ] || printf '%s\n' "$out"
[ "$s" -eq 0 ] && [ -n "$save" ] && [ -n "$id" ] || exit "$s"
line=${out%%"
"*}
case $line in 'Docker version '*) ;; *) exit 0 ;; esac
now=$(stat -L -c '%d %i %s %Y %Z' -- "$bin" 2>/dev/null) || exit 0
[ "fleetcfg-engine v1 $now $bin" = "$id" ] || exit 0
fc_trusted "${record%/*}" 2>/dev/null || exit 0
fc_put "$record" "$id
$line
" 2>/dev/null
exit 0
