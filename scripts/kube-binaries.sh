#!/usr/bin/env bash
# Makes ready the real Kubernetes control plane the cluster-manager tests run
# against, in one folder: etcd from Debian's etcd-server package (installed
# when missing) and kube-apiserver built from the Go module proxy. The build
# is cached outside the checkout, keyed by version: cold it takes about five
# to ten minutes on two cores, cached nothing.
#
# Usage: scripts/kube-binaries.sh [cache-dir]
# Prints the folder holding etcd and kube-apiserver on its last line.
set -euo pipefail

if ! command -v etcd >/dev/null 2>&1; then
	echo "kube-binaries: installing etcd-server" >&2
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server >&2
fi

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
# Each k8s.io staging module is published as v0.<minor>.<patch>.
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
CACHE="${1:-${KSPLUGINS_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ksplugins/kube}}"
OUT="$CACHE/$KUBE_VERSION"

if [ -x "$OUT/kube-apiserver" ]; then
	echo "kube-binaries: kube-apiserver $KUBE_VERSION cached" >&2
	ln -sf "$(command -v etcd)" "$OUT/etcd"
	echo "$OUT"
	exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "kube-binaries: building kube-apiserver $KUBE_VERSION (about five minutes the first time on two cores)" >&2
modfile="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
cat > go.mod <<MOD
module ksplugins.local/kubebuild

go $(go env GOVERSION | sed 's/^go//; s/\([0-9]*\.[0-9]*\).*/\1/')

require k8s.io/kubernetes $KUBE_VERSION
MOD
# k8s.io/kubernetes replaces its staging modules with folders of its own tree;
# outside that tree each must come from the proxy at the matching version.
{
	echo "replace ("
	sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$modfile"
	echo ")"
} >> go.mod
cat > tools.go <<'GO'
//go:build tools

package kubebuild

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
GOFLAGS=-mod=mod go mod tidy -e >&2 2>&1 || true
mkdir -p "$OUT.tmp"
GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$OUT.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
ln -sf "$(command -v etcd)" "$OUT.tmp/etcd"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"
echo "kube-binaries: built $OUT/kube-apiserver" >&2
echo "$OUT"
