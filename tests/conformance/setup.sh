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

# The Next.js application nextjs.test.mjs builds (next, react, @clerk/nextjs), pinned by its
# own lockfile.
if [ ! -f next-app/node_modules/.package-lock.json ] || [ next-app/package-lock.json -nt next-app/node_modules/.package-lock.json ]; then
  (cd next-app && npm ci --no-audit --no-fund)
fi

# The OpenID Connect provider the OAuth test starts (oidc-provider).
bash ../../crates/testkit/oidc/setup.sh

# Clerk's prebuilt screens (@clerk/ui), for the page that mounts <SignIn/>. `npm install`
# cannot resolve one of its dependencies (@clerk/localizations@^4.20.0), and the page
# needs only the browser bundle and the chunks it loads from its own folder, so the
# published tarball is fetched with `npm pack`, checked against the integrity kept here,
# and those files extracted into vendor/clerk-ui/ (git-ignored).
CLERK_UI_VERSION=1.36.0
CLERK_UI_INTEGRITY='sha512-uI96zYCh5jISLOt1mdpIPy/Y31P0kwFxjUFOxLUwFfTHFmGUcRjbqN6bbb+75tdI2Bz6ARGws3rhspDer+xIfQ=='
CLERK_UI_DIR=vendor/clerk-ui
if [ "$(cat "$CLERK_UI_DIR/.integrity" 2>/dev/null)" != "$CLERK_UI_INTEGRITY" ]; then
  mkdir -p vendor
  tmp="$(mktemp -d vendor/.tmp.XXXXXX)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "@clerk/ui@$CLERK_UI_VERSION" --silent --loglevel=error >/dev/null)
  tarball="$tmp/clerk-ui-$CLERK_UI_VERSION.tgz"
  actual="$(node -e 'const c = require("node:crypto"), fs = require("node:fs");
    console.log("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
  if [ "$actual" != "$CLERK_UI_INTEGRITY" ]; then
    echo "setup.sh: @clerk/ui@$CLERK_UI_VERSION has integrity $actual, expected $CLERK_UI_INTEGRITY" >&2
    exit 1
  fi
  mkdir "$tmp/package"
  tar -xzf "$tarball" -C "$tmp/package" --strip-components=1 \
    --wildcards --no-wildcards-match-slash 'package/LICENSE' 'package/dist/ui.browser.js' 'package/dist/*_ui_*.js'
  echo "$CLERK_UI_INTEGRITY" > "$tmp/package/.integrity"
  rm -rf "$CLERK_UI_DIR"
  mv "$tmp/package" "$CLERK_UI_DIR"
fi
