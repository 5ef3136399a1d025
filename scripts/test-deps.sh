#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and does
# nothing where it is already there. Native plugins need cgo, so a C compiler;
# the plugin manager page's tests need a headless Chromium; the PostgreSQL
# store's tests need PostgreSQL's server binaries (they start their own
# server: none is run as a service for them); the http-wasm tier's tests
# build their guests from source with the AssemblyScript compiler and wabt's
# assembler, installed from npm at fixed versions into a cache outside the
# checkout (KSPLUGINS_NODE_TOOLS, else ~/.cache/ksplugins/node).
set -euo pipefail

ASSEMBLYSCRIPT_VERSION="${ASSEMBLYSCRIPT_VERSION:-0.28.20}"
WABT_VERSION="${WABT_VERSION:-1.0.39}"
NODE_TOOLS="${KSPLUGINS_NODE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ksplugins/node}"

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
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

# The versions installed are kept beside node_modules; a change of either
# installs afresh.
want="assemblyscript@$ASSEMBLYSCRIPT_VERSION wabt@$WABT_VERSION"
if [ "$(cat "$NODE_TOOLS/versions" 2>/dev/null)" != "$want" ] ||
	[ ! -x "$NODE_TOOLS/node_modules/.bin/asc" ] || [ ! -x "$NODE_TOOLS/node_modules/.bin/wat2wasm" ]; then
	echo "test-deps: installing $want into $NODE_TOOLS"
	rm -rf "$NODE_TOOLS"
	mkdir -p "$NODE_TOOLS"
	# --prefix keeps npm away from any package.json of the caller's.
	npm install --prefix "$NODE_TOOLS" --no-audit --no-fund --no-save --loglevel=error $want
	echo "$want" >"$NODE_TOOLS/versions"
fi
echo "test-deps: ready"
