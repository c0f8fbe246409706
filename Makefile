# The two commands of the quick start: `make run` and `make test`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install clean

$(STAMP): setup.py
	@command -v dpkg-buildpackage >/dev/null && command -v fakeroot >/dev/null || \
	  { echo "Installing the Debian build tools (dpkg-dev, fakeroot)"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dpkg-dev fakeroot; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Run the whole suite; on PostgreSQL when BUILDMASTER_TEST_DB_URL is set.
test: $(STAMP)
	$(BIN)/pytest

# Create the SQLite database with sample data and start the farm.
run: $(STAMP)
	$(BIN)/buildmaster upgrade
	$(BIN)/buildmaster sampledata
	$(BIN)/twistd --pidfile= -n -y buildmaster.tac

clean:
	rm -rf $(VENV) var *.egg-info
