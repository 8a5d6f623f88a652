#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), then configures and builds iommu-sim (Release).
#   scripts/setup.sh            build the simulator, tests and benchmarks into build/
#   BUILD_DIR=... BUILD_TYPE=Asan scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++ cmake ninja-build pkg-config git
          libsystemc-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libfmt-dev
          libboost-graph-dev libgtest-dev libbenchmark-dev
          python3-yaml python3-pandas python3-matplotlib python3-jinja2) # tools/sweep, tools/report
# For two tests only, installed when root or sudo can, else those tests are skipped (and say so):
# sweep_slurm_test (a single-node Slurm cluster) and report_chromium_test (headless Chromium).
OPTIONAL=(munge slurmctld slurmd slurm-client chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
optional=()
for p in "${OPTIONAL[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || optional+=("$p")
done
if [ ${#optional[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then missing+=("${optional[@]}"); else
    echo "setup: not installing ${optional[*]} (no root): sweep_slurm_test and report_chromium_test will be skipped" >&2; fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: need root to run: apt-get install ${missing[*]}" >&2; exit 1; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
