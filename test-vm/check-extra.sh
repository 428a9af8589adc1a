#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# test-vm/check-extra.sh [DIR] - TESTS_EXTRA must name a directory whose files are all
# executable tests (they run in the VM after the built-in tests, same protocol).
set -eu

[ -n "${1:-}" ] || exit 0
dir=$1
if [ ! -d "$dir" ]; then
	echo "TESTS_EXTRA=$dir: no such directory" >&2
	exit 1
fi
bad=0
n=0
for f in "$dir"/* "$dir"/.[!.]*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	if [ ! -f "$f" ] || [ ! -x "$f" ]; then
		echo "TESTS_EXTRA: $f is not an executable file (chmod +x it or remove it)" >&2
		bad=1
	fi
	n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
	echo "TESTS_EXTRA=$dir: the directory holds no tests" >&2
	exit 1
fi
exit "$bad"
