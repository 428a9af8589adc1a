#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/fresh-check.sh - prove README.md's two commands on a fresh Debian 12 machine.
#
# Builds a minimal Debian 12 root with debootstrap (variant minbase) whose APT sources are
# those of a default Debian 12 install, puts a clean clone of the committed tree (HEAD) in it,
# mounts what QEMU needs (/proc, /sys, /dev), and runs in it, as root, with an empty kernel
# cache and a clean environment, exactly the two commands of README.md's first code block:
# the demo command as is, the test command narrowed by FRESH_TEST_ENV (environment variables,
# exported before it, default: KVER='6.1 6.12 7' TESTS='00-*' SELFTEST=0; FRESH_TEST_ENV= runs
# the whole suite). Passes only if both exit 0; prints the
# wall time of each. Every exit path (failure, Ctrl-C, kill) unmounts everything and removes
# the root; leftovers of a run that could not clean up (a SIGKILL, a power cut) are cleaned up
# by the next run, which refuses to go on if something stays mounted.
#
# Logs: FRESH_LOGS (default build/fresh-check/): debootstrap.log, demo.log, test.log.
# Environment: FRESH_DIR (default /var/tmp/tloop-fresh-check: the root is FRESH_DIR/root),
# FRESH_TEST_ENV, FRESH_KEEP=1 (keep the root after a failure, unmounted, to look at it),
# TLOOP_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -eu

say() { printf 'fresh-check: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -z "${TLOOP_IN_FRESH_CHECK:-}" ] || die "already inside a fresh-check root: not recursing"
[ "$(id -u)" -eq 0 ] ||
	die "needs root (debootstrap, chroot and mounts): run it as root, e.g. sudo make fresh-check"

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=${FRESH_DIR:-/var/tmp/tloop-fresh-check}
root=$dir/root
logs=${FRESH_LOGS:-$top/build/fresh-check}
mirror=${TLOOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
test_env=${FRESH_TEST_ENV-"KVER='6.1 6.12 7' TESTS='00-*' SELFTEST=0"}
PATH=$PATH:/usr/sbin:/sbin

case $dir in
/|/root|/home|/usr|/var|/var/tmp|/tmp|'') die "FRESH_DIR=$dir: refusing to use it (give a directory of its own)" ;;
esac
command -v git >/dev/null || die "git not found (Debian package git): the clean clone needs it"
git -C "$top" rev-parse --verify -q HEAD >/dev/null || die "$top is not a git checkout with a commit"
[ -z "$(git -C "$top" status --porcelain --untracked-files=no)" ] ||
	say "note: uncommitted changes are not checked (the clone holds HEAD only)"

# The commands: the first two lines of README.md's first code block.
mapfile -t cmds < <(awk '/^```/ { if (inblock) exit; inblock = 1; next } inblock' "$top/README.md")
[ "${#cmds[@]}" -eq 2 ] || die "README.md's first code block does not hold exactly two commands"
case ${cmds[0]} in *'make demo'*) ;; *) die "README's first command does not run make demo: ${cmds[0]}" ;; esac
case ${cmds[1]} in *'make test'*) ;; *) die "README's second command does not run make test: ${cmds[1]}" ;; esac

mkdir -p "$dir" "$logs"
exec 9> "$dir.lock"
flock -n 9 || die "another fresh-check is using $dir (lock $dir.lock)"

# mounts_under D - the mount points at or below D, deepest first.
mounts_under() {
	awk -v d="$1" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' \
		/proc/self/mountinfo | sort -r
}

# cleanup - stop what still runs in the root, unmount everything below it, then remove it.
# Nothing is removed while anything stays mounted (rm never crosses into the host's /dev).
cleanup() {
	local pid m i
	[ -n "${child:-}" ] && kill -KILL -- "-$child" 2>/dev/null
	[ -d "$dir" ] || return 0
	if [ -d "$root" ]; then
		for pid in $(ls /proc | grep -E '^[0-9]+$'); do
			[ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] && kill -KILL "$pid" 2>/dev/null
		done
	fi
	for i in 1 2 3; do
		for m in $(mounts_under "$dir"); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
		[ -z "$(mounts_under "$dir")" ] && break
		sleep 1
	done
	if [ -n "$(mounts_under "$dir")" ]; then
		say "still mounted below $dir, not removing it:"
		mounts_under "$dir" >&2
		return 1
	fi
	if [ "${FRESH_KEEP:-0}" = 1 ] && [ "${status:-1}" -ne 0 ]; then
		say "kept $root (FRESH_KEEP=1)"
		return 0
	fi
	rm -rf --one-file-system "$dir"
}

# runbg COMMAND... - COMMAND in a session of its own, waited for: a signal reaches this script
# at once (bash runs traps only between foreground commands), and cleanup stops the session.
child=
runbg() {
	local rc=0
	setsid "$@" &
	child=$!
	wait "$child" || rc=$?
	child=
	return $rc
}

status=1
if [ -e "$dir/root" ] || [ -n "$(mounts_under "$dir")" ]; then
	say "cleaning up the leftovers of an earlier run in $dir"
	FRESH_KEEP=0 cleanup || die "could not clean up $dir: unmount the paths above, then run again"
	mkdir -p "$dir"
fi
trap 'rc=$?; trap - EXIT INT TERM; cleanup || rc=1; exit $rc' EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2 ||
		die "apt-get install debootstrap failed"
fi

t0=$(date +%s)
say "debootstrap --variant=minbase bookworm $root ($mirror)"
if ! runbg debootstrap --variant=minbase bookworm "$root" "$mirror" > "$logs/debootstrap.log" 2>&1; then
	tail -n 20 "$logs/debootstrap.log" >&2
	die "debootstrap failed (log above): is $mirror reachable?"
fi
t_boot=$(( $(date +%s) - t0 ))

# The APT sources of a default Debian 12 install.
cat > "$root/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian bookworm main non-free-firmware
deb http://deb.debian.org/debian-security bookworm-security main non-free-firmware
deb http://deb.debian.org/debian bookworm-updates main non-free-firmware
EOF
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
git clone -q --no-local "$top" "$root/root/tloop"
commit=$(git -C "$root/root/tloop" rev-parse --short HEAD)

# The root is a mount point of its own, as / is on a real machine (unshare --propagation,
# used by the 7.x build root, fails with EINVAL in a chroot whose / is not one).
mount --bind "$root" "$root"
mount --make-private "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"

# run NAME COMMAND - COMMAND in the root, as root, in a clean environment, from the clone.
run() {
	local name=$1 cmd=$2 t rc=0
	say "$name: $cmd"
	t=$(date +%s)
	runbg env -i HOME=/root TERM=dumb LANG=C.UTF-8 TLOOP_IN_FRESH_CHECK=1 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		chroot "$root" /bin/bash -c "cd /root/tloop && $cmd" > "$logs/$name.log" 2>&1 || rc=$?
	t=$(( $(date +%s) - t ))
	eval "t_$name=$t rc_$name=$rc"
	if [ "$rc" -ne 0 ]; then
		say "$name failed (exit $rc, ${t} s); the end of its output:"
		tail -n 40 "$logs/$name.log" | sed 's/^/    | /' >&2
	else
		say "$name passed (${t} s): $(grep -a 'make test:\|demo' "$logs/$name.log" | tail -n 1)"
	fi
}

run demo "${cmds[0]}"
run test "${test_env:+export $test_env; }${cmds[1]}"

status=0
[ "$rc_demo" -eq 0 ] && [ "$rc_test" -eq 0 ] || status=1
printf 'fresh-check: commit %s, debootstrap %d s, demo %d s (exit %d), test %d s (exit %d) [%s], total %d s: %s\n' \
	"$commit" "$t_boot" "$t_demo" "$rc_demo" "$t_test" "$rc_test" "$test_env" \
	$(( $(date +%s) - t0 )) "$([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
