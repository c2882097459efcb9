#!/bin/sh
# hostcheck-capture.sh: the raw bundle of `hostcheck capture`, for hosts without Node 20
# (CentOS 7, Alibaba Cloud Linux 2, Amazon Linux 2: glibc older than 2.28). POSIX sh, no Node.
# Writes the same files and meta.json as src/collect (sources.ts, bundle.ts); analyse the bundle
# elsewhere with `hostcheck --bundle DIR`. Only reads: never changes the host, asks no network.
#
#   sudo sh hostcheck-capture.sh --out DIR [--name NAME]
#   sh hostcheck-capture.sh --redact < FILE    # what a copied file keeps: secrets become <redacted>
set -u

VERSION=0.1.0            # hostcheck's version this script matches (test/lab/capture-script.test.ts)
BUNDLE_FORMAT=1
NET_ADMIN_HINT='run as root, or grant CAP_NET_ADMIN and CAP_NET_RAW'
OUT=
NAME=
REDACT_ONLY=
ARGV_JSON=
for a in "$@"; do ARGV_JSON="${ARGV_JSON:+$ARGV_JSON, }$(printf '%s' "$a" | sed 's/\\/\\\\/g; s/"/\\"/g; s/^/"/; s/$/"/')"; done
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=${2:-}; shift 2 || break ;;
    --name) NAME=${2:-}; shift 2 || break ;;
    --redact) REDACT_ONLY=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "hostcheck-capture.sh: unknown argument $1 (--out DIR [--name NAME])" >&2; exit 2 ;;
  esac
done
[ -n "$OUT$REDACT_ONLY" ] || { echo "hostcheck-capture.sh: --out DIR is required" >&2; exit 2; }
LC_ALL=C; export LC_ALL
TMP=$(mktemp -d "${TMPDIR:-/tmp}/hostcheck-capture.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

# The secrets rules of src/collect/redact.ts, line by line (PSKs, private keys, swanctl secret/pin,
# credentials in URLs and JSON): each secret value becomes <redacted>, the lines stay.
REDACT_AWK='
function urls(s,   out, m, p) {
  out = ""
  while (match(s, /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\/@"'\'' \t]+@/)) {
    m = substr(s, RSTART, RLENGTH); p = index(m, "://")
    out = out substr(s, 1, RSTART - 1) substr(m, 1, p + 2) R "@"
    s = substr(s, RSTART + RLENGTH)
  }
  return out s
}
function jsonkeys(s,   out, m, i, q) {
  out = ""
  while (match(tolower(s), /"[^"]*(pass|secret|token|credential|auth)[^"]*"[ \t]*:[ \t]*"[^"]*"/)) {
    m = substr(s, RSTART, RLENGTH - 1); q = 0
    for (i = length(m); i > 0; i--) if (substr(m, i, 1) == "\"") { q = i; break }
    out = out substr(s, 1, RSTART - 1) substr(m, 1, q) R "\""
    s = substr(s, RSTART + RLENGTH)
  }
  return out s
}
BEGIN { R = "<redacted>"; n = 0; pem = 0 }
{
  line = $0
  if (pem) { if (line ~ /-----END [A-Z0-9 ]*PRIVATE KEY-----/) pem = 0; else line = R }
  else {
    if (line ~ /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/) pem = 1
    if (match(line, /(^|[ \t{])(secret|pin)([ \t]*=[ \t]*|[ \t]+)[^ \t]/)) {
      e = RSTART + RLENGTH - 1; rest = substr(line, e); t = ""
      if (match(rest, /[ \t]}[ \t]*$/)) t = substr(rest, RSTART)
      line = substr(line, 1, e - 1) R t
    }
    else if (match(toupper(line), /^(.*[ \t])?:[ \t]*(PSK|RSA|ECDSA|EAP|XAUTH|NTLM|P12|PKCS8|PIN|PPK|BLISS)[ \t]/)) line = substr(line, 1, RLENGTH - 1) " " R
    else if (match(line, /^[ \t]*(PrivateExponent|Prime1|Prime2|Exponent1|Exponent2|Coefficient)[ \t]*:[ \t]*[^ \t]/)) line = substr(line, 1, RLENGTH - 1) R
    line = jsonkeys(urls(line))
  }
  if (line != $0) n++
  printf "%s%s", (NR > 1 ? "\n" : ""), line
}
END { if (nl) printf "\n"; print n > cnt }'
# redact FILE: the file with its secrets redacted on stdout; the number of lines changed in $TMP/redacted.
redact() {
  # No -s test: /proc files (stat/nf_conntrack) report size 0 yet end in a newline.
  nl=0; [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] && nl=1
  awk -v nl=$nl -v cnt="$TMP/redacted" "$REDACT_AWK" "$1"
}
if [ -n "$REDACT_ONLY" ]; then cat > "$TMP/in" && redact "$TMP/in"; exit $?; fi
mkdir -p "$OUT" || exit 2

# Milliseconds since the epoch (GNU date; whole seconds where %N is not supported).
now_ms() { t=$(date +%s%N); case $t in *N) echo $(( $(date +%s) * 1000 )) ;; *) echo $(( t / 1000000 )) ;; esac; }

# A JSON string of a file's exact bytes: \ " and control characters escaped, newlines kept.
json_file() {
  awk 'BEGIN { for (i = 1; i < 32; i++) if (i != 9 && i != 10 && i != 13) ctl[sprintf("%c", i)] = sprintf("\\u%04x", i); printf "\"" }
    NR > 1 { printf "\\n" }
    { gsub(/\\/, "&&"); gsub(/"/, "\\\""); gsub(/\t/, "\\t"); gsub(/\r/, "\\r")
      out = ""; n = length($0)
      for (i = 1; i <= n; i++) { c = substr($0, i, 1); out = out ((c in ctl) ? ctl[c] : c) }
      printf "%s", out }' "$1"
  # awk drops the final newline; put it back when the file has one.
  [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] && printf '\\n'
  printf '"'
}
json_str() { printf '%s' "$1" > "$TMP/str"; json_file "$TMP/str"; }

SOURCES_JSON=
# add_source JSON-OBJECT-BODY: one entry of meta.json's "sources", in collection order.
add_source() { SOURCES_JSON="${SOURCES_JSON:+$SOURCES_JSON,
}    { $1 }"; }

# cmd NAME FILE REQUIRED PERMISSION-HINT ABSENT-MEANING ARGV...: one command source (run-command.ts).
cmd() {
  name=$1 file=$2 required=$3 hint=$4 absent=$5; shift 5
  argv=; for a in "$@"; do argv="${argv:+$argv, }$(json_str "$a")"; done
  started=$(now_ms)
  if command -v "$1" >/dev/null 2>&1; then
    "$@" > "$OUT/$file" 2> "$TMP/stderr"; code=$?
    found=1
  else
    : > "$TMP/stderr"; found=0
  fi
  ms=$(( $(now_ms) - started ))
  base="\"name\": \"$name\", \"file\": \"$file\", \"kind\": \"command\", \"required\": $required, \"argv\": [$argv]"
  stderr=; [ -s "$TMP/stderr" ] && stderr=", \"stderr\": $(json_file "$TMP/stderr")"
  if [ $found = 0 ]; then
    rm -f "$OUT/$file"
    add_source "$base, \"status\": \"unavailable\", \"message\": $(json_str "$1: command not found${absent:+ ($absent)}"), \"durationMs\": $ms"
  elif [ $code = 0 ]; then
    add_source "$base, \"status\": \"collected\", \"exitCode\": 0$stderr, \"durationMs\": $ms"
  else
    rm -f "$OUT/$file"
    if grep -qiE 'permission denied|operation not permitted|you must be root|must be run as root' "$TMP/stderr"; then
      msg="$1: permission denied${hint:+ — $hint}"
    else
      first=$(sed -n '/[^[:space:]]/{s/^[[:space:]]*//;p;q;}' "$TMP/stderr"); [ -n "$first" ] || first='no output on stderr'
      msg="$1: exit code $code: $first"
    fi
    add_source "$base, \"status\": \"failed\", \"exitCode\": $code$stderr, \"message\": $(json_str "$msg"), \"durationMs\": $ms"
  fi
}

# file_source NAME FILE PATH ABSENT-MEANING: a configuration file copied as it is.
file_source() {
  name=$1 file=$2 path=$3 absent=$4
  started=$(now_ms)
  base="\"name\": \"$name\", \"file\": \"$file\", \"kind\": \"file\", \"required\": false, \"path\": $(json_str "$path")"
  if [ ! -e "$path" ]; then
    add_source "$base, \"status\": \"unavailable\", \"message\": $(json_str "$path: $absent"), \"durationMs\": $(( $(now_ms) - started ))"
  elif [ -r "$path" ] && redact "$path" > "$OUT/$file" 2>/dev/null; then
    r=$(cat "$TMP/redacted"); [ "$r" = 0 ] && r= || r=", \"redacted\": $r"
    add_source "$base, \"status\": \"collected\"$r, \"durationMs\": $(( $(now_ms) - started ))"
  else
    rm -f "$OUT/$file"
    add_source "$base, \"status\": \"failed\", \"message\": $(json_str "$path: permission denied — run as root"), \"durationMs\": $(( $(now_ms) - started ))"
  fi
}

# The routing-relevant sysctls in `sysctl -a` form, as src/collect/sysctl.ts reads them.
sysctls() {
  for key in net/ipv4/ip_forward net/ipv4/fwmark_reflect net/ipv4/tcp_fwmark_accept \
    net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables net/ipv4/icmp_ratelimit; do
    v=$(cat "/proc/sys/$key" 2>/dev/null) && printf '%s = %s\n' "$(echo "$key" | tr / .)" "$v"
  done
  for fam in ipv4 ipv6; do
    if [ $fam = ipv4 ]; then keys='rp_filter forwarding ignore_routes_with_linkdown accept_local src_valid_mark proxy_arp arp_filter log_martians'
    else keys='forwarding force_forwarding ignore_routes_with_linkdown disable_ipv6'; fi
    [ -d "/proc/sys/net/$fam/conf" ] || continue
    for dir in /proc/sys/net/$fam/conf/*; do
      dev=${dir##*/}
      for k in $keys; do
        v=$(cat "$dir/$k" 2>/dev/null) && printf 'net.%s.conf.%s.%s = %s\n' "$fam" "$(echo "$dev" | tr . /)" "$k" "$v"
      done
    done
  done
}

# Docker's networks from the Engine API (curl --unix-socket), one inspect object per network.
docker_networks() {
  sock=/var/run/docker.sock
  started=$(now_ms)
  base='"name": "docker-networks", "file": "docker-networks.json", "kind": "docker-api", "required": false, "path": "/var/run/docker.sock"'
  status=failed
  if [ ! -S "$sock" ]; then
    status=unavailable msg="docker: no socket at $sock (Docker not installed or not running)"
  elif ! command -v curl >/dev/null 2>&1 || ! curl --help all 2>/dev/null | grep -q -- --unix-socket; then
    msg='docker: this curl has no --unix-socket (curl 7.40 or later needed)'
  elif ! curl -sf --unix-socket "$sock" http://docker/networks > "$TMP/networks" 2> "$TMP/curl"; then
    msg="docker: GET /networks failed: $(head -n 1 "$TMP/curl")"
  else
    { printf '['; sep=
      for id in $(grep -o '"Id":"[0-9a-f]*"' "$TMP/networks" | cut -d'"' -f4); do
        printf '%s' "$sep"; sep=,
        curl -sf --unix-socket "$sock" "http://docker/networks/$id" || exit 1
      done
      printf ']\n'; } > "$OUT/docker-networks.json" && status=collected
    msg='docker: GET /networks/{id} failed'
  fi
  ms=$(( $(now_ms) - started ))
  if [ $status = collected ]; then add_source "$base, \"status\": \"collected\", \"durationMs\": $ms"
  else rm -f "$OUT/docker-networks.json"; add_source "$base, \"status\": \"$status\", \"message\": $(json_str "$msg"), \"durationMs\": $ms"; fi
}

STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
T0=$(now_ms)
# Same order and argv as SOURCES in src/collect/sources.ts.
cmd ip-route-v4 ip-route-v4.txt true '' '' ip -4 route show table all
cmd ip-route-v6 ip-route-v6.txt true '' '' ip -6 route show table all
cmd ip-rule-v4 ip-rule-v4.txt true '' '' ip -4 rule show
cmd ip-rule-v6 ip-rule-v6.txt true '' '' ip -6 rule show
cmd ip-addr ip-addr.txt true '' '' ip -d addr show
cmd ip-link ip-link.txt true '' '' ip -d link show
cmd ip-neigh ip-neigh.txt false '' '' ip neigh show
cmd ip-route-v4-json ip-route-v4.json false '' 'iproute2 older than 4.17 has no usable -j' ip -4 -j route show table all
cmd ip-route-v6-json ip-route-v6.json false '' '' ip -6 -j route show table all
cmd ip-rule-v4-json ip-rule-v4.json false '' '' ip -4 -j rule show
cmd ip-rule-v6-json ip-rule-v6.json false '' '' ip -6 -j rule show
cmd ip-addr-json ip-addr.json false '' '' ip -d -j addr show
cmd ip-link-json ip-link.json false '' '' ip -d -j link show
cmd iptables-save iptables-save.txt true "$NET_ADMIN_HINT" 'iptables not installed' iptables-save -c
cmd ip6tables-save ip6tables-save.txt true "$NET_ADMIN_HINT" 'iptables not installed' ip6tables-save -c
cmd iptables-legacy-save iptables-legacy-save.txt false "$NET_ADMIN_HINT" 'iptables-legacy not installed' iptables-legacy-save -c
cmd ip6tables-legacy-save ip6tables-legacy-save.txt false "$NET_ADMIN_HINT" 'iptables-legacy not installed' ip6tables-legacy-save -c
before_nft=$SOURCES_JSON
cmd nft nft.json false "$NET_ADMIN_HINT" 'nftables CLI not installed; native nft tables cannot be seen' nft -j list ruleset
# An nft without JSON (built without it, or before 0.9) exits non-zero: its `nft -a list ruleset`
# text is read instead, the status saying so (src/collect/collect.ts nftTextFallback).
if [ $found = 1 ] && [ $code != 0 ]; then
  started=$(now_ms)
  if nft -a list ruleset > "$OUT/nft.txt" 2> "$TMP/stderr"; then
    SOURCES_JSON=$before_nft
    stderr=; [ -s "$TMP/stderr" ] && stderr=", \"stderr\": $(json_file "$TMP/stderr")"
    add_source "\"name\": \"nft\", \"file\": \"nft.txt\", \"kind\": \"command\", \"required\": false, \"argv\": [\"nft\", \"-a\", \"list\", \"ruleset\"], \"status\": \"collected\", \"exitCode\": 0$stderr, \"format\": \"nft-text\", \"message\": $(json_str "nft -j failed ($msg): read \`nft -a list ruleset\` text instead"), \"durationMs\": $(( ms + $(now_ms) - started ))"
  else
    rm -f "$OUT/nft.txt"
  fi
fi
cmd ipset ipset.txt false "$NET_ADMIN_HINT" 'ipset not installed' ipset save
cmd ip-xfrm-policy ip-xfrm-policy.txt true "$NET_ADMIN_HINT" '' ip xfrm policy show
started=$(now_ms); sysctls > "$OUT/sysctl.txt"
if [ -d /proc/sys/net/ipv4/conf ]; then
  add_source "\"name\": \"sysctl\", \"file\": \"sysctl.txt\", \"kind\": \"sysctl\", \"required\": true, \"path\": \"/proc/sys\", \"status\": \"collected\", \"durationMs\": $(( $(now_ms) - started ))"
else
  add_source "\"name\": \"sysctl\", \"file\": \"sysctl.txt\", \"kind\": \"sysctl\", \"required\": true, \"path\": \"/proc/sys\", \"status\": \"failed\", \"message\": \"sysctl: cannot read /proc/sys/net/ipv4/conf\", \"durationMs\": 0"
fi
# TC_FILTERS in src/collect/sources.ts: every device's ingress and egress tc filters.
TC_FILTERS='for d in $(ls /sys/class/net); do for dir in ingress egress; do out=$(tc filter show dev "$d" $dir 2>/dev/null) && [ -n "$out" ] && printf "dev %s %s\n%s\n" "$d" "$dir" "$out"; done; done; true'
cmd tc-filter tc-filter.txt false "$NET_ADMIN_HINT" '' sh -c "$TC_FILTERS"
file_source ipvs ipvs.txt /proc/net/ip_vs 'absent (no IPVS here: kube-proxy does not run in ipvs mode)'
# CONNTRACK_SYSCTLS in src/collect/sources.ts: connection tracking's size and fill as sysctl -a lines.
CONNTRACK_SYSCTLS='cd /proc/sys/net/netfilter 2>/dev/null && for k in nf_conntrack_count nf_conntrack_max nf_conntrack_buckets nf_conntrack_udp_timeout nf_conntrack_udp_timeout_stream nf_conntrack_tcp_timeout_established; do [ -r "$k" ] && echo "net.netfilter.$k = $(cat "$k")"; done; true'
cmd conntrack-sysctl conntrack-sysctl.txt false '' '' sh -c "$CONNTRACK_SYSCTLS"
file_source conntrack-stat conntrack-stat.txt /proc/net/stat/nf_conntrack 'absent (nf_conntrack not loaded: no connection tracking here)'
# CONNTRACK_STATS in src/collect/sources.ts: conntrack -S only where nf_conntrack is loaded and conntrack-tools installed.
CONNTRACK_STATS='if [ -e /proc/net/stat/nf_conntrack ] && command -v conntrack >/dev/null 2>&1; then exec conntrack -S; fi'
cmd conntrack-stats conntrack-stats.txt false "$NET_ADMIN_HINT" '' sh -c "$CONNTRACK_STATS"
file_source docker-daemon docker-daemon.json /etc/docker/daemon.json 'absent (Docker defaults apply if Docker is installed)'
docker_networks
file_source swanctl-conf swanctl.conf /etc/swanctl/swanctl.conf 'absent (no strongSwan swanctl configuration)'
file_source ipsec-conf ipsec.conf /etc/ipsec.conf 'absent (no strongSwan/libreswan ipsec.conf)'

# Tool versions: the first line each prints (identity.ts and collect.ts's probes), keys sorted.
VERSIONS=
for t in 'iproute2 ip -V' 'ipset ipset --version' 'iptables iptables --version' 'nft nft --version'; do
  set -- $t; key=$1; shift
  if command -v "$1" >/dev/null 2>&1 && out=$("$@" 2>&1 < /dev/null); then
    line=$(printf '%s\n' "$out" | sed -n '/[^[:space:]]/{s/^[[:space:]]*//;s/[[:space:]]*$//;p;q;}')
    [ -n "$line" ] && VERSIONS="${VERSIONS:+$VERSIONS, }\"$key\": $(json_str "$line")"
  fi
done

# The OS name from the release files, by systeminformation's rules (identity.ts osName).
os_name() {
  files=; for f in /etc/*-release; do [ -f "$f" ] && files="$files $f"; done
  # shellcheck disable=SC2086
  cat $files /usr/lib/os-release /etc/openwrt_release 2>/dev/null | awk '
    index($0, "=") { split($0, kv, "="); k = toupper(kv[1]); gsub(/^[ \t]+|[ \t]+$/, "", k); v = kv[2]; gsub(/^[ \t]+|[ \t]+$/, "", v); r[k] = v }
    END {
      distro = (r["DISTRIB_ID"] != "") ? r["DISTRIB_ID"] : ((r["NAME"] != "") ? r["NAME"] : "unknown"); gsub(/"/, "", distro)
      version = r["VERSION"]; gsub(/"/, "", version)
      pretty = r["PRETTY_NAME"]; gsub(/"/, "", pretty)
      if (index(pretty, distro " ") == 1) { version = substr(pretty, length(distro) + 2); gsub(/^[ \t]+|[ \t]+$/, "", version) }
      if (index(version, "(") > 0) { version = substr(version, 1, index(version, "(") - 1); gsub(/^[ \t]+|[ \t]+$/, "", version) }
      rel = (version != "") ? version : ((r["DISTRIB_RELEASE"] != "") ? r["DISTRIB_RELEASE"] : ((r["VERSION_ID"] != "") ? r["VERSION_ID"] : "unknown")); gsub(/"/, "", rel)
      print distro " " rel
    }'
}

MACHINE_ID=$(tr -d ' \t\n' < /etc/machine-id 2>/dev/null)
{
  printf '{\n  "bundleFormat": %s,\n  "hostcheckVersion": "%s",\n  "argv": [%s],\n' "$BUNDLE_FORMAT" "$VERSION" "$ARGV_JSON"
  printf '  "hostname": %s,\n' "$(json_str "$(uname -n)")"
  [ -n "$NAME" ] && printf '  "name": %s,\n' "$(json_str "$NAME")"
  [ -n "$MACHINE_ID" ] && printf '  "machineId": %s,\n' "$(json_str "$MACHINE_ID")"
  printf '  "os": %s,\n  "kernel": %s,\n' "$(json_str "$(os_name)")" "$(json_str "$(uname -r)")"
  printf '  "startedAt": "%s",\n  "durationMs": %s,\n' "$STARTED_AT" "$(( $(now_ms) - T0 ))"
  printf '  "toolVersions": {%s},\n  "sources": [\n%s\n  ]\n}\n' "$VERSIONS" "$SOURCES_JSON"
} > "$OUT/meta.json"
echo "hostcheck-capture.sh: wrote $OUT (analyse with: hostcheck --bundle $OUT)" >&2
