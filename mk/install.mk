# SPDX-License-Identifier: GPL-2.0
#
# Installing tloop on a real host (included by the top-level Makefile):
#   make install        the module for the running kernel (INSTALL_KVER) into
#                       /lib/modules/<release>/extra + depmod, and install-user
#   make install-user   the tloop tool, libtloop (.a, .so), its headers, libtloop.pc, man pages
#   make uninstall      remove what install put in place
#   make dkms           the module's source as /usr/src/tloop-<version>/ and `dkms add` it
#   make dkms-check     `dkms build` against the headers of every kernel in KVER, in a
#                       private DKMS tree under build/ (nothing is installed; CI runs it)
# DESTDIR (staging root) and PREFIX (default /usr/local) are honoured; with DESTDIR set,
# depmod works on the staged tree (-b) and dkms is not called.

# The one version of everything (tool, library, module, DKMS package): VERSION.
TLOOP_VERSION := $(shell cat VERSION)
TLOOP_SOVERSION := $(word 1,$(subst ., ,$(TLOOP_VERSION)))
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL_KVER ?= $(shell uname -r)
INSTALL_KDIR ?= /lib/modules/$(INSTALL_KVER)/build
INSTALL ?= install
DKMS_SRC = $(DESTDIR)/usr/src/tloop-$(TLOOP_VERSION)

install: install-module install-user

# install_man SRC DEST - a man page with VERSION in its .TH footer.
define install_man
	@mkdir -p $(dir $(2))
	sed 's/^\(\.TH .*\)"tloop [^"]*"/\1"tloop $(TLOOP_VERSION)"/' $(1) > $(2)
	@chmod 0644 $(2)
endef

install-module:
	@if [ ! -f "$(INSTALL_KDIR)/Makefile" ]; then \
		echo "install: no kernel build tree at $(INSTALL_KDIR): install linux-headers-$(INSTALL_KVER)," >&2; \
		echo "  or set INSTALL_KVER=<release> (and INSTALL_KDIR=<headers dir>), or run make install-user" >&2; \
		exit 1; \
	fi
	@rm -rf $(B)/install/$(INSTALL_KVER) && mkdir -p $(B)/install/$(INSTALL_KVER)
	@cp -r module uapi VERSION $(B)/install/$(INSTALL_KVER)/
	$(MAKE) -C $(INSTALL_KDIR) M=$(B)/install/$(INSTALL_KVER)/module modules
	$(INSTALL) -D -m 0644 $(B)/install/$(INSTALL_KVER)/module/tloop.ko \
		$(DESTDIR)/lib/modules/$(INSTALL_KVER)/extra/tloop.ko
	depmod $(if $(DESTDIR),-b $(DESTDIR)) $(INSTALL_KVER)

install-user:
	$(MAKE) -C lib all PREFIX=$(PREFIX) LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR)
	$(MAKE) -C tools
	$(INSTALL) -D -m 0755 tools/tloop $(DESTDIR)$(SBINDIR)/tloop
	$(INSTALL) -D -m 0644 lib/libtloop.a $(DESTDIR)$(LIBDIR)/libtloop.a
	$(INSTALL) -D -m 0755 lib/libtloop.so.$(TLOOP_SOVERSION) \
		$(DESTDIR)$(LIBDIR)/libtloop.so.$(TLOOP_SOVERSION)
	ln -sf libtloop.so.$(TLOOP_SOVERSION) $(DESTDIR)$(LIBDIR)/libtloop.so
	$(INSTALL) -D -m 0644 lib/libtloop.h $(DESTDIR)$(INCLUDEDIR)/libtloop.h
	$(INSTALL) -D -m 0644 lib/libtloop-version.h $(DESTDIR)$(INCLUDEDIR)/libtloop-version.h
	$(INSTALL) -D -m 0644 uapi/linux/tloop.h $(DESTDIR)$(INCLUDEDIR)/linux/tloop.h
	$(INSTALL) -D -m 0644 lib/libtloop.pc $(DESTDIR)$(PKGCONFIGDIR)/libtloop.pc
	$(call install_man,man/tloop.8,$(DESTDIR)$(MANDIR)/man8/tloop.8)
	$(call install_man,man/tloop.4,$(DESTDIR)$(MANDIR)/man4/tloop.4)
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig > /dev/null; then ldconfig; fi

uninstall:
	rm -f $(DESTDIR)/lib/modules/$(INSTALL_KVER)/extra/tloop.ko
	rm -f $(DESTDIR)$(SBINDIR)/tloop $(DESTDIR)$(LIBDIR)/libtloop.a \
		$(DESTDIR)$(LIBDIR)/libtloop.so.$(TLOOP_SOVERSION) $(DESTDIR)$(LIBDIR)/libtloop.so \
		$(DESTDIR)$(INCLUDEDIR)/libtloop.h $(DESTDIR)$(INCLUDEDIR)/libtloop-version.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/tloop.h \
		$(DESTDIR)$(PKGCONFIGDIR)/libtloop.pc $(DESTDIR)$(MANDIR)/man8/tloop.8 \
		$(DESTDIR)$(MANDIR)/man4/tloop.4
	@if [ -d "$(DESTDIR)/lib/modules/$(INSTALL_KVER)" ]; then \
		depmod $(if $(DESTDIR),-b $(DESTDIR)) $(INSTALL_KVER); fi

# dkms_tree SRC - copy the module's source tree for DKMS into SRC.
define dkms_tree
	rm -rf $(1) && mkdir -p $(1)/module $(1)/uapi/linux
	cp module/Kbuild module/Makefile module/compat.sh module/*.c module/*.h $(1)/module/
	cp VERSION $(1)/VERSION
	sed 's/@VERSION@/$(TLOOP_VERSION)/g' module/dkms.conf.in > $(1)/dkms.conf
	cp uapi/linux/tloop.h $(1)/uapi/linux/tloop.h
endef

dkms:
	$(call dkms_tree,$(DKMS_SRC))
	@if [ -z "$(DESTDIR)" ]; then \
		if dkms status -m tloop -v $(TLOOP_VERSION) | grep -q .; then \
			echo "dkms: tloop/$(TLOOP_VERSION) is already added"; \
		else \
			dkms add -m tloop -v $(TLOOP_VERSION); \
		fi; \
		echo "next: dkms build tloop/$(TLOOP_VERSION) && dkms install tloop/$(TLOOP_VERSION)"; \
	fi

# A private DKMS tree per run and kernel: source, build and install trees all under build/dkms.
# A kernel built in a Debian build root (ci/kernel-env.sh) is checked with that root's dkms
# and compiler, as on a host of that Debian release.
DKMS_PRIV = $(B)/dkms
DKMS_OPTS = --dkmstree $(DKMS_PRIV)/$$k/tree --sourcetree $(DKMS_PRIV)/src \
	--installtree $(DKMS_PRIV)/$$k/inst
# A throw-away signing key, so that the host's /var/lib/dkms stays untouched.
DKMS_ENV = mok_signing_key=$(DKMS_PRIV)/mok.key mok_certificate=$(DKMS_PRIV)/mok.pub

dkms-check: | $(DEPS)
	@command -v dkms > /dev/null || { echo "dkms-check: dkms is not installed" >&2; exit 1; }
	@rm -rf $(DKMS_PRIV) && mkdir -p $(DKMS_PRIV)
	$(call dkms_tree,$(DKMS_PRIV)/src/tloop-$(TLOOP_VERSION))
	@set -e; for k in $(KVER); do \
		$(call kscript,$$k) $$k > /dev/null; \
		rel=$$(cat $(KCACHE)/$$k/release); kdir=$$(cat $(KCACHE)/$$k/kdir); \
		mkdir -p $(DKMS_PRIV)/$$k/tree $(DKMS_PRIV)/$$k/inst; \
		echo "=== dkms build tloop/$(TLOOP_VERSION) for $$rel ($$kdir$$( \
			[ -f $(KCACHE)/$$k/buildroot ] && echo ", in the $$(cat $(KCACHE)/$$k/buildroot) build root"))"; \
		ci/kernel-env.sh $$k --bind $(DKMS_PRIV) -- env $(DKMS_ENV) sh -ec \
			"dkms add $(DKMS_OPTS) -m tloop -v $(TLOOP_VERSION) > /dev/null; \
			dkms build $(DKMS_OPTS) -m tloop -v $(TLOOP_VERSION) -k $$rel --kernelsourcedir $$kdir" || { \
			cat $(DKMS_PRIV)/$$k/tree/tloop/$(TLOOP_VERSION)/build/make.log 2>/dev/null; exit 1; }; \
		ko=$$(find $(DKMS_PRIV)/$$k/tree/tloop/$(TLOOP_VERSION)/$$rel -name 'tloop.ko*' | head -n 1); \
		[ -n "$$ko" ] || { echo "dkms-check: no tloop.ko for $$rel" >&2; exit 1; }; \
		echo "=== $$rel: $$ko"; \
	done

.PHONY: install install-module install-user uninstall dkms dkms-check
