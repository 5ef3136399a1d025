#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and does
# nothing where it is already there. Native plugins need cgo, so a C compiler;
# the plugin manager page's tests need a headless Chromium.
set -euo pipefail

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -x /usr/bin/chromium ] || need+=(chromium)

if ((${#need[@]})); then
	echo "test-deps: installing ${need[*]}"
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
echo "test-deps: ready"
