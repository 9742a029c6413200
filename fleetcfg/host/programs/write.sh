# fleetcfg: write v2
# Writes stdin (a first line with the content's SHA256, then the content:
# SIZE bytes) to PATH atomically with MODE and
# OWNER:GROUP. Exit 9: PATH or a folder above it is a symlink, someone else's,
# or writable by others (fc_trusted); 10: no temporary file next to PATH; 11: cannot write it;
# 12: the data arrived incomplete; 13: chmod; 14: chown; 15: the rename.
export LC_ALL=C
umask 077
path=$1 mode=$2 owner=$3 group=$4 size=$5
sum=$(fc_sum) || exit 12
case $path in
*/*) ;;
*) path=./$path ;;
esac
fc_trusted "$path" || exit 9
t=$(fc_stage "$path" "") || exit 10
trap 'rm -f -- "$t"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
fc_fill "$t" "" "$size" "$sum" || exit
chmod "$mode" -- "$t" || exit 13
chown "$owner:$group" -- "$t" || exit 14
fc_commit "$t" "$path" "" || exit 15
trap - EXIT
exit 0
