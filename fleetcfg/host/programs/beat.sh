# fleetcfg-apply: beat v1
# Runs COMMAND (a command line of argvs quoted by fleetcfg) under the lock's
# heartbeat, as the install program runs its restart: meanwhile a background
# loop touches BEAT every EVERY seconds and BUSY names this program (see
# fc_beat), so that a --break-lock refuses the lock while dockerd restarts,
# even when the fleetcfg run that started it is gone. Exits with COMMAND's
# status.
export LC_ALL=C
umask 077
beat=$1 busy=$2 every=$3 command=$4
fc_beat "$beat" "$busy" "$every"
trap fc_rest EXIT
s=0
eval "$command" || s=$?
fc_rest
exit "$s"
