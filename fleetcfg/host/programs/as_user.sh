# fleetcfg: as-user v1
# Runs the rest of the arguments (a command) as USER, with USER's own
# permissions (fc_as). Exit 67: USER does not exist.
export LC_ALL=C
user=$1
shift
if ! getent passwd "$user" >/dev/null; then
  echo "fleetcfg: there is no user $user on this host" >&2
  exit 67
fi
fc_as "$user" "$@"
