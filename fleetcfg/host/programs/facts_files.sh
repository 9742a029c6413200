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
# trust_roots TAGGED...: fc_trust (lib.sh) of each root path ("rPATH") among
# TAGGED and of its folder, all at once: fc_why and fc_stats hold two lines
# per root path, in order (its own, its folder's)
trust_roots() {
  for t_a do
    shift
    case $t_a in r*) t_a=${t_a#r} ;; *) continue ;; esac
    t_d=${t_a%/*}
    set -- "$@" "$t_a" "${t_d:-/}"
  done
  fc_why=
  fc_stats=
  [ "$#" -eq 0 ] || fc_trust "$@"
}
trust_roots "$@"
# Each path is reported as it is found; a root file's stat comes from its
# trust check (it and its folders are no symlinks), a user's file (which may
# be one) is stat'ed with the absent files' folders below: "$@" gets
# "sLINE<TAB>PATH" for a file stat'ed and "cPATH" for one to stat.
n=$#
while [ "$n" -gt 0 ]; do
  a=$1
  p=${a#?}
  shift
  n=$((n - 1))
  d=${p%/*}
  why='' own='' folder=''
  if [ "${a%"$p"}" = r ]; then
    why=${fc_why%%"$nl"*}
    fc_why=${fc_why#*"$nl"}
    fc_why=${fc_why#*"$nl"}
    own=${fc_stats%%"$nl"*}
    fc_stats=${fc_stats#*"$nl"}
    folder=${fc_stats%%"$nl"*}
    fc_stats=${fc_stats#*"$nl"}
  fi
  if [ -n "$why" ]; then
    st=untrusted
    printf 'why %s\t%s\n' "$why" "$p"
  elif [ -d "$p" ]; then
    st=directory
  elif [ -f "$p" ]; then
    if [ ! -r "$p" ]; then
      st=unreadable
    elif [ -n "$own" ]; then
      fc_fields "$own"
      # shellcheck disable=SC2154 # set by fc_fields (lib.sh)
      set -- "$@" "s$fc_size $fc_mode $fc_user $fc_group $fc_mtime$tab$p"
      continue
    else
      set -- "$@" "c$p" # present or too large: one stat for them all, below
      continue
    fi
  elif [ -e "$p" ] || [ -L "$p" ]; then
    st=unreadable
  elif [ -d "${d:-/}" ]; then
    st=absent
    if [ "${a%"$p"}" = u ]; then
      dirs="$dirs${d:-/}
"
    elif [ -n "$folder" ]; then
      fc_fields "$folder"
      printf 'dir %s\t%s\n' "$fc_mtime" "${d:-/}"
    fi
  else
    st=nodir
  fi
  printf 'entry %s\t%s\n' "$st" "$p"
done
# stat_candidates ITEM...: all holds the `stat -L` lines of the "cPATH"
# items among ITEM and then of the folders in dirs
stat_candidates() {
  for c_a do
    shift
    case $c_a in c*) set -- "$@" "${c_a#c}" ;; esac
  done
  old=$IFS
  IFS=$nl
  set -f
  # shellcheck disable=SC2086 # one folder per line, no globbing
  set -- "$@" $dirs
  set +f
  IFS=$old
  all=
  [ "$#" -eq 0 ] || all=$(stat -L -c "%s %a %U %G %Y$tab%n" -- "$@" 2>/dev/null)
  all=$all$nl
}
stat_candidates "$@"
# each file must answer (else it vanished meanwhile: exit 5); a folder that
# vanished since is left out
for a do
  shift
  case $a in
  s*) line=${a#s} ;;
  *)
    line=${all%%"$nl"*}
    [ "${line#*"$tab"}" = "${a#c}" ] || exit 5
    all=${all#*"$nl"}
    ;;
  esac
  p=${line#*"$tab"}
  size=${line%% *}
  if [ "$size" -gt "$cap" ]; then
    printf 'entry toolarge\t%s\n' "$p"
    printf 'why %s bytes, more than the %s bytes fleetcfg reads\t%s\n' "$size" "$cap" "$p"
  else
    printf 'entry present\t%s\nstat %s\n' "$p" "$line"
    set -- "$@" "$p"
  fi
done
old=$IFS
IFS=$nl
set -f
for d in $dirs; do
  line=${all%%"$nl"*}
  [ "${line#*"$tab"}" = "$d" ] || continue
  all=${all#*"$nl"}
  line=${line%%"$tab"*}
  printf 'dir %s\t%s\n' "${line##* }" "$d"
done
set +f
IFS=$old
printf -- '--\n'
for p do
  head -c "$cap" -- "$p" || exit 5
done
exit 0
