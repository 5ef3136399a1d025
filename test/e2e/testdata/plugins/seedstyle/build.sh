#!/usr/bin/env bash
# The host runs this with the flags and output path it needs.
set -euo pipefail
go build -buildmode=plugin $KSPLUGINS_BUILD_FLAGS -o "$PLUGIN_OUTPUT" .
