# fleetcfg-facts: unit v1
export LC_ALL=C TZ=UTC
unit=$1
out=$(systemctl show "$unit" -p LoadState -p ActiveState -p SubState -p MainPID -p ExecStart \
  -p FragmentPath -p DropInPaths -p Environment -p EnvironmentFiles -p ActiveEnterTimestamp)
s=$?
printf '%s\n' "$out"
[ "$s" -eq 0 ] || exit "$s"
case $out in *'$'*) ;; *) exit 0 ;; esac
printf '#fleetcfg-envfiles\n'
printf '%s\n' "$out" | while IFS= read -r line; do
  case $line in EnvironmentFiles=/*) ;; *) continue ;; esac
  f=${line#EnvironmentFiles=}
  f=${f% (ignore_errors=*)}
  if [ -f "$f" ] && [ -r "$f" ]; then
    n=$(wc -c <"$f")
    printf 'file %s %s\n' "${n##* }" "$f"
    cat -- "$f"
  elif [ -e "$f" ]; then
    printf 'unreadable 0 %s\n' "$f"
  else
    printf 'absent 0 %s\n' "$f"
  fi
done
exit 0
