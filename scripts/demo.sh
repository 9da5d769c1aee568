#!/usr/bin/env bash
# The main job: a private system-like D-Bus, the daemon with its embedded local CA, and a
# short demo with getcert.  Keeps the daemon in the foreground until Ctrl-C, unless
# DEMO_ONLY=1, which stops after the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
RUN=$(pwd)/.run
rm -rf "$RUN"; mkdir -p "$RUN"/{bus,state/requests,state/cas,state/local,state/config,state/tmp,certs}
chmod 0700 "$RUN/state"

cat > "$RUN/bus/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$RUN/bus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/> <allow receive_type="method_return"/>
    <allow receive_type="error"/> <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include ignore_missing="no">$(pwd)/data/dbus/org.fedorahosted.certmonger.conf</include>
</busconfig>
CONF

dbus-daemon --config-file="$RUN/bus/bus.conf" --nofork --nopidfile & BUS_PID=$!
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$RUN/bus/system_bus_socket"
export CERTMONGER_REQUESTS_DIR=$RUN/state/requests CERTMONGER_CAS_DIR=$RUN/state/cas \
       CERTMONGER_LOCAL_CA_DIR=$RUN/state/local CERTMONGER_CONFIG_DIR=$RUN/state/config \
       CERTMONGER_TMPDIR=$RUN/state/tmp CERTMONGER_SYSTEM_LOCK_FILE=$RUN/state/lock
for _ in $(seq 100); do [ -S "$RUN/bus/system_bus_socket" ] && break; sleep 0.05; done

"$PY" -m pycertmonger.daemon -S -n & DAEMON_PID=$!
cleanup() { kill "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true
            kill "$BUS_PID" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

getcert() { "$PY" -m pycertmonger.getcert.cli "$@"; }
for _ in $(seq 200); do getcert list >/dev/null 2>&1 && break; sleep 0.05; done

echo "== getcert request -c local (embedded local CA) =="
getcert request -w -c local -I demo-web -f "$RUN/certs/web.crt" -k "$RUN/certs/web.key" \
    -N CN=demo.example.test -D demo.example.test -F "$RUN/certs/ca.crt" \
    -C "/bin/sh -c 'echo post-save ran > $RUN/certs/post-save.txt'"
echo "== getcert request -c SelfSign, EC P-256 =="
getcert request -w -c SelfSign -I demo-ec -f "$RUN/certs/ec.crt" -k "$RUN/certs/ec.key" \
    -G EC -g 256 -N CN=ec.example.test
echo "== getcert list =="
getcert list
echo "== files =="
ls -l "$RUN/certs"
openssl verify -CAfile "$RUN/certs/ca.crt" "$RUN/certs/web.crt"

if [ "${DEMO_ONLY:-0}" = 1 ]; then
    echo "DEMO_ONLY=1: stopping."
    exit 0
fi
echo
echo "The daemon keeps running (state in $RUN/state). In another shell:"
echo "  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"
echo "  $PY -m pycertmonger.getcert.cli list"
echo "Press Ctrl-C to stop."
wait "$DAEMON_PID"
