# The two commands of the quick start: `make run` and `make test`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install clean lpbuildd

# launchpad-buildd 206, the reference slave, needs Debian's python3-apt, so
# it gets its own venv on the system Python; the suite drives it when
# LAUNCHPAD_BUILDD_PYTHON names that venv's interpreter.
LPB_VENV := .venv-lpbuildd
LPB_STAMP := $(LPB_VENV)/.installed

$(STAMP): setup.py
	@command -v dpkg-buildpackage >/dev/null && command -v fakeroot >/dev/null && \
	  command -v apt-ftparchive >/dev/null && command -v gpg >/dev/null || \
	  { echo "Installing the Debian tools (dpkg-dev, fakeroot; apt-utils and gnupg publish the archives)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dpkg-dev fakeroot build-essential apt-utils gnupg; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(LPB_STAMP):
	@/usr/bin/python3 -c 'import apt' 2>/dev/null || \
	  { echo "Installing python3-apt for launchpad-buildd"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-apt python3-venv; }
	/usr/bin/python3 -m venv --system-site-packages $(LPB_VENV)
	$(LPB_VENV)/bin/pip install --quiet launchpad-buildd==206 service_identity
	# Debian's pyOpenSSL is too old for the cryptography service_identity brings.
	$(LPB_VENV)/bin/pip install --quiet --ignore-installed pyOpenSSL
	touch $(LPB_STAMP)

lpbuildd: $(LPB_STAMP)

# Run the whole suite; on PostgreSQL when BUILDMASTER_TEST_DB_URL is set.
test: $(STAMP) $(LPB_STAMP)
	LAUNCHPAD_BUILDD_PYTHON=$(CURDIR)/$(LPB_VENV)/bin/python $(BIN)/pytest

# A whole farm on this machine under var/demo/: the SQLite database with
# sample data, two real slaves, two real packages uploaded and built by
# the master in the foreground.  Ctrl-C stops it all.
run: $(STAMP)
	$(BIN)/python -m buildmaster.demo

clean:
	rm -rf $(VENV) $(LPB_VENV) var *.egg-info
