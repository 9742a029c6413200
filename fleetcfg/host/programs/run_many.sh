# fleetcfg: run-many v2
# Runs each command line (argv lists quoted by fleetcfg) with stdin from
# /dev/null and frames its stdout and stderr with a random marker:
# "\nNONCE INDEX STATUS\n" on stdout, "\nNONCE INDEX\n" on stderr.
# A command line "run_many_program PROGRAM ARG..." runs a fleetcfg program
# (what `sh -c PROGRAM sh ARG...` would run) in a subshell of this shell: no
# sh is started for it. It sees none of this shell's variables; $$ is this
# shell's, so such a program uses neither $$ nor traps (see files.py).
# fleetcfg reads a batch's output whole (or not at all), so the output is
# collected by dd and sent in one piece per stream: every write of every
# command would otherwise be an SSH packet of its own for fleetcfg to decrypt
# and dispatch (four per command).
nonce=$1
shift
run_many_program() (
  unset nonce run_many_i run_many_cmd run_many_s
  eval "shift; $1"
)
run_many_each() {
  run_many_i=0
  for run_many_cmd do
    eval "$run_many_cmd" </dev/null
    run_many_s=$?
    printf '\n%s %d %d\n' "$nonce" "$run_many_i" "$run_many_s"
    printf '\n%s %d\n' "$nonce" "$run_many_i" >&2
    run_many_i=$((run_many_i + 1))
  done
}
if command -v dd >/dev/null 2>&1; then
  # dd writes its output in blocks of obs bytes (1 MiB): one write at the
  # end for anything smaller, and a command that floods still reaches
  # fleetcfg's output cap a MiB at a time (dd's status lines go to /dev/null)
  { run_many_each "$@" 2>&1 >&3 3>&- | dd ibs=65536 obs=1048576 >&2 2>/dev/null 3>&-; } 3>&1 \
    | dd ibs=65536 obs=1048576 2>/dev/null
else
  run_many_each "$@"
fi
