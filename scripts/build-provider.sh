#!/usr/bin/env bash
# Builds the PKCS#11 library over the emulator, pkcs11-provider/build/libmhsm-pkcs11.so, with
# CMake (Debian: cmake, g++, libcurl4-openssl-dev, nlohmann-json3-dev, libssl-dev; setup.sh
# installs them).
set -euo pipefail
cd "$(dirname "$0")/../pkcs11-provider"
cmake -S . -B build -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
echo "built $(pwd)/build/libmhsm-pkcs11.so"
