# fleetcfg: lib v1 (inlined after the first line of each program that calls fc_*)
# shellcheck shell=sh

# fc_as USER COMMAND...: COMMAND as USER (empty, or the user running this: as
# is). Root drops its privileges for the command with setpriv, else runuser,
# else sudo -n -u, whichever the host has, so that the kernel checks USER's
# own permissions.
fc_as() {
  fc_u=$1
  shift
  if [ -z "$fc_u" ] || [ "$fc_u" = "$(id -un)" ]; then
    "$@"
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "fleetcfg: cannot act as $fc_u: fleetcfg does not run as root here" >&2
    return 125
  fi
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$fc_u" --regid="$(id -g "$fc_u")" --init-groups -- "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$fc_u" -- "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n -u "$fc_u" -- "$@"
  else
    echo "fleetcfg: cannot act as $fc_u: the host has none of setpriv, runuser, sudo" >&2
    return 125
  fi
}

# fc_whoami: fc_me is the user id this runs as, from /proc/self/status (the
# shell reads it itself: no process), else from `id -u`.
fc_whoami() {
  fc_me=
  if [ -r /proc/self/status ]; then
    while read -r fc_k _ fc_e _; do
      [ "$fc_k" != Uid: ] || {
        fc_me=$fc_e
        break
      }
    done </proc/self/status
  fi
  case $fc_me in '' | *[!0-9]*) fc_me=$(id -u) ;; esac
}

# fc_trust PATH...: whether each PATH (when it exists) and every folder above
# it are not symbolic links, belong to root (or to the user running this),
# and nobody else may write to them (a root folder with the sticky bit, like
# /tmp, is fine: only an entry's owner may rename or remove it). fc_why gets
# one line per PATH, in order: empty when it passes, else why not; fc_stats
# one line per PATH: its own stat line (see fc_fields) when it exists and no
# folder above it is a symlink, else empty. One stat for all the paths'
# chains (a host runs this for every file it reads or writes) and no
# subshell: the caller keeps the answer without a fork.
fc_trust() {
  [ -n "${fc_me-}" ] || fc_whoami
  fc_nl='
'
  fc_plan=
  fc_k=$#
  while [ "$fc_k" -gt 0 ]; do
    fc_p=$1
    shift
    fc_k=$((fc_k - 1))
    fc_c=0
    fc_q=$fc_p
    while :; do
      if [ -L "$fc_q" ]; then
        fc_c=L
        break
      fi
      [ "$fc_q" != / ] || break
      fc_q=${fc_q%/*}
      [ -n "$fc_q" ] || fc_q=/
    done
    if [ "$fc_c" = L ]; then
      fc_flat "$fc_q is a symbolic link"
      fc_c=L$fc_w
    else
      # N paths to stat for PATH; "=N" when the first is PATH itself
      fc_self=
      fc_first='='
      while :; do
        if [ -e "$fc_p" ]; then
          set -- "$@" "$fc_p"
          fc_c=$((fc_c + 1))
          fc_self=$fc_self$fc_first
        fi
        fc_first=
        [ "$fc_p" != / ] || break
        fc_p=${fc_p%/*}
        [ -n "$fc_p" ] || fc_p=/
      done
      fc_c=$fc_self$fc_c
    fi
    fc_plan="$fc_plan$fc_c$fc_nl"
  done
  fc_why=
  fc_stats=
  fc_all=
  fc_err=
  if [ $# -gt 0 ] && ! fc_all=$(stat -c '%u %a %d %i %s %Y %Z %U %G %F' -- "$@" 2>&1); then
    case $fc_all in
    *stat:*)
      fc_err=stat:${fc_all#*stat:}
      fc_err=${fc_err%%"$fc_nl"*}
      ;;
    *) fc_err="stat failed" ;;
    esac
  fi
  fc_all=$fc_all$fc_nl
  while [ -n "$fc_plan" ]; do
    fc_c=${fc_plan%%"$fc_nl"*}
    fc_plan=${fc_plan#*"$fc_nl"}
    fc_w=
    fc_own=
    case $fc_c in
    L*)
      fc_why="$fc_why${fc_c#L}$fc_nl"
      fc_stats=$fc_stats$fc_nl
      continue
      ;;
    =*)
      fc_c=${fc_c#=}
      [ -n "$fc_err" ] || fc_own=${fc_all%%"$fc_nl"*}
      ;;
    esac
    while [ "$fc_c" -gt 0 ]; do
      fc_p=$1
      shift
      fc_c=$((fc_c - 1))
      fc_s=${fc_all%%"$fc_nl"*}
      fc_all=${fc_all#*"$fc_nl"}
      [ -z "$fc_w" ] || continue
      if [ -n "$fc_err" ]; then
        fc_w=$fc_err
        continue
      fi
      fc_fields "$fc_s"
      if [ "$fc_uid" != 0 ] && [ "$fc_uid" != "$fc_me" ]; then
        fc_flat "$fc_p belongs to uid $fc_uid, not to root"
      elif [ $((0$fc_mode & 18)) -ne 0 ]; then
        if [ "$fc_type" != directory ] || [ $((0$fc_mode & 512)) -eq 0 ]; then
          fc_flat "$fc_p may be written by other users (mode $fc_mode)"
        fi
      fi
    done
    fc_why="$fc_why$fc_w$fc_nl"
    fc_stats="$fc_stats$fc_own$fc_nl"
  done
}

# fc_fields LINE: the fields of a line of fc_stats (fc_trust's stat, not
# following symlinks) in fc_uid fc_mode (octal, as stat's %a) fc_dev fc_ino
# fc_size fc_mtime fc_ctime (epoch seconds) fc_user fc_group fc_type
# shellcheck disable=SC2034
fc_fields() {
  fc_s=$1
  fc_uid=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_mode=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_dev=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_ino=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_size=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_mtime=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_ctime=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_user=${fc_s%% *}
  fc_s=${fc_s#* }
  fc_group=${fc_s%% *}
  fc_type=${fc_s#* }
}

# fc_flat TEXT: fc_w is TEXT on one line (a newline in a path becomes "?"),
# so that fc_why keeps one line per path
fc_flat() {
  fc_w=$1
  while :; do
    case $fc_w in
    *"$fc_nl"*) fc_w="${fc_w%%"$fc_nl"*}?${fc_w#*"$fc_nl"}" ;;
    *) return 0 ;;
    esac
  done
}

# fc_trusted PATH: fc_trust of one PATH; says why not on stderr.
fc_trusted() {
  fc_trust "$1"
  [ -n "${fc_why%"$fc_nl"}" ] || return 0
  printf 'fleetcfg: %s\n' "${fc_why%"$fc_nl"}" >&2
  return 1
}

# fc_private_dir DIR: DIR exists, is trusted (fc_trusted) and has mode 0700
# (created, or repaired when it exists with another mode; a missing folder
# above it, like /etc/docker on a fresh host, is created 0755).
fc_private_dir() {
  fc_d=${1%/*}
  if [ -n "$fc_d" ] && [ ! -e "$fc_d" ]; then
    (umask 022 && mkdir -p -- "$fc_d") || return 1
  fi
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then
    mkdir -m 0700 -- "$1" 2>/dev/null || [ -d "$1" ] || {
      echo "fleetcfg: cannot create $1" >&2
      return 1
    }
  fi
  fc_trusted "$1" || return 1
  if [ ! -d "$1" ]; then
    echo "fleetcfg: $1 is not a directory" >&2
    return 1
  fi
  chmod 0700 -- "$1"
}

# The atomic write, in three steps (a file is always the old one or the new
# one, never a mix), each run as USER (empty: as is):
# fc_stage TARGET USER: prints the name of a new empty file next to TARGET
fc_stage() {
  fc_as "$2" mktemp "${1%/*}/.${1##*/}.fleetcfg-XXXXXX"
}

# fc_sum: prints the first line of stdin, the sha256 of what follows (a
# program's arguments are visible to every user of the host: see
# install.sh). The shell's read takes that line only, byte by byte.
fc_sum() {
  IFS= read -r fc_line || fc_line=
  case $fc_line in
  *[!0-9a-f]* | '')
    echo "fleetcfg: no sha256 line on stdin" >&2
    return 1
    ;;
  esac
  printf '%s\n' "$fc_line"
}

# fc_fill STAGE USER SIZE SHA256: the rest of stdin into STAGE, checked (11: cannot
# write, 12: arrived incomplete or different)
fc_fill() {
  fc_as "$2" tee -- "$1" >/dev/null || return 11
  fc_h=$(fc_as "$2" cat -- "$1" | sha256sum) || return 11
  [ "${fc_h%% *}" = "$4" ] && return 0
  # not what was sent: say whether it arrived short (read back only now)
  fc_n=$(fc_as "$2" cat -- "$1" | wc -c) || return 11
  if [ "$fc_n" -ne "$3" ]; then
    echo "fleetcfg: received $fc_n of $3 bytes" >&2
  else
    echo "fleetcfg: checksum mismatch" >&2
  fi
  return 12
}

# fc_commit STAGE TARGET USER: fsync STAGE, rename it over TARGET, fsync the
# folder (what runs as USER prints nothing on this program's output: the user
# could make it print a step line)
fc_commit() {
  fc_as "$3" sync -- "$1" >/dev/null 2>&1
  fc_as "$3" mv -f -- "$1" "$2" >/dev/null || return 1
  fc_d=${2%/*}
  fc_as "$3" sync -- "${fc_d:-/}" >/dev/null 2>&1
  return 0
}

# fc_put TARGET TEXT: write TEXT to TARGET atomically (mode 0600 under umask 077)
fc_put() {
  fc_t=$(fc_stage "$1" "") || return 1
  if printf '%s' "$2" >"$fc_t" && fc_commit "$fc_t" "$1" ""; then
    return 0
  fi
  rm -f -- "$fc_t"
  return 1
}

# fc_started PID: fc_start is the start time of process PID (field 22 of
# /proc/PID/stat), empty when there is none. The fields are counted after
# the process's name, which is in parentheses and may hold spaces and ")"
# (any user names their own process): counted from the line's start, a name
# with spaces would put a field its user controls in the start time's place.
fc_started() {
  fc_start=
  fc_pst=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  case $fc_pst in *') '*) ;; *) return 0 ;; esac
  fc_pst=${fc_pst##*) }
  # shellcheck disable=SC2086 # the fields after the name: numbers and a state letter
  set -f && set -- $fc_pst && set +f
  [ $# -ge 20 ] || return 0
  shift 19
  case $1 in '' | *[!0-9]*) ;; *) fc_start=$1 ;; esac
}

# fc_beat BEAT BUSY EVERY: until fc_rest (or this program's end), a
# background loop touches BEAT (the lock's heartbeat) every EVERY seconds,
# and BUSY holds "PID STARTTIME" of this program (lock.sh tells a
# --break-lock that it still works on the host).
fc_beat() {
  fc_started "$$"
  [ -z "$fc_start" ] || printf '%s %s\n' "$$" "$fc_start" >"$2"
  fc_busy=$2
  (
    while kill -0 "$$" 2>/dev/null; do
      touch -c -- "$1"
      sleep "$3"
    done
  ) </dev/null >/dev/null 2>&1 &
  fc_beating=$!
}

# fc_rest: stop fc_beat's loop and remove its BUSY file
fc_rest() {
  [ -n "${fc_beating-}" ] || return 0
  kill "$fc_beating" 2>/dev/null
  rm -f -- "$fc_busy"
  fc_beating=
}

# fc_capture CAP CODE: eval CODE (a quoted command line, with its own
# redirections) and keep at most CAP bytes of what it prints in fc_out
# (trailing newlines dropped, as $(...) does), so that a command that prints
# without end cannot make this shell hold it all: past CAP bytes the pipe
# closes, the command gets SIGPIPE and ends, and fc_over is 1 (else 0).
# Returns CODE's exit status.
# shellcheck disable=SC2034
fc_capture() {
  fc_nl='
'
  fc_out=$({
    eval "$2"
    printf '\n%s' "$?"
  } | head -c "$(($1 + 5))")
  fc_st=${fc_out##*"$fc_nl"}
  fc_out=${fc_out%"$fc_nl"*}
  fc_over=0
  case $fc_st in '' | *[!0-9]*) fc_over=1 fc_st=141 ;; esac
  [ "${#fc_out}" -le "$1" ] || fc_over=1
  # what $(...) drops: the trailing newlines (the usual one without a fork)
  case $fc_out in *"$fc_nl") fc_out=${fc_out%"$fc_nl"} ;; esac
  case $fc_out in *"$fc_nl") fc_out=$(printf '%s' "$fc_out") ;; esac
  return "$fc_st"
}
