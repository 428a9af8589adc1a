#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 66-tool-persist-power: persistent tracking across reboots, on the power-cut protocol
# (tests/README.md). ext4 on the scratch disk holds area1's backing file, its sidecar and
# area2.
#  boot 1  attach --persist, writes, a first (full) sync, more writes; the device is left
#          attached and idle, then a clean reboot (`tloop-cut --clean-reboot`: reboot(2),
#          whose reboot notifier saves the sets);
#  boot 2  attach: restore trusted, no message; the sync is incremental and exact; more
#          writes and the device left attached, then a power cut (sysrq-b): the sidecar
#          stays marked in use;
#  boot 3  attach: a message says the sets are not trusted, restore unclean; the sync is
#          a full copy and exact.
# tloop-power: boots=3 disk=64
# tloop-timeout: 300
set -u

boot=${TLOOP_BOOT:-}
disk=${TLOOP_DISK:-}
. "${0%/*}/lib/tlt.sh"

echo "KTAP version 1"
[ -n "$boot" ] && [ -b "$disk" ] ||
	bail "not in a power-cut boot (TLOOP_BOOT '$boot', TLOOP_DISK '$disk')"
M=/mnt/p
modprobe ext4 || bail "modprobe ext4"
mkdir -p $M
if [ "$boot" = 1 ]; then
	/sbin/mke2fs -q -F -t ext4 "$disk" || bail "mke2fs"
fi
mount -t ext4 "$disk" $M || bail "mount $disk"
cd $M || bail "cd"
dev=""
cleanup() {
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
	cd /
	umount $M 2>/dev/null
}
trap cleanup EXIT

attach() {
	dev=$(tloop attach --persist a.sets a.img 2> att.err) || bail "attach: $(cat att.err)"
	PAGE=$(page_size "$dev")
}
# writes N... - write one random page at each page N of the device, flushed.
writes() {
	for p; do
		dd if=/dev/urandom of="$dev" bs="$PAGE" seek="$p" count=1 conv=notrunc,fsync \
			2>/dev/null || return 1
	done
}

case $boot in
1)
	truncate -s 8M a.img || bail "truncate"
	attach
	res "boot 1: a new sidecar" restore_is new
	writes 1 2 3 500
	res "boot 1: first sync is full and exact" sh -c "tloop sync --create '$dev' b.img |
		grep -q 'full copy' && cmp -s '$dev' b.img"
	writes 7 8 1000
	sync
	# The device stays attached, idle: the reboot notifier saves its sets.
	tloop-cut --clean-reboot "device attached and idle"
	;;
2)
	attach
	res "boot 2: no message at attach" [ ! -s att.err ]
	res "boot 2: restore trusted after a clean reboot" restore_is trusted
	res "boot 2: sync after the clean reboot is incremental and exact" synced incremental b.img
	writes 11 12
	res "boot 2: sync again, incremental and exact" synced incremental b.img
	writes 20 21 1500
	sync
	tloop-cut "device attached, sets in memory only"
	;;
*)
	attach
	res "boot 3: after a power cut, a message says the sets are not trusted" \
		grep -q "not trusted" att.err
	[ "$failed" = 0 ] || diag "attach said: $(cat att.err)"
	res "boot 3: restore unclean" restore_is unclean
	res "boot 3: sync after the power cut is a full copy, exact" synced full b.img
	res "boot 3: then incremental again" sh -c "dd if=/dev/urandom of='$dev' bs=$PAGE seek=3 \
		count=1 conv=notrunc,fsync 2>/dev/null && tloop sync '$dev' b.img |
		grep -q 'incremental copy' && cmp -s '$dev' b.img"
	res "boot 3: detach" tloop detach "$dev"
	dev=""
	echo "1..$n"
	;;
esac
exit $failed
