# fleetcfg-apply: lock v4
# Creates the state folders (0700 root, repaired when they exist), takes the lock with mkdir and writes its
# owner (OWNER_JSON is opaque here). Exit 0: locked; 3: held (the holder's
# owner file on stdout, unless it has more than CAP bytes: stderr says so;
# "fleetcfg-busy PID" on stderr while the install program BUSY names still
# runs); 4: the owner could not be written (the lock is
# released again; stderr says why); 2: the folders or the lock cannot be made.
export LC_ALL=C
umask 077
state=$1 backups=$2 lock=$3 owner=$4 info=$5 cap=$6 busy=$7
fc_private_dir "$state" && fc_private_dir "$backups" || exit 2
if mkdir -m 0755 -- "$lock" 2>/dev/null; then
  if ! printf '%s\n' "$info" >"$owner"; then
    rm -f -- "$owner"
    rmdir -- "$lock"
    exit 4
  fi
  exit 0
fi
if [ ! -d "$lock" ]; then
  mkdir -m 0755 -- "$lock"
  exit 2
fi
if [ -n "$busy" ] && read -r bp bs <"$busy" 2>/dev/null && [ -n "$bs" ]; then
  case $bp in
  '' | *[!0-9]*) ;;
  *)
    fc_started "$bp"
    # shellcheck disable=SC2154 # set by fc_started (lib.sh)
    [ "$fc_start" != "$bs" ] || echo "fleetcfg-busy $bp" >&2
    ;;
  esac
fi
n=$(stat -c %s -- "$owner" 2>/dev/null) || exit 3
if [ "$n" -gt "$cap" ]; then
  echo "fleetcfg: $owner is $n bytes, more than the $cap bytes fleetcfg reads" >&2
  exit 3
fi
head -c "$cap" -- "$owner" 2>/dev/null
exit 3
