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
tab='	'
nl='
'
rel=$1 cap=$2
dirs=
shift 2
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
# trust_roots TAGGED...: fc_trust (lib.sh) of the root paths ("rPATH") among
# TAGGED, all at once: fc_why holds a line per root path, in order
trust_roots() {
  t_n=$#
  while [ "$t_n" -gt 0 ]; do
    t_a=$1
    shift
    t_n=$((t_n - 1))
    case $t_a in r*) set -- "$@" "${t_a#r}" ;; esac
  done
  fc_why=
  [ "$#" -eq 0 ] || fc_trust "$@"
}
trust_roots "$@"
n=$#
while [ "$n" -gt 0 ]; do
  a=$1
  p=${a#?}
  shift
  n=$((n - 1))
  d=${p%/*}
  why=
  if [ "${a%"$p"}" = r ]; then
    why=${fc_why%%"$nl"*}
    fc_why=${fc_why#*"$nl"}
  fi
  if [ -n "$why" ]; then
    st=untrusted
    printf 'why %s\t%s\n' "$why" "$p"
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
# One stat for the readable files, then the folders of the absent ones: each
# file must answer (else it vanished meanwhile: exit 5); a folder that
# vanished since is left out.
files=$#
old=$IFS
IFS=$nl
set -f
# shellcheck disable=SC2086 # one folder per line, no globbing
set -- "$@" $dirs
set +f
IFS=$old
if [ "$#" -gt 0 ]; then
  all=$(stat -L -c "%s %a %U %G %Y$tab%n" -- "$@" 2>/dev/null)$nl
  n=$#
  i=0
  while [ "$n" -gt 0 ]; do
    p=$1
    shift
    n=$((n - 1))
    i=$((i + 1))
    line=${all%%"$nl"*}
    if [ "${line#*"$tab"}" != "$p" ]; then
      [ "$i" -gt "$files" ] || exit 5
      continue
    fi
    all=${all#*"$nl"}
    if [ "$i" -gt "$files" ]; then
      line=${line%%"$tab"*}
      printf 'dir %s\t%s\n' "${line##* }" "$p"
      continue
    fi
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
printf -- '--\n'
for p do
  head -c "$cap" -- "$p" || exit 5
done
exit 0
