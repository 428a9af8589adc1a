# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# ci/apt-private.sh - sourced by the kernel provisioning scripts: an APT configuration of
# tloop's own, in the cache, for downloads only. Whatever suites the host's APT sources name
# (only `bookworm`, a mirror, extra repositories), kernels are looked up in exactly the Debian
# suites their series comes from, checked against the archive keyring every Debian system has
# (package debian-archive-keyring), with lists and downloaded archives of their own. The host's
# APT configuration and package state are never changed, and no root is needed.
#
#   kapt_init PROFILE   set up $TLOOP_CACHE/apt/PROFILE/ and refresh its lists when they are
#                       missing, older than 6 hours, or the sources changed (or KAPT_UPDATE=1)
#   kapt_get ARGS...    apt-get with that configuration (e.g. download PKG)
#   kapt_cache ARGS...  apt-cache with that configuration (e.g. search, depends)
#
# Profiles (the suites of one Debian release, main component only):
#   bookworm   bookworm, bookworm-updates, bookworm-security (Debian 12: kernels 6.1, 6.12)
#   trixie     trixie, trixie-updates, trixie-backports, trixie-security
#   sid        sid
# Environment: TLOOP_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# TLOOP_DEBIAN_SECURITY (default http://deb.debian.org/debian-security).

KAPT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

kapt_die() { echo "apt-private: $*" >&2; exit 1; }

# kapt_sources PROFILE - the sources.list lines of PROFILE.
kapt_sources() {
	local m=${TLOOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	local s=${TLOOP_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
	local o="[signed-by=$KAPT_KEYRING arch=amd64]"
	case $1 in
	bookworm|trixie)
		printf 'deb %s %s %s main\n' "$o" "$m" "$1" "$o" "$m" "$1-updates"
		[ "$1" = trixie ] && printf 'deb %s %s %s main\n' "$o" "$m" "$1-backports"
		printf 'deb %s %s %s main\n' "$o" "$s" "$1-security"
		;;
	sid)
		printf 'deb %s %s %s main\n' "$o" "$m" sid
		;;
	*)
		kapt_die "unknown APT profile '$1' (known: bookworm trixie sid)"
		;;
	esac
}

# kapt_opts - the apt options of the current profile, one per line.
kapt_opts() {
	local d=$KAPT_DIR
	printf '%s\n' \
		-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=$d/empty" \
		-o "Dir::Etc::preferences=$d/preferences" -o "Dir::Etc::preferencesparts=$d/empty" \
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" \
		-o "Dir::State::extended_states=$d/extended_states" \
		-o "APT::Architecture=amd64" -o "APT::Architectures=amd64" \
		-o "Acquire::Languages=none" -o "APT::Sandbox::User=$(id -un)"
}

kapt_get() {
	local opts
	mapfile -t opts < <(kapt_opts)
	apt-get "${opts[@]}" "$@"
}

kapt_cache() {
	local opts
	mapfile -t opts < <(kapt_opts)
	apt-cache "${opts[@]}" "$@"
}

kapt_init() {
	local profile=$1 cache=${TLOOP_CACHE:-$HOME/.cache/tloop} sources age
	command -v apt-get >/dev/null 2>&1 || kapt_die "apt-get not found: this needs a Debian system"
	[ -r "$KAPT_KEYRING" ] ||
		kapt_die "$KAPT_KEYRING missing: install the Debian package debian-archive-keyring"
	KAPT_DIR=$cache/apt/$profile
	mkdir -p "$KAPT_DIR/lists/partial" "$KAPT_DIR/cache/archives/partial" "$KAPT_DIR/empty"
	sources=$(kapt_sources "$profile") || exit 1
	# One refresh at a time per profile (several kernels may be provisioned at once).
	exec 8> "$KAPT_DIR/.lock"
	flock 8
	age=999999
	[ -f "$KAPT_DIR/updated" ] && age=$(( $(date +%s) - $(stat -c %Y "$KAPT_DIR/updated") ))
	if [ "$(cat "$KAPT_DIR/sources.list" 2>/dev/null)" != "$sources" ] ||
		[ "$age" -gt 21600 ] || [ "${KAPT_UPDATE:-0}" = 1 ]; then
		printf '%s\n' "$sources" > "$KAPT_DIR/sources.list"
		rm -f "$KAPT_DIR/updated"
		echo "apt-private: updating the package lists of $profile ($(kapt_suites))" >&2
		if ! kapt_get update -qq --error-on=any >&2; then
			kapt_die "could not download the package lists of $profile ($(kapt_suites))" \
				"from ${TLOOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}: is the" \
				"Debian archive reachable? (TLOOP_DEBIAN_MIRROR names another mirror)"
		fi
		touch "$KAPT_DIR/updated"
	fi
	flock -u 8
}

# kapt_suites - the suites of the current profile, for messages.
kapt_suites() {
	awk '{ print $(NF - 1) }' "$KAPT_DIR/sources.list" | tr '\n' ' ' | sed 's/ $//'
}
