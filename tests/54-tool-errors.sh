#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 54-tool-errors: every refusal of the tloop tool gives the right exit
# status (1 failure, 2 usage) and a message naming the device or file and
# the reason, and changes nothing on disk: a missing file, an unknown
# command or option, detaching a busy device, and sync into a wrong-size
# area2, into the device itself, into its backing file, into a read-only
# location, into a missing area2.  After all that the written set and the
# baseline are intact: the next sync is incremental and exact.
# tloop-timeout: 120
set -u

. "${0%/*}/lib/tlt.sh"
sum() {
	md5sum < "$1" | cut -d' ' -f1
}
ndevs() {
	ls -d /sys/block/tloop* 2>/dev/null | wc -l
}
cleanup() {
	exec 5<&- 2>/dev/null
	umount rofs 2>/dev/null
	umount rofs2 2>/dev/null
	[ -n "$dev" ] && tloop detach "$dev" 2>/dev/null
}
dev=
trap cleanup EXIT

echo "KTAP version 1"
echo "1..24"

before=$(ndevs)
res "attach of a missing file: status 1, names the file and the error" \
	fails 1 "/nonexistent/x.img: No such file or directory" tloop attach /nonexistent/x.img
res "... and attaches nothing" [ "$(ndevs)" = "$before" ]
res "unknown command: status 2" fails 2 "unknown command 'frobnicate'" tloop frobnicate
res "unknown option: status 2" fails 2 "unknown option '--frobnicate'" tloop list --frobnicate
res "option of another command: status 2" fails 2 "'--fsync' does not apply" \
	tloop written --fsync tloop0
res "missing operand: status 2" fails 2 "expected DEV and AREA2" tloop sync tloop0
res "not a tloop device: status 1" fails 1 "/dev/null: not a tloop device" tloop status /dev/null
res "no such device: status 1" fails 1 "/dev/tloop999: No such file or directory" \
	tloop status /dev/tloop999

truncate -s 8M a.img
dev=$(tloop attach --track a.img)
PAGE=$(page_size "$dev")
page "$dev" 0 16
tloop sync --create "$dev" b.img > /dev/null
page "$dev" 1 2
sync
before=$(tloop written "$dev")
diag "device $dev, written pages: $(echo $before)"

exec 5< "$dev"
res "detach of a busy device: status 1, names device and error" \
	fails 1 "$dev: detach failed: Device or resource busy" tloop detach "$dev"
res "... and the device stays" sh -c "[ -b $dev ] && [ -d /sys/block/${dev#/dev/} ]"
exec 5<&-

sa=$(sum a.img)
sb=$(sum b.img)
ss=$(sum b.img.tloop)
sd=$(sum "$dev")

truncate -s 4M w.img
page w.img 0 4
sw=$(sum w.img)
res "sync into a wrong-size area2: status 1, says both sizes" \
	fails 1 "w.img is 4194304 bytes, $dev is 8388608 bytes (use --resize)" \
	tloop sync "$dev" w.img
res "... w.img unchanged, no sidecar" \
	sh -c "[ \$(stat -c %s w.img) = 4194304 ] && [ \$(md5sum < w.img | cut -d' ' -f1) = $sw ] &&
	       [ ! -e w.img.tloop ]"

res "sync into the device itself: status 1" fails 1 "$dev is the device itself" \
	tloop sync "$dev" "$dev"
res "sync into its backing file: status 1" fails 1 "a.img is the backing file of $dev" \
	tloop sync "$dev" a.img

mkdir rofs rofs2
mount -t tmpfs -o ro,size=16M tmpfs rofs
res "sync --create into a read-only location: status 1" \
	fails 1 "rofs/x.img: Read-only file system" tloop sync --create "$dev" rofs/x.img
mount -t tmpfs -o size=16M tmpfs rofs2
truncate -s 8M rofs2/x.img
mount -o remount,ro rofs2
res "sync into an existing file on a read-only mount: status 1" \
	fails 1 "rofs2/x.img: Read-only file system" tloop sync "$dev" rofs2/x.img
res "sync into a missing area2 without --create: status 1" \
	fails 1 "missing.img (use --create to create it): No such file or directory" \
	tloop sync "$dev" missing.img
res "... and creates nothing" sh -c "[ ! -e missing.img ] && [ ! -e rofs/x.img ] &&
	[ ! -e missing.img.tloop ]"

res "nothing changed: backing file, area2, sidecar, device" \
	sh -c "[ \$(md5sum < a.img | cut -d' ' -f1) = $sa ] &&
	       [ \$(md5sum < b.img | cut -d' ' -f1) = $sb ] &&
	       [ \$(md5sum < b.img.tloop | cut -d' ' -f1) = $ss ] &&
	       [ \$(md5sum < $dev | cut -d' ' -f1) = $sd ]"
now=$(tloop written "$dev")
res "nothing changed: the written set" [ "$now" = "$before" ]
out=$(tloop sync "$dev" b.img)
res "the next sync is incremental: 2 pages" \
	sh -c "echo '$out' | grep -q 'incremental copy, 2 pages'"
[ $? -eq 0 ] || diag "$out"
res "... and exact" cmp -s "$dev" b.img

res "track on while on: status 1" fails 1 "$dev: tracking is already on" tloop track on "$dev"
tloop track off "$dev"
res "written with tracking off: status 1" fails 1 "$dev: tracking is off" tloop written "$dev"

exit $failed
