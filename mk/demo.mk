# SPDX-License-Identifier: GPL-2.0
# The demo's C program must exist before the demo initramfs part copies demo/.
demo-bin:
	@$(MAKE) --no-print-directory -C demo

$(IR)/demo.cpio: demo-bin

demo-clean:
	@$(MAKE) --no-print-directory -C demo clean

clean: demo-clean

.PHONY: demo-bin demo-clean
