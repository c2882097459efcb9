#!/bin/sh
# Records the nft ruleset Debian's firewalld writes (default zone "public", plus a port and a
# rich rule) into test/lab/nft-rulesets/firewalld-public.{json,nft}, for test/lab/nft-generators.test.ts.
# firewalld runs in a network and mount namespace of its own, with a private /run and its own
# system dbus; only runtime changes are made (nothing under /etc changes). Needs root and
# `apt-get install firewalld` (Debian's policy-rc.d keeps the service from starting on install).
#   usage: sudo scripts/record-firewalld.sh
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/test/lab/nft-rulesets"
mkdir -p "$out"
if [ "${1:-}" != "--inside" ]; then
  exec unshare --net --mount --fork "$0" --inside
fi
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/dbus
ip link set lo up
dbus-daemon --system --fork --nopidfile
firewalld --nofork --nopid >/dev/null 2>&1 &
fw=$!
i=0
until firewall-cmd --state >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -lt 120 ] || { echo "firewalld did not start" >&2; kill "$fw"; exit 1; }
  sleep 0.5
done
firewall-cmd --add-port=8080/tcp >/dev/null
firewall-cmd --add-rich-rule='rule family="ipv4" source address="172.18.0.0/16" drop' >/dev/null
{
  echo "# firewalld $(firewall-cmd --version), zone $(firewall-cmd --get-default-zone): --add-port=8080/tcp, rich rule: ipv4 source 172.18.0.0/16 drop"
  nft list ruleset
} > "$out/firewalld-public.nft"
nft -j list ruleset > "$out/firewalld-public.json"
kill "$fw"
wait "$fw" 2>/dev/null || true
echo "recorded $out/firewalld-public.json ($(wc -c < "$out/firewalld-public.json") bytes)"
