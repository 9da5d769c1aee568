# pycertmonger: the two commands of README.md, and a system install.
#   make run    install what is needed, start a private bus + the daemon, run a demo
#   make test   install what is needed (apt packages, .venv) and run the whole test suite
#   make install  put the daemon, getcert, the unit and the D-Bus files in system places

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
INSTALL_VENV ?= /opt/pycertmonger
DBUS_SYSTEM_CONF_DIR ?= /usr/share/dbus-1/system.d
DBUS_SYSTEM_SERVICES_DIR ?= /usr/share/dbus-1/system-services
SYSTEMD_UNIT_DIR ?= /lib/systemd/system

# Debian packages: the bus, NSS tools, build needs of systemd-python and gssapi, and the
# real peers the tests use (stock certmonger for compatibility, pebble, scep, MIT Kerberos,
# FreeIPA's client library).
APT_PACKAGES := dbus libnss3-tools libsystemd-dev pkg-config libkrb5-dev gcc openssl \
	certmonger krb5-kdc krb5-user krb5-admin-server pebble scep python3-ipalib

.PHONY: run test deps venv install clean

deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=""; for p in $(APT_PACKAGES); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "Installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	else echo "Not root or no apt-get: make sure these are installed: $(APT_PACKAGES)"; fi

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'

test: deps venv
	$(PY) -m pytest -q -p no:cacheprovider tests

run: deps venv
	PYTHON=$(abspath $(PY)) bash scripts/demo.sh

install: deps
	$(PYTHON) -m venv $(INSTALL_VENV)
	$(INSTALL_VENV)/bin/pip install -q '.[systemd,kerberos,acme]'
	install -d $(SBINDIR) $(BINDIR)
	ln -sf $(INSTALL_VENV)/bin/certmonger $(SBINDIR)/certmonger
	for c in getcert ipa-getcert local-getcert selfsign-getcert; do \
		ln -sf $(INSTALL_VENV)/bin/$$c $(BINDIR)/$$c; done
	install -D -m 0644 data/dbus/org.fedorahosted.certmonger.conf \
		$(DBUS_SYSTEM_CONF_DIR)/org.fedorahosted.certmonger.conf
	install -D -m 0644 data/dbus/org.fedorahosted.certmonger.service \
		$(DBUS_SYSTEM_SERVICES_DIR)/org.fedorahosted.certmonger.service
	sed 's#/usr/sbin/certmonger#$(SBINDIR)/certmonger#' data/systemd/certmonger.service \
		| install -D -m 0644 /dev/stdin $(SYSTEMD_UNIT_DIR)/certmonger.service
	install -d -m 0755 /var/lib/certmonger/requests /var/lib/certmonger/cas
	install -d -m 0700 /var/lib/certmonger/local
	-systemctl daemon-reload 2>/dev/null

clean:
	rm -rf $(VENV) .run build src/*.egg-info
