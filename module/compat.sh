#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Print -D flags describing the block-layer API of the kernel headers in
# $1 (srctree) / $2 (objtree).  Feature tests, not version numbers.
echo ""
