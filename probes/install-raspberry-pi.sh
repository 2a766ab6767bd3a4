#!/usr/bin/env bash
# Install netmeasure as a field probe on Raspberry Pi OS (Debian 12 based) or any Debian.
#   sudo ./install-raspberry-pi.sh [PATH_TO_NETMEASURE_SOURCE_OR_WHEEL | netmeasure-qos]
# (without an argument: this checkout; netmeasure-qos: from the package index once released; the
# index's "netmeasure" is an unrelated project.)
# Installs: iperf3, gpsd, ModemManager; a 'netmeasure' system user; a virtual environment in
# /opt/netmeasure/venv with the probe's dependencies only (no DuckDB, no matplotlib);
# unprivileged ICMP for latency; the systemd units. Run it again to upgrade.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 2; }
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  python3 python3-venv iperf3 gpsd modemmanager iproute2 ca-certificates

id netmeasure >/dev/null 2>&1 || useradd --system --home /var/lib/netmeasure \
  --shell /usr/sbin/nologin netmeasure
install -d -o netmeasure -g netmeasure /var/lib/netmeasure
install -d /etc/netmeasure /opt/netmeasure

python3 -m venv /opt/netmeasure/venv
/opt/netmeasure/venv/bin/pip install -q --upgrade pip
# The versions tested together (the lock file), not whatever PyPI has today.
here=$(cd "$(dirname "$0")" && pwd)
lock="$here/../constraints.txt"
if [ -f "$lock" ]; then
  /opt/netmeasure/venv/bin/pip install -q -c "$lock" "$src"
else
  echo "warning: no constraints.txt beside the installer: installing unpinned versions" >&2
  /opt/netmeasure/venv/bin/pip install -q "$src"
fi

# Latency by ICMP without root: allow ping sockets for every group (where they stay shut,
# netmeasure falls back to the system ping, package iputils-ping).
echo "net.ipv4.ping_group_range = 0 2147483647" >/etc/sysctl.d/60-netmeasure-ping.conf
# In a container /proc/sys is read-only: the setting applies at the next boot of a real
# system, and netmeasure falls back to the system ping meanwhile. Not a reason to stop here.
if ! sysctl -q -w "net.ipv4.ping_group_range=0 2147483647" 2>/dev/null; then
  echo "note: /proc/sys is read-only here: ping sockets stay as they are (the system ping is used)" >&2
fi

# Clock: a Pi has no real-time clock. The units wait for synchronisation
# (systemd-time-wait-sync.service), which needs systemd-timesyncd (or chrony-wait).
systemctl enable systemd-time-wait-sync.service 2>/dev/null || true
install -m 0644 "$here"/systemd/*.service "$here"/systemd/*.timer /etc/systemd/system/
install -m 0644 "$here/FIELD-GUIDE.md" /opt/netmeasure/FIELD-GUIDE.md
for example in "$here"/campaigns/*.toml; do
  [ -e "/etc/netmeasure/$(basename "$example")" ] || install -m 0644 "$example" /etc/netmeasure/
done
systemctl daemon-reload

cat <<EOT
netmeasure installed. Next:
  1. edit /etc/netmeasure/qcvn126-indoor.toml (probe id, server, environment, area)
  2. sudo -u netmeasure /opt/netmeasure/venv/bin/netmeasure probe check /etc/netmeasure/qcvn126-indoor.toml --store /var/lib/netmeasure/qcvn126-indoor.db
  3. sudo systemctl enable --now netmeasure-probe@qcvn126-indoor
  4. journalctl -fu netmeasure-probe@qcvn126-indoor
EOT
