# SPDX-License-Identifier: GPL-2.0
#
#   make fresh-check   README.md's two commands in a fresh minimal Debian 12 root
#                      (ci/fresh-check.sh: debootstrap, a clean clone of HEAD, an empty kernel
#                      cache; the test command narrowed by FRESH_TEST_ENV). Root only.
#                      .ci/run runs it after the test command.

fresh-check:
	@ci/fresh-check.sh

.PHONY: fresh-check
