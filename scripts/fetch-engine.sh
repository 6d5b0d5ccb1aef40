#!/usr/bin/env bash
# Fetch the QuickJS-ng WebAssembly build from npm, pinned by version and
# integrity hash, and unpack it into the build folder. Never committed.
#
# usage: scripts/fetch-engine.sh OUT_DIR
set -euo pipefail

PKG="@jitl/quickjs-ng-wasmfile-release-sync"
VERSION="0.32.0"
INTEGRITY="sha512-XAX2jjZWWh3M0YaRqi82xMKNW/gkF6mo3MpW3UY2cmVxnQai1JuboVsJQVoLU629iEL4XWvHtO4h5lo7NRnAcg=="

out=${1:?usage: fetch-engine.sh OUT_DIR}
mkdir -p "$out"
tarball="$out/engine-$VERSION.tgz"

if [[ ! -f $tarball ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
  mv "$tmp"/*.tgz "$tarball"
fi

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ $actual != "$INTEGRITY" ]]; then
  rm -f "$tarball"
  echo "fetch-engine: $PKG@$VERSION has integrity $actual, expected $INTEGRITY" >&2
  exit 1
fi

rm -rf "$out/package"
tar -xzf "$tarball" -C "$out" package/dist/emscripten-module.wasm package/dist/emscripten-module.cjs package/LICENSE
echo "fetch-engine: $PKG@$VERSION verified"
