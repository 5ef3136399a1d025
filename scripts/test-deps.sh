#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and does
# nothing where it is already there. Native plugins need cgo, so a C compiler;
# the plugin manager page's tests need a headless Chromium; the PostgreSQL
# store's tests need PostgreSQL's server binaries (they start their own
# server: none is run as a service for them).
set -euo pipefail

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ -n "${KSPLUGINS_PG_BIN:-}" ]; then
	[ -x "$KSPLUGINS_PG_BIN/postgres" ] || { echo "test-deps: no postgres in KSPLUGINS_PG_BIN=$KSPLUGINS_PG_BIN" >&2; exit 1; }
else
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
fi

if ((${#need[@]})); then
	echo "test-deps: installing ${need[*]}"
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
echo "test-deps: ready"
