#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# test-stdout.sh TLOOP VERSION_FILE - host test of the tool's end: output that
# cannot be written (here /dev/full) is an error with a message and exit
# status 1 for every command that prints (util-linux's close_stdout), and
# --version prints the version of the top-level VERSION file.  Needs no
# module: list and list --json print a header or an empty array without one.
tloop=$1
version=$(cat "$2")
fails=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT

check() {
	if [ "$1" = 0 ]; then echo "ok - $2"; else echo "FAIL - $2"; fails=$((fails + 1)); fi
}

ver=$("$tloop" --version 2>"$err"); rc=$?
major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}
case "$ver" in
"tloop $version (libtloop $major.$minor, ABI "[0-9]*")") ok=0 ;;
*) ok=1 ;;
esac
[ $rc = 0 ] && [ ! -s "$err" ] || ok=1
check $ok "--version prints the VERSION file's $version: '$ver'"

for cmd in "--version" "help" "help written" "help dirty" "sync --help" "list" "list --json"; do
	# shellcheck disable=SC2086 # the words of $cmd are the arguments
	"$tloop" $cmd > /dev/full 2>"$err"; rc=$?
	msg=$(cat "$err")
	ok=1
	[ $rc = 1 ] && [ "$msg" = "tloop: write error on standard output: No space left on device" ] &&
		ok=0
	check $ok "tloop $cmd > /dev/full: status $rc (expected 1), message '$msg'"
	# shellcheck disable=SC2086
	"$tloop" $cmd > /dev/null 2>"$err"; rc=$?
	ok=1
	[ $rc = 0 ] && [ ! -s "$err" ] && ok=0
	check $ok "tloop $cmd > /dev/null: status $rc (expected 0), stderr '$(cat "$err")'"
done

# A usage error writes nothing to standard output: its status stays 2.
"$tloop" frobnicate > /dev/full 2>"$err"; rc=$?
ok=1
[ $rc = 2 ] && grep -q "unknown command 'frobnicate'" "$err" && ! grep -q 'write error' "$err" &&
	ok=0
check $ok "a usage error with a full stdout: status $rc (expected 2), no write error"

[ $fails = 0 ] && echo "test-stdout: ok" && exit 0
echo "test-stdout: $fails failed"
exit 1
