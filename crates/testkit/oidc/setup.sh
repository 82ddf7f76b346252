#!/usr/bin/env bash
# Installs the OpenID Connect provider the OAuth tests run (oidc-provider, pinned
# by package-lock.json) into ./node_modules. Safe to run again, and from several
# test processes at once: it runs `npm ci` only when the install is missing or
# older than the lockfile, under a lock.
set -euo pipefail
cd "$(dirname "$0")"

# npm ci writes node_modules/.package-lock.json last; a lockfile newer than it means stale.
up_to_date() { [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; }
up_to_date && exit 0

exec 9>.setup.lock
flock 9
up_to_date && exit 0

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "oidc/setup.sh: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
