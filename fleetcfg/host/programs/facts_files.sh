# fleetcfg-facts: files v1
export LC_ALL=C
tab=$(printf '\t')
rel=$1
dirs=
shift
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
      set -- "$@" "${h%/}/$rel"
    else
      printf 'nouser %s\n' "$u"
    fi
    ;;
  *) set -- "$@" "$a" ;;
  esac
done
n=$#
while [ "$n" -gt 0 ]; do
  p=$1
  shift
  n=$((n - 1))
  d=${p%/*}
  if [ -d "$p" ]; then
    st=directory
  elif [ -f "$p" ]; then
    if [ -r "$p" ]; then
      st=present
      set -- "$@" "$p"
    else
      st=unreadable
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
  stat -L -c "stat %s %a %U %G %Y$tab%n" -- "$@" || exit 5
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
[ "$#" -gt 0 ] || exit 0
exec cat -- "$@"
