#!/usr/bin/env bash
# Installs what the conformance suite needs on a Debian 12 machine. Run as root.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup.sh: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update
  fi
  apt-get install -y chromium
fi

# npm ci writes node_modules/.package-lock.json last; a lockfile newer than it means stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The OpenID Connect provider the OAuth test starts (oidc-provider).
bash ../../crates/testkit/oidc/setup.sh
