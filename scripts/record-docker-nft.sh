#!/bin/sh
# Records the nft ruleset of Docker's nft firewall backend (`"firewall-backend": "nftables"`,
# tables `ip docker-bridges`) as JSON, for test/lab/nft-generators.test.ts. Docker cannot run here:
# the ruleset is moby's own golden file for its nftabler (one bridge "br-dummy", a published
# port 8080 -> 192.168.0.2:80, ICC on, masquerade by SNAT), test/lab/nft-rulesets/docker-bridges.nft,
# copied from github.com/moby/moby at commit b985e2313a8676e18072b442911fc8f64f17d440,
# daemon/libnetwork/drivers/bridge/internal/nftabler/testdata/TestNftabler/
# hairpin=false,internal=false,icc=true,masq=true,snat=true,gwm=nat,bindlh=false__ip.golden.
# It is loaded with `nft -f` into a fresh network namespace and listed with `nft -j`; nft 1.0.6
# (Debian 12) refuses the name `dstnat` on the output hook, so that chain gets its number, -100.
# Needs root.
#   usage: sudo scripts/record-docker-nft.sh
set -eu
dir="$(cd "$(dirname "$0")/.." && pwd)/test/lab/nft-rulesets"
unshare --net sh -c "grep -v '^#' '$dir/docker-bridges.nft' | sed 's/hook output priority dstnat;/hook output priority -100;/' | nft -f - && nft -j list ruleset" > "$dir/docker-bridges.json"
echo "recorded $dir/docker-bridges.json ($(wc -c < "$dir/docker-bridges.json") bytes)"
