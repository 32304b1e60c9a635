#!/usr/bin/env bash
# The one command that runs every test of fn-runner (README "Run the tests";
# .ci/run calls exactly this). It installs what the tests need first:
#   - Debian packages: the real peers (distribution registry, h2load, skopeo,
#     kubectl, openssl, htpasswd, Prometheus and its promtool);
#   - a Python venv in .venv with grpcio (the real gRPC client and server);
# then runs fmt, clippy and `cargo test` (unit + the one integration binary).
# Run it as root (CI does): besides apt, the image smoke test (tests/image)
# runs the static binary with chroot(8); it builds that binary itself with
# cargo into target/static (about 2 minutes the first time).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, installed only when a command is missing.
need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have docker-registry || need_apt+=(docker-registry)
have h2load          || need_apt+=(nghttp2-client)
have skopeo          || need_apt+=(skopeo)
have htpasswd        || need_apt+=(apache2-utils)
have openssl         || need_apt+=(openssl)
have chroot          || need_apt+=(coreutils)
have kubectl         || need_apt+=(kubernetes-client)
have python3         || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
need_prometheus=
have prometheus && have promtool || need_prometheus=1
if [ "${#need_apt[@]}" -gt 0 ] || [ -n "$need_prometheus" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "tests/run.sh: missing ${need_apt[*]} ${need_prometheus:+prometheus}; run as root or install them" >&2
		exit 1
	fi
	apt() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }
	apt update -qq
	if [ "${#need_apt[@]}" -gt 0 ]; then
		apt install -y -qq "${need_apt[@]}" >/dev/null
	fi
	if [ -n "$need_prometheus" ]; then
		# The tests start their own Prometheus (tests/support/prometheus.rs):
		# the package's daemon (and the node exporter it recommends) must not
		# start and stay behind, so services are refused while it installs.
		policy=/usr/sbin/policy-rc.d
		made_policy=
		if [ ! -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
		fi
		apt install -y -qq --no-install-recommends prometheus >/dev/null
		if [ -n "$made_policy" ]; then rm -f "$policy"; fi
	fi
fi

# Python peers: grpcio in a local venv (no stubs generated: the tests speak
# raw protobuf bytes through grpcio's generic API).
if ! .venv/bin/python -c 'import grpc' 2>/dev/null; then
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check 'grpcio>=1.60'
fi
export FN_RUNNER_PYTHON="$PWD/.venv/bin/python"

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --all-targets "$@" 2>&1 | tee "$log" || status=$?
# One closing line for every test binary together.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
