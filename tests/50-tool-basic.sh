#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 50-tool-basic: the happy path of every tloop subcommand (attach with each
# option, list, status, track on/off, written (and its alias dirty), written --ranges,
# written --clear,
# clear, sync, detach, detach --all, help, --version), checked against what
# the test wrote and against sysfs.
# tloop-timeout: 120
set -u

. "${0%/*}/lib/tlt.sh"
cleanup() {
	umount mnt 2>/dev/null
	for d in $dev3 $devs; do
		tloop detach "$d" 2>/dev/null
	done
}
devs=
dev3=
trap cleanup EXIT

echo "KTAP version 1"
echo "1..26"

out=$(tloop --version)
res "tloop --version names the tool" sh -c "echo '$out' | grep -q '^tloop [0-9]'"
out=$(tloop help)
res "tloop help lists the commands" sh -c "echo '$out' | grep -q 'tloop sync DEV AREA2'"

truncate -s 8M a.img
dev=$(tloop attach a.img)
devs="$devs $dev"
PAGE=$(page_size "$dev")
dname=${dev#/dev/}
res "attach prints the new device" sh -c "[ -b '$dev' ] && [ -d /sys/block/$dname ]"
diag "attached $dev"

line=$(tloop list | grep "^$dev ")
res "list shows the device, its size, no tracking, the backing file" \
	sh -c "echo '$line' | grep -q '^$dev  *8M  *-  *off  *-  *$PWD/a.img\$'"
[ $? -eq 0 ] || diag "line: $line" "$(tloop list)"
head=$(tloop list | head -n 1)
nohead=$(tloop list -n | head -n 1)
res "list has a header, --noheadings drops it" \
	sh -c "echo '$head' | grep -q '^DEVICE' && ! echo '$nohead' | grep -q '^DEVICE'"
res "list --bytes prints sizes in bytes" sh -c "tloop list --bytes | grep -q '^$dev  *8388608 '"

res "track on" tloop track on "$dev"
st=$(tloop status "$dev")
res "status shows tracking on with 0 written pages" \
	sh -c "echo '$st' | grep -q 'tracking: *on' && echo '$st' | grep -q 'written: *0 pages'"
[ $? -eq 0 ] || diag "$st"

page "$dev" 1 2
page "$dev" 5
res "written lists the written pages" same "written" "$(printf '1\n2\n5')" "$(tloop written "$dev")"
res "written --ranges coalesces them" same "written --ranges" "$(printf '1-2\n5')" \
	"$(tloop written --ranges "$dev")"
res "dirty is an alias of written" same "dirty --ranges" "$(printf '1-2\n5')" \
	"$(tloop dirty --ranges "$dev")"
res "list counts 3 written pages" sh -c "tloop list | grep -q '^$dev .* on  *3 '"
res "written --clear prints and clears" same "written --clear" "$(printf '1\n2\n5')" \
	"$(tloop written --clear "$dev")"
res "after written --clear the set is empty" same "written" "" "$(tloop written "$dev")"

page "$dev" 7
tloop clear "$dev"
res "clear empties the set" same "written after clear" "" "$(tloop written "$dev")"

out=$(tloop sync --create "$dev" b.img)
res "first sync copies everything" sh -c "echo '$out' | grep -q 'full copy, 2048 pages (8M)'"
[ $? -eq 0 ] || diag "$out"
res "area2 equals the device" cmp -s "$dev" b.img

page "$dev" 3
page "$dev" 2000 4
out=$(tloop sync "$dev" b.img)
res "second sync copies only the 5 written pages in 2 runs" \
	sh -c "echo '$out' | grep -q 'incremental copy, 5 pages ($((5 * PAGE / 1024))K) in 2 runs'"
[ $? -eq 0 ] || diag "$out"
res "area2 equals the device again" cmp -s "$dev" b.img

prog=$(tloop sync --progress --full "$dev" b.img 2>&1 > /dev/null)
res "sync --progress reports bytes on stderr (not a terminal: plain lines)" \
	sh -c "echo '$prog' | grep -q '^tloop: sync: progress 8388608/8388608 bytes\$'"
[ $? -eq 0 ] || diag "$prog"

res "track off" tloop track off "$dev"
res "status shows tracking off" sh -c "tloop status '$dev' | grep -q 'tracking: *off'"

truncate -s 8M c.img
dev2=$(tloop attach --read-only --block-size 4096 --size 4M --track c.img)
devs="$devs $dev2"
st=$(tloop status --bytes "$dev2")
res "attach --read-only --block-size 4096 --size 4M --track" \
	sh -c "echo '$st' | grep -q 'size: *4194304 ' && echo '$st' | grep -q 'block size: *4096' &&
	       echo '$st' | grep -q 'flags: *ro\$' && echo '$st' | grep -q 'tracking: *on' &&
	       [ \$(cat /sys/block/${dev2#/dev/}/ro) = 1 ]"
[ $? -eq 0 ] || diag "$st"

# Direct I/O needs a backing filesystem that supports O_DIRECT (tmpfs on 6.1
# does not): an ext4 on another tloop device.
truncate -s 32M fs.img
fsdev=$(tloop attach fs.img)
devs="$devs $fsdev"
mkdir mnt
modprobe ext4 2>/dev/null
mkfs.ext4 -q -F "$fsdev" && mount -t ext4 "$fsdev" mnt || diag "cannot mount ext4 on $fsdev"
truncate -s 1M mnt/d.img
dev3=$(tloop attach --direct-io mnt/d.img)
res "attach --direct-io" sh -c "[ -n '$dev3' ] && tloop status '$dev3' | grep -q 'flags: *dio\$'"
[ -n "$dev3" ] && tloop detach "$dev3"
dev3=
umount mnt
tloop detach "$fsdev"

res "detach two devices" sh -c "tloop detach $dev $dev2 && [ ! -d /sys/block/$dname ] &&
	[ ! -d /sys/block/${dev2#/dev/} ]"
tloop attach a.img > /dev/null
tloop attach c.img > /dev/null
res "detach --all detaches the rest" sh -c "[ \$(tloop list -n | wc -l) = 2 ] && tloop detach --all &&
	[ -z \"\$(tloop list -n)\" ]"
devs=

exit $failed
