#!/usr/bin/env bash
# Install everything Isolde needs on a fresh Debian 12 machine (run as root).
# Safe to run again: it installs only what is missing.
set -euo pipefail
# node-llhttp is the C source of llhttp, the server's HTTP parser (the
# Makefile compiles it from /usr/share/llhttp); libhttp-parser-dev is for
# the tests' HTTP client only.
pkgs=(clang libclang-rt-14-dev libfuzzer-14-dev build-essential wabt openssl ca-certificates pkg-config
      libuv1-dev node-llhttp libhttp-parser-dev libcjson-dev libssl-dev libcurl4-openssl-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# npm (for the engine and the prelude's build tools, see package.json) may come from another Node.js install.
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v npm >/dev/null || { echo "setup: npm is missing after install" >&2; exit 1; }
command -v wasm2c >/dev/null || { echo "setup: wasm2c is missing after install" >&2; exit 1; }
