#!/usr/bin/env bash
# Builds everything (installing what is missing) and runs the whole test suite.
#   scripts/test.sh             all tests (labels: unit, e2e, golden)
#   scripts/test.sh -L unit     ctest arguments pass through
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
