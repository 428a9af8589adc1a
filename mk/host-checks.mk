# SPDX-License-Identifier: GPL-2.0
#
# Checks that run on the build host, with no VM and no module loaded: the user-space host
# tests (argument parsing, JSON, the copy planner, the baseline file; AddressSanitizer and
# UBSan) and a DKMS build of the module against the headers of every Debian kernel of KVER.
# `make test` runs them after the VMs and counts each as one result.
#
#   make host-check    both, with a verdict in $(B)/host/verdict.json

HOST_DKMS_KVER := $(filter-out %-debug,$(KVER))

host-check: | $(DEPS)
	@mkdir -p $(B)/host
	@p=0; f=0; \
	if env -u MAKEFLAGS -u MAKEOVERRIDES -u MFLAGS -u TESTS \
		$(MAKE) --no-print-directory -C tools check > $(B)/host/unit.log 2>&1; then \
		p=$$((p + 1)); echo "=== host tests (ASan/UBSan): ok"; \
	else \
		f=$$((f + 1)); echo "=== host tests (ASan/UBSan): FAILED, log $(B)/host/unit.log"; \
		tail -n 30 $(B)/host/unit.log | sed 's/^/    | /'; \
	fi; \
	if [ -n "$(HOST_DKMS_KVER)" ]; then \
		if $(MAKE) --no-print-directory dkms-check KVER="$(HOST_DKMS_KVER)" \
			> $(B)/host/dkms.log 2>&1; then \
			p=$$((p + 1)); echo "=== dkms build for $(HOST_DKMS_KVER): ok"; \
		else \
			f=$$((f + 1)); echo "=== dkms build for $(HOST_DKMS_KVER): FAILED, log $(B)/host/dkms.log"; \
			tail -n 30 $(B)/host/dkms.log | sed 's/^/    | /'; \
		fi; \
	fi; \
	ok=false; [ $$f -eq 0 ] && ok=true; \
	printf '{"label": "host", "passed": %d, "failed": %d, "skipped": 0, "pass": %s}\n' \
		$$p $$f $$ok > $(B)/host/verdict.json

# The tools' own TESTS must not be overridden by `make test TESTS=...`, hence the clean
# environment for that sub-make.
# `make test` runs SELFTEST_TARGET and sums VERDICTS in its recipe, after every mk/ file
# was read.
SELFTEST_TARGET += host-check
VERDICTS += $(B)/host/verdict.json

.PHONY: host-check
