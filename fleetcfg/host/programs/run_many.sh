# fleetcfg: run-many v1
# Runs each command line (argv lists quoted by fleetcfg) with stdin from
# /dev/null and frames its stdout and stderr with a random marker:
# "\nNONCE INDEX STATUS\n" on stdout, "\nNONCE INDEX\n" on stderr.
nonce=$1
shift
i=0
for cmd do
  eval "$cmd" </dev/null
  s=$?
  printf '\n%s %d %d\n' "$nonce" "$i" "$s"
  printf '\n%s %d\n' "$nonce" "$i" >&2
  i=$((i + 1))
done
