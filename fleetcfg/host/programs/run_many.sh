# fleetcfg: run-many v1
# Runs each command line (argv lists quoted by fleetcfg) with stdin from
# /dev/null and frames its stdout and stderr with a random marker:
# "\nNONCE INDEX STATUS\n" on stdout, "\nNONCE INDEX\n" on stderr.
# fleetcfg reads a batch's output whole (or not at all), so the output is
# collected by dd and sent in one piece per stream: every write of every
# command would otherwise be an SSH packet of its own for fleetcfg to decrypt
# and dispatch (four per command).
nonce=$1
shift
run() {
  i=0
  for cmd do
    eval "$cmd" </dev/null
    s=$?
    printf '\n%s %d %d\n' "$nonce" "$i" "$s"
    printf '\n%s %d\n' "$nonce" "$i" >&2
    i=$((i + 1))
  done
}
if command -v dd >/dev/null 2>&1; then
  # dd writes its output in blocks of obs bytes (1 MiB): one write at the
  # end for anything smaller, and a command that floods still reaches
  # fleetcfg's output cap a MiB at a time (dd's status lines go to /dev/null)
  { run "$@" 2>&1 >&3 3>&- | dd ibs=65536 obs=1048576 >&2 2>/dev/null 3>&-; } 3>&1 \
    | dd ibs=65536 obs=1048576 2>/dev/null
else
  run "$@"
fi
