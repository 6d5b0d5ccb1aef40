#!/usr/bin/env bash
# The whole test suite: installs what is needed, builds, runs the tests on
# the release build and under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" test
