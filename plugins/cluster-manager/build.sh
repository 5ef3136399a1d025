#!/usr/bin/env bash
# Builds the plugin into a .so that POST /api/plugins/load accepts as a file.
#
#   ./build.sh [output.so]     default: kubestellar-cluster-manager.so here
#
# A native plugin loads only if it was built exactly as the server was, so by
# hand this asks the server binary to build it (`ksplugins build`, found on
# the PATH, in $KSPLUGINS, or as ../../bin/ksplugins after `make build`);
# PLUGIN_CACHE_DIR chooses its build cache as it does for the server.
#
# The server runs this script too when it builds the folder itself: then
# PLUGIN_OUTPUT names the file it wants and KSPLUGINS_BUILD_FLAGS its flags,
# and the script is already inside the server's build module.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"

if [ -n "${PLUGIN_OUTPUT:-}" ]; then
	# -ldflags=-w drops DWARF, as the server's own builds do: half the link time.
	exec go build -buildmode=plugin -ldflags=-w ${KSPLUGINS_BUILD_FLAGS:-} -o "$PLUGIN_OUTPUT" .
fi

out="${1:-$dir/kubestellar-cluster-manager.so}"
ksplugins="${KSPLUGINS:-}"
if [ -z "$ksplugins" ]; then
	if command -v ksplugins >/dev/null 2>&1; then
		ksplugins=ksplugins
	elif [ -x "$dir/../../bin/ksplugins" ]; then
		ksplugins="$dir/../../bin/ksplugins"
	else
		echo "build.sh: no ksplugins binary; run make build at the repository root, or set KSPLUGINS" >&2
		exit 1
	fi
fi
"$ksplugins" build -o "$out" "$dir"
