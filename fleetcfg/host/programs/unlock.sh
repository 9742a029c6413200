# fleetcfg-apply: unlock v1
# Removes the lock when OWNER (its owner file) holds TOKEN, the secret of the
# run that took it: first writes STATE to STATE_PATH when given (state.json
# without the run's pending mark), then deletes the old backups named after
# the named arguments, OWNER and the LOCK folder. Exit 3: the lock is not this
# run's (left as it is); 4: state.json cannot be written; 5: the lock cannot
# be removed.
export LC_ALL=C
umask 077
token=$1 owner=$2 lock=$3 state_path=$4 state=$5
shift 5
grep -qF -- "$token" "$owner" 2>/dev/null || exit 3
if [ -n "$state" ]; then
  fc_put "$state_path" "$state" || exit 4
fi
rm -f -- "$@" "$owner" || exit 5
rmdir -- "$lock" || exit 5
