#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ci/build-root.sh - a Debian build root for kernels the build host cannot build modules for.
#
# Debian's 7.x kernels are built with a newer compiler (gcc-14 in Debian 13) than a Debian 12
# host has, and their kbuild tools (objtool, resolve_btfids, modpost) need Debian 13's glibc:
# on a Debian 12 host neither the compiler flags nor the tools work. The module for such a
# kernel is built in a minimal root of the kernel's Debian release, made once with debootstrap
# in the cache and reused by every build.
#
#   build-root.sh create PROFILE PKG...
#       make $TLOOP_CACHE/roots/PROFILE (debootstrap --variant=minbase, Debian release
#       PROFILE: bookworm, trixie or sid) holding PKG... (e.g. the kernel's compiler) and what kbuild and
#       dkms need, unless it exists with the same package set. One creation at a time (a lock
#       per root); the root is built in a scratch directory and renamed into place when
#       complete, so an interrupted creation leaves nothing half made (its scratch directory
#       is removed by the next creation). Needs root (debootstrap); prints the root's path.
#   build-root.sh run PROFILE [--bind DIR]... -- COMMAND...
#       run COMMAND in that root, with /proc and each DIR (bind-mounted read-write at the same
#       path, so absolute paths in the kernel headers and the build tree stay valid). The
#       mounts live in a mount namespace of their own (unshare): they vanish with the command,
#       on every exit path, and are never visible on the host. As root, or as a user when
#       unprivileged user namespaces are allowed (the root's files are only read).
# Environment: TLOOP_CACHE, TLOOP_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -eu

say() { printf 'build-root: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

PATH=$PATH:/usr/sbin:/sbin
cache=${TLOOP_CACHE:-$HOME/.cache/tloop}
mirror=${TLOOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# What every root holds besides the packages asked for (the kernel's compiler and its kbuild
# package's libraries and pahole): make and the C library headers for
# kbuild, libelf for objtool, pahole for the modules' BTF, kmod and xz for modules, dkms for
# the DKMS check.
BASE_PKGS="make libc6-dev kmod xz-utils bc dkms"

[ $# -ge 2 ] || die "usage: build-root.sh create PROFILE PKG... | run PROFILE [--bind DIR]... -- CMD..."
cmd=$1 profile=$2
shift 2
case $profile in
bookworm|trixie|sid) ;;
*) die "unknown build root '$profile' (known: bookworm trixie sid)" ;;
esac
root=$cache/roots/$profile

create() {
	local pkgs sum scratch t0 log
	pkgs=$(printf '%s\n' $BASE_PKGS "$@" | sort -u | tr '\n' ' ' | sed 's/ $//')
	sum=$(printf 'debootstrap minbase %s: %s\n' "$profile" "$pkgs" | sha256sum | cut -c1-16)
	if [ -f "$root/.stamp" ] && [ "$(cat "$root/.sum" 2>/dev/null)" = "$sum" ]; then
		printf '%s\n' "$root"
		return 0
	fi
	mkdir -p "$cache/roots"
	exec 7> "$cache/roots/.lock-$profile"
	if ! flock -n 7; then
		say "waiting for another creation of the $profile build root"
		flock 7
	fi
	# Made by the creation we waited for?
	if [ -f "$root/.stamp" ] && [ "$(cat "$root/.sum" 2>/dev/null)" = "$sum" ]; then
		printf '%s\n' "$root"
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "the Debian $profile build root ($root) does not exist yet" \
		"and creating it needs root (debootstrap): run this once as root (e.g. sudo make)," \
		"or create it with: sudo $0 create $profile $*"
	command -v debootstrap >/dev/null ||
		die "debootstrap not found: apt-get install debootstrap (as root)"
	[ -f "/usr/share/debootstrap/scripts/$profile" ] ||
		die "this debootstrap does not know Debian $profile: install a newer debootstrap"
	# Leftovers of an interrupted creation (nothing is mounted there: see below).
	rm -rf --one-file-system "$cache/roots/.new-$profile".*
	scratch=$(mktemp -d "$cache/roots/.new-$profile.XXXXXX")
	log=$cache/roots/$profile.log
	say "creating the Debian $profile build root in $root ($pkgs); log $log"
	t0=$(date +%s)
	# In a mount namespace of its own: whatever debootstrap mounts in the target (/proc, /sys)
	# goes away with it, even when it is killed.
	if ! unshare --mount --propagation private \
		debootstrap --variant=minbase --include="$(echo "$pkgs" | tr ' ' ,)" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		"$profile" "$scratch/root" "$mirror" > "$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -rf --one-file-system "$scratch"
		die "debootstrap of $profile failed (log above, in $log): is $mirror reachable?"
	fi
	# The package caches are not needed again.
	rm -rf "$scratch/root/var/cache/apt/archives/"*.deb "$scratch/root/var/lib/apt/lists/"*_Packages
	printf '%s\n' "$sum" > "$scratch/root/.sum"
	printf '%s\n' "$pkgs" > "$scratch/root/.packages"
	date -u +%FT%TZ > "$scratch/root/.stamp"
	rm -rf --one-file-system "$root"
	mv "$scratch/root" "$root"
	rmdir "$scratch"
	say "$profile build root ready in $(( $(date +%s) - t0 )) s, $(du -sh "$root" | cut -f1)"
	printf '%s\n' "$root"
}

run() {
	local binds=() d
	while [ $# -gt 0 ]; do
		case $1 in
		--bind) [ $# -ge 2 ] || die "--bind needs a directory"
			# The path as given (absolute, symbolic links kept): the mount point has
			# the same name as the paths written in the headers and build files.
			[ -d "$2" ] || die "--bind $2: no such directory"
			d=$(cd "$2" && pwd)
			binds+=("$d")
			shift 2 ;;
		--) shift; break ;;
		*) die "run: unexpected '$1' (expected --bind DIR or --)" ;;
		esac
	done
	[ $# -gt 0 ] || die "run: no command"
	[ -f "$root/.stamp" ] || die "no $profile build root in $root (build-root.sh create $profile)"
	local userns=()
	[ "$(id -u)" -eq 0 ] || userns=(--user --map-root-user)
	# The mount points are created once in the root (empty directories, harmless when shared).
	for d in "${binds[@]}"; do
		[ -d "$root$d" ] || mkdir -p "$root$d" 2>/dev/null ||
			die "cannot create $root$d (the first build of a directory in the root needs root)"
	done
	# The inner shell runs in the new namespace: its mounts are private to it.
	unshare "${userns[@]}" --mount --propagation private /bin/sh -euc '
		root=$1; shift
		mount --rbind /proc "$root/proc"
		while [ "$1" != -- ]; do
			mount --rbind "$1" "$root$1"
			shift
		done
		shift
		exec chroot "$root" /usr/bin/env PWD=/ "$@"
	' sh "$root" "${binds[@]}" -- "$@"
}

case $cmd in
create) create "$@" ;;
run) run "$@" ;;
*) die "unknown command '$cmd' (create or run)" ;;
esac
