#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks for managed-hsm-emulator, then the project:
# SoftHSM2 (the embedded default token), a C++ toolchain for the native addon, npm dependencies,
# the addon build and the TypeScript build (both run by `npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The PKCS#11 library over the emulator (pkcs11-provider/): CMake, libcurl, nlohmann-json, OpenSSL.
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
if command -v dpkg >/dev/null 2>&1; then
  for package in libcurl4-openssl-dev nlohmann-json3-dev libssl-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
fi

if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install: ${missing[*]} (this script installs them with apt-get on Debian/Ubuntu)" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  echo "setup: installing ${missing[*]} with apt-get"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

node -e 'const [major, minor] = process.versions.node.split(".").map(Number); if (major < 20 || (major === 20 && minor < 19)) { console.error(`setup: Node.js >= 20.19 is required, this is ${process.version}`); process.exit(1); }'

npm ci --no-audit --no-fund
npm run build:provider
