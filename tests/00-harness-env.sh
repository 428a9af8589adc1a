#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 00-harness-env: the VM provides what tests/README.md promises.
# tloop-timeout: 60
set -u

n=0
failed=0
check() {
	name=$1
	shift
	n=$((n + 1))
	if out=$("$@" 2>&1); then
		echo "ok $n $name"
	else
		echo "# $name: '$*' failed: $out"
		echo "not ok $n $name"
		failed=1
	fi
}

echo "KTAP version 1"
echo "1..11"
check "tloop module is loaded" test -d /sys/module/tloop
check "/dev/tloop-control is a character device" test -c /dev/tloop-control
check "the tloop tool is /usr/bin/tloop on the PATH" \
	sh -c '[ "$(command -v tloop)" = /usr/bin/tloop ] && tloop --version'
check "cwd is a fresh directory under /tmp" sh -c '[ "${PWD#/tmp/}" != "$PWD" ] && [ -z "$(ls -A)" ]'
check "TLOOP_SCALE is a positive number" sh -c '[ "${TLOOP_SCALE:-0}" -ge 1 ]'
check "/dev, /proc, /sys, /tmp are mounted" \
	sh -c 'for m in /dev /proc /sys /tmp /run; do grep -q " $m " /proc/mounts || exit 1; done'
check "stock loop module loads" modprobe loop
check "brd, dm-mod and dm-flakey load" sh -c 'modprobe brd rd_nr=1 rd_size=8192 && modprobe dm-flakey'
check "real mke2fs makes ext4 on a ramdisk" /sbin/mke2fs -q -F -t ext4 /dev/ram0
check "e2fsck finds it clean" /sbin/e2fsck -f -n /dev/ram0
check "fio and dmsetup run" sh -c 'fio --version && dmsetup version'
rmmod brd 2>/dev/null
exit $failed
