# The two commands of the quick start: `make run` and `make test`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What running needs (make run); the test extras on top of it (make test).
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install clean lpbuildd debian-tools browser swift

# The Debian tools the farm uses, as command:package: dpkg-dev, fakeroot and
# build-essential (test packages are built on this host); bubblewrap (a
# slave enters each build's chroot with bwrap); mmdebstrap (``buildmaster
# chroot make``); apt-utils and gnupg (apt-ftparchive and gpg publish and
# sign the farm's archives); gpgv (checks signed uploads against [upload]
# keyring); tar with gzip, xz and zstd (chroot tarballs); dput and
# OpenSSH's client (the upload tests send with them, as developers do).
DEBIAN_TOOLS := dpkg-buildpackage:dpkg-dev fakeroot:fakeroot cc:build-essential \
	bwrap:bubblewrap mmdebstrap:mmdebstrap apt-ftparchive:apt-utils gpg:gnupg \
	gpgv:gpgv tar:tar gzip:gzip xz:xz-utils zstd:zstd dput:dput scp:openssh-client

# For make test only: OpenStack Swift's four servers, its ring builder and
# memcached (tempauth keeps its tokens there); the librarian's Swift
# backend is tested against a real single-node Swift on loopback
# (buildmaster/testing/swift.py).  The packages' own services are never
# used: they have no rings in /etc/swift, and the test Swift listens on
# free ports of its own.
SWIFT_TOOLS := swift-proxy-server:swift-proxy swift-account-server:swift-account \
	swift-container-server:swift-container swift-object-server:swift-object \
	swift-ring-builder:swift memcached:memcached

# launchpad-buildd 206, the reference slave, needs Debian's python3-apt (not
# on PyPI), so it gets its own venv on the system Python; the suite drives
# it through LAUNCHPAD_BUILDD_PYTHON.  The venv does not see the host's
# site-packages: everything comes from PyPI, and python3-apt's own modules
# are linked in, nothing else, so a host package (python3-zope.interface,
# whose nspkg .pth claims the zope namespace; an old python3-openssl) can
# neither shadow nor break what the venv installed.  Rebuilt when this
# Makefile changes.
LPB_VENV := .venv-lpbuildd
LPB_STAMP := $(LPB_VENV)/.installed

# $(call install-missing,TOOLS,WHAT): installs the packages of the
# command:package pairs TOOLS whose command is missing, with apt-get; says
# nothing when none is.
define install-missing
	@missing=$$(for tool in $(1); do \
	    command -v $${tool%%:*} >/dev/null || echo $${tool#*:}; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing $(2):" $$missing; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

debian-tools:
	$(call install-missing,$(DEBIAN_TOOLS),the Debian tools)

swift:
	$(call install-missing,$(SWIFT_TOOLS),OpenStack Swift for the librarian's tests)

$(STAMP): setup.py | debian-tools
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP)

$(LPB_STAMP): Makefile
	@/usr/bin/python3 -c 'import apt' 2>/dev/null || \
	  { echo "Installing python3-apt for launchpad-buildd"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-apt python3-venv; }
	/usr/bin/python3 -m venv --clear $(LPB_VENV)
	$(LPB_VENV)/bin/pip install --quiet launchpad-buildd==206 service_identity
	@site=$$($(LPB_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	  for module in $$(dpkg -L python3-apt | grep -E '^/usr/lib/python3/dist-packages/[^/]+$$'); do \
	    ln -sf "$$module" "$$site/"; done
	$(LPB_VENV)/bin/python -c 'import apt, lpbuildd.builder'
	touch $(LPB_STAMP)

lpbuildd: $(LPB_STAMP)

# Debian's chromium, for the dashboard's browser tests (Playwright, from
# the test extras, drives it; it never downloads a browser of its own).
browser:
	@command -v chromium >/dev/null || \
	  { echo "Installing chromium for the browser tests"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# Run the whole suite; on PostgreSQL when BUILDMASTER_TEST_DB_URL is set.
# Never without the reference slave: BUILDMASTER_WITHOUT_LPBUILDD is unset.
test: debian-tools browser swift $(TEST_STAMP) $(LPB_STAMP)
	env -u BUILDMASTER_WITHOUT_LPBUILDD \
	  LAUNCHPAD_BUILDD_PYTHON=$(CURDIR)/$(LPB_VENV)/bin/python $(BIN)/pytest

# A whole farm on this machine under var/demo/: the SQLite database with
# sample data, two real slaves, two real packages uploaded and built by
# the master in the foreground.  Ctrl-C stops it all.
run: debian-tools $(STAMP)
	$(BIN)/python -m buildmaster.demo

clean:
	rm -rf $(VENV) $(LPB_VENV) var *.egg-info
