# fleetcfg-facts: unit v4
# systemctl show UNIT (at most SHOW_CAP bytes of it, else exit 3), then (when ExecStart uses $VARIABLES) each
# EnvironmentFile=: "file SIZE PATH" and at most CAP bytes of it, or
# "unreadable 0 PATH", "toolarge SIZE PATH" (more than CAP bytes), "absent 0 PATH".
export LC_ALL=C TZ=UTC
unit=$1 cap=$2 show_cap=$3
fc_out='' fc_over=0 # set by fc_capture (lib.sh), which evals the command
# shellcheck disable=SC2016
fc_capture "$show_cap" 'systemctl show "$unit" -p LoadState -p ActiveState -p SubState \
  -p MainPID -p ExecStart -p FragmentPath -p DropInPaths -p Environment -p EnvironmentFiles \
  -p ActiveEnterTimestamp -p ExecMainStartTimestamp'
s=$?
if [ "$fc_over" = 1 ]; then
  echo "systemctl show $unit printed more than $show_cap bytes" >&2
  exit 3
fi
out=$fc_out
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
    n=${n##* }
    if [ "$n" -gt "$cap" ]; then
      printf 'toolarge %s %s\n' "$n" "$f"
      continue
    fi
    printf 'file %s %s\n' "$n" "$f"
    head -c "$n" -- "$f"
  elif [ -e "$f" ]; then
    printf 'unreadable 0 %s\n' "$f"
  else
    printf 'absent 0 %s\n' "$f"
  fi
done
exit 0
