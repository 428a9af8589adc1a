#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build tloop's debug test kernel and provision it for the VM harness.
#
#   kernel-debug/build.sh [NAME]          NAME defaults to 6.12-debug
#
# What it does:
#   1. Takes Debian's linux-source-6.12 tarball (downloaded into the cache by
#      ci/kernel-debug.sh), unpacks it under $TLOOP_CACHE/build/NAME-KEY/.
#   2. Configures it: `make tinyconfig`, `make kvm_guest.config`, then
#      kernel-debug/debug.config merged on top, `make olddefconfig`, and checks
#      that every option of the fragment is in the final .config.
#   3. Builds bzImage and the in-tree modules (nice -n $NICE, -j$JOBS).
#   4. Provisions $TLOOP_CACHE/kernels/NAME/ the way ci/kernel-debian.sh does
#      for Debian's kernels, so test-vm/ treats it like them:
#        bzImage   what QEMU boots with -kernel; no vmlinux here, so test-vm/run.sh
#                  boots this. The ELF vmlinux (in kdir, for symbols) does not start
#                  through PVH: its PVH entry calls the KASAN-instrumented memcmp()
#                  before the shadow memory exists and triple-faults at once.
#        release   uname -r of the kernel
#        kdir      path of the built tree; `make -C $(cat kdir) M=...` builds
#                  out-of-tree modules against it (tloop, the self-test modules)
#        modules/lib/modules/RELEASE/   the modules of initramfs/modules.list
#                  with their dependencies (ci/kernel-modules.sh), modules.dep
#        config    the kernel's .config
#        key       the build key (below) and the provisioning key
#        .stamp    written last: the kernel is complete
#
# The build key is the source package's version, a hash of debug.config and
# RECIPE below (bump it when the build steps change what gets built). The
# provisioning key adds initramfs/modules.list. When kernels/NAME/key holds
# both, nothing is done; when only the list changed, or the build tree for
# the key is complete, only provisioning is redone (seconds). Trees of other
# keys for the same NAME are removed once a new one is provisioned. A module
# of modules.list that this configuration does not build fails provisioning:
# add it to debug.config.
#
# Cost, measured on 2 shared cores under nice: see mk/debug-kernel.mk.
#
# Environment: TLOOP_CACHE (default $HOME/.cache/tloop), KSRC_TARBALL
# (default /usr/src/linux-source-6.12.tar.xz), KSRC_PACKAGE (default
# linux-source-6.12), KSRC_VERSION (the source package's version; default: the installed
# package's), JOBS (default: number of CPUs), NICE (default 10). ci/kernel-debug.sh sets
# the KSRC_* variables to the source it downloaded into the cache.

set -eu

# The whole script is one function, read before it runs: editing this file while a build
# is in progress (a long one) cannot make the running shell read shifted lines (that once
# ended a finished build with a syntax error and lost its tree).
main() {

RECIPE=1
# Bump when the provisioned layout changes (re-provisions without rebuilding).
LAYOUT=3

name=${1:-6.12-debug}
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug.config
cache=${TLOOP_CACHE:-$HOME/.cache/tloop}
package=${KSRC_PACKAGE:-linux-source-6.12}
tarball=${KSRC_TARBALL:-/usr/src/$package.tar.xz}
jobs=${JOBS:-$(nproc)}
nice=${NICE:-10}

say() { printf '%s: %s\n' "kernel-debug" "$*" >&2; }
die() { say "error: $*"; exit 1; }

version=${KSRC_VERSION:-$(dpkg-query -W -f='${Version}' "$package" 2>/dev/null)} ||
	die "$package is not installed (run ci/kernel-debug.sh $name)"
[ -n "$version" ] && [ -r "$tarball" ] ||
	die "$tarball missing (run ci/kernel-debug.sh $name)"

key=$( { printf 'recipe %s\npackage %s %s\n' "$RECIPE" "$package" "$version";
	 cat "$fragment"; } | sha256sum | cut -c1-16)
modlist=$here/../initramfs/modules.list
[ -f "$modlist" ] || die "$modlist missing"
provkey=$( { echo "layout $LAYOUT"; cat "$modlist" "$here/../ci/kernel-modules.sh"; } |
	sha256sum | cut -c1-16)

out=$cache/kernels/$name
build=$cache/build/$name-$key
mkdir -p "$cache/kernels" "$cache/build"

# One build per NAME at a time: a second caller waits, then finds it done.
exec 9>"$cache/build/$name.lock"
flock 9

if [ -f "$out/.stamp" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key $provkey" ] &&
   [ -d "$(cat "$out/kdir")" ]; then
	say "$name is up to date ($package $version, key $key): $out"
	exit 0
fi

# The tarball unpacks to one directory named like the package.
src=$build/$package
started=$(date +%s)

if [ ! -f "$build/built" ]; then
	say "cold build of $name: $package $version, key $key, in $build"
	rm -rf "$build"
	mkdir -p "$build"
	tar -xf "$tarball" -C "$build"
	[ -f "$src/Makefile" ] || die "$tarball did not unpack to $src"

	km() { nice -n "$nice" make -C "$src" -s "$@"; }
	km tinyconfig >/dev/null
	km kvm_guest.config >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$src" \
		"$src/.config" "$fragment" >/dev/null
	km olddefconfig >/dev/null

	# Every line of the fragment must have survived the dependency solver.
	missing=0
	grep -E '^(CONFIG_[A-Za-z0-9_]+=|# CONFIG_[A-Za-z0-9_]+ is not set)' \
		"$fragment" | while IFS= read -r line; do
		case $line in
		"# "*)
			opt=${line#\# }
			opt=${opt%% *}
			if grep -q "^$opt=" "$src/.config"; then
				say "config: $opt is set, debug.config wants it off"
				exit 1
			fi
			;;
		*)
			grep -qxF "$line" "$src/.config" || {
				say "config: wanted '$line', got '$(grep "^${line%%=*}=" \
					"$src/.config" || echo "${line%%=*} unset")'"
				exit 1
			}
			;;
		esac
	done || missing=1
	[ "$missing" -eq 0 ] || die "debug.config does not apply cleanly"

	say "building bzImage and modules (nice -n $nice, -j$jobs)"
	nice -n "$nice" make -C "$src" -j"$jobs" bzImage modules >"$build/build.log" 2>&1 ||
		{ tail -n 40 "$build/build.log" >&2; die "build failed, log: $build/build.log"; }
	date +%s >"$build/built"
	say "built in $(( $(date +%s) - started )) s"
fi

# Provision into a fresh directory, then swap it in, so a reader never sees a
# half-written kernel directory.
release=$(make -C "$src" -s kernelrelease)
tmp=$out.new
rm -rf "$tmp"
mkdir -p "$tmp"
staging=$build/modules-staging
rm -rf "$staging"
make -C "$src" -s INSTALL_MOD_PATH="$staging" INSTALL_MOD_STRIP=1 DEPMOD=/bin/true \
	modules_install >/dev/null
rm -f "$staging/lib/modules/$release/build"
"$here/../ci/kernel-modules.sh" "$staging" "$release" "$tmp/modules" >&2
rm -rf "$staging"
cp "$src/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$src/.config" "$tmp/config"
printf '%s\n' "$release" >"$tmp/release"
printf '%s\n' "$src" >"$tmp/kdir"
printf '%s %s\n' "$key" "$provkey" >"$tmp/key"
date -u +%FT%TZ >"$tmp/.stamp"
rm -rf "$out.old"
[ ! -e "$out" ] || mv "$out" "$out.old"
mv "$tmp" "$out"
rm -rf "$out.old"

for old in "$cache/build/$name"-*; do
	[ -d "$old" ] && [ "$old" != "$build" ] || continue
	say "removing the build tree of an older key: $old"
	rm -rf "$old"
done

say "$name ready ($release, key $key) in $(( $(date +%s) - started )) s: $out"
}

main "$@"
exit
