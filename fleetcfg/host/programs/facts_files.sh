# fleetcfg-facts: files v2
# Reads files: REL CAP PATH|@USER... (@USER: REL in USER's home; plan runs
# the program as USER for those, see as_user.sh). Prints
# "user NAME<TAB>PASSWD-LINE<TAB>GROUP" or "nouser NAME" per user, then
# "entry STATE<TAB>PATH" per file (present, absent, nodir: its folder is
# missing too, directory, unreadable, toolarge: more than CAP bytes,
# untrusted: an absolute PATH is root's file but it or a folder above it is
# a symlink, someone else's, or writable by others), "why REASON<TAB>PATH"
# for the last two, "stat SIZE MODE OWNER GROUP MTIME<TAB>PATH" per present
# file (one stat; MTIME in epoch seconds), "dir MTIME<TAB>DIR" for the folder
# of each absent file, a line "--", then at most CAP bytes of each present
# file, back to back. Exit 5: a file vanished mid-way.
export LC_ALL=C
tab=$(printf '\t')
rel=$1 cap=$2
dirs=
shift 2
# shellcheck disable=SC2034 # read by fc_trusted (lib.sh), which runs in a subshell per file
fc_me=$(id -u)
n=$#
while [ "$n" -gt 0 ]; do
  a=$1
  shift
  n=$((n - 1))
  case $a in
  @*)
    u=${a#@}
    if e=$(getent passwd "$u"); then
      IFS=: read -r _ _ _ gid _ h _ <<EOF
$e
EOF
      g=$(getent group "$gid") && g=${g%%:*} || g=$gid
      printf 'user %s\t%s\t%s\n' "$u" "$e" "$g"
      set -- "$@" "u${h%/}/$rel"
    else
      printf 'nouser %s\n' "$u"
    fi
    ;;
  *) set -- "$@" "r$a" ;;
  esac
done
n=$#
while [ "$n" -gt 0 ]; do
  a=$1
  p=${a#?}
  shift
  n=$((n - 1))
  d=${p%/*}
  if [ "${a%"$p"}" = r ] && ! why=$(fc_trusted "$p" 2>&1); then
    st=untrusted
    printf 'why %s\t%s\n' "${why#fleetcfg: }" "$p"
  elif [ -d "$p" ]; then
    st=directory
  elif [ -f "$p" ]; then
    if [ ! -r "$p" ]; then
      st=unreadable
    else
      set -- "$@" "$p" # present or too large: one stat for them all, below
      continue
    fi
  elif [ -e "$p" ] || [ -L "$p" ]; then
    st=unreadable
  elif [ -d "${d:-/}" ]; then
    st=absent
    dirs="$dirs${d:-/}
"
  else
    st=nodir
  fi
  printf 'entry %s\t%s\n' "$st" "$p"
done
if [ "$#" -gt 0 ]; then
  all=$(stat -L -c "%s %a %U %G %Y$tab%n" -- "$@") || exit 5
  nl='
'
  n=$#
  while [ "$n" -gt 0 ]; do
    p=$1
    shift
    n=$((n - 1))
    line=${all%%"$nl"*}
    all=${all#*"$nl"}
    [ "${line#*"$tab"}" = "$p" ] || exit 5
    size=${line%% *}
    if [ "$size" -gt "$cap" ]; then
      printf 'entry toolarge\t%s\n' "$p"
      printf 'why %s bytes, more than the %s bytes fleetcfg reads\t%s\n' "$size" "$cap" "$p"
    else
      printf 'entry present\t%s\nstat %s\n' "$p" "$line"
      set -- "$@" "$p"
    fi
  done
fi
if [ -n "$dirs" ]; then
  old=$IFS
  IFS='
'
  set -f
  # shellcheck disable=SC2086 # one folder per line, no globbing
  stat -L -c "dir %Y$tab%n" -- $dirs 2>/dev/null
  set +f
  IFS=$old
fi
printf -- '--\n'
for p do
  head -c "$cap" -- "$p" || exit 5
done
exit 0
