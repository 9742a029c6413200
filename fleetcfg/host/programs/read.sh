# fleetcfg: read v1
# Prints "MODE OWNER GROUP SIZE" of PATH, then at most CAP bytes of its
# content. Exit 3: absent (stat's message); 4: not a regular file; 6: larger
# than CAP.
export LC_ALL=C
path=$1 cap=$2
if [ -d "$path" ]; then
  echo "fleetcfg: $path is a directory" >&2
  exit 4
fi
s=$(stat -L -c '%a %U %G %s' -- "$path") || exit 3
if [ ! -f "$path" ]; then
  echo "fleetcfg: $path is not a regular file" >&2
  exit 4
fi
n=${s##* }
if [ "$n" -gt "$cap" ]; then
  echo "fleetcfg: $path is $n bytes, more than the $cap bytes fleetcfg reads" >&2
  exit 6
fi
printf '%s\n' "$s"
exec head -c "$cap" -- "$path"
