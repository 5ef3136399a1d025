#!/usr/bin/env bash
# Installs staticcheck at a fixed version outside the checkout, so that no
# module of the repository has to require it, and prints its path on its
# last line. The binary is kept per staticcheck and Go version: staticcheck
# must be built by a Go at least as new as the code it reads.
#
# Usage: scripts/staticcheck.sh [cache-dir]
set -euo pipefail

STATICCHECK_VERSION="${STATICCHECK_VERSION:-v0.8.2}"
CACHE="${1:-${KSPLUGINS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ksplugins/tools}}"
OUT="$CACHE/staticcheck-$STATICCHECK_VERSION-$(go env GOVERSION)"

if [ ! -x "$OUT/staticcheck" ]; then
	echo "staticcheck: installing $STATICCHECK_VERSION" >&2
	mkdir -p "$CACHE"
	tmp="$(mktemp -d "$CACHE/.tmp-staticcheck-XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	# Outside any module, so that no go.mod or go.work of the caller's
	# chooses the versions; GOFLAGS is the caller's concern, not the tool's.
	(cd "$tmp" && GOFLAGS= GOWORK=off GOBIN="$tmp" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION") >&2
	rm -rf "$OUT"
	mv "$tmp" "$OUT"
	trap - EXIT
fi
echo "$OUT/staticcheck"
