#!/usr/bin/env bash
# Re-creates vendor/clerk/: the browser bundles of clerk-js and of Clerk's
# prebuilt screens (@clerk/ui) that Latch serves under /npm/@clerk/... (both
# MIT-licensed). Each package is fetched with `npm pack` at the exact version
# pinned below and checked against the integrity pinned with it; only the
# browser entry, the chunks it loads from its own folder and the licence are
# kept, unchanged, with a PROVENANCE file beside them.
#
# To move to a new version: change VERSION and INTEGRITY below (the integrity
# is `npm view <package>@<version> dist.integrity`), run this script, then
# build and run the tests (tests/api/scripts.rs and the conformance suite).
# `npm install @clerk/ui` cannot resolve one of its dependencies; `npm pack`
# needs none of them.
#
# Usage: scripts/update-clerk-bundles.sh [--force]
#   Packages whose PROVENANCE already names the pinned integrity are left as
#   they are unless --force is given.
set -euo pipefail
cd "$(dirname "$0")/.."

# package | version | integrity of the published tarball | entry under dist/
BUNDLES=(
  "@clerk/clerk-js|6.40.0|sha512-2MnZ/ygvuCmeuqfXQmsxfQaLN/SSJvQbtT2cLXbgr5VKr3KmZFZBVvX977fG3eZ6pprl4J9pO+I2bbe6BvColg==|clerk.browser.js"
  "@clerk/ui|1.36.0|sha512-uI96zYCh5jISLOt1mdpIPy/Y31P0kwFxjUFOxLUwFfTHFmGUcRjbqN6bbb+75tdI2Bz6ARGws3rhspDer+xIfQ==|ui.browser.js"
)
VENDOR=vendor/clerk
force=0
[ "${1:-}" = "--force" ] && force=1

for tool in npm node tar; do
  command -v "$tool" >/dev/null || { echo "update-clerk-bundles: $tool is required" >&2; exit 1; }
done

mkdir -p "$VENDOR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for line in "${BUNDLES[@]}"; do
  IFS='|' read -r package version integrity entry <<<"$line"
  short="${package#@clerk/}"
  dir="$VENDOR/$short-$version"
  if [ "$force" = 0 ] && grep -qxF "integrity: $integrity" "$dir/PROVENANCE" 2>/dev/null; then
    echo "$package@$version: up to date"
    continue
  fi

  work="$tmp/$short"
  mkdir -p "$work/unpacked"
  tarball="$(cd "$work" && npm pack "$package@$version" --silent --loglevel=error)"
  tarball="$work/$tarball"
  actual="$(node -e 'const c = require("node:crypto"), fs = require("node:fs");
    console.log("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
  if [ "$actual" != "$integrity" ]; then
    echo "update-clerk-bundles: $package@$version has integrity $actual, expected $integrity" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$work/unpacked" --strip-components=1
  src="$work/unpacked"

  # The package must be the version asked for, under the MIT licence.
  node -e 'const p = require(process.argv[1]);
    if (p.name !== process.argv[2] || p.version !== process.argv[3] || p.license !== "MIT") {
      console.error(`update-clerk-bundles: package.json says ${p.name}@${p.version} (${p.license})`);
      process.exit(1);
    }' "$src/package.json" "$package" "$version"
  grep -q '^MIT License' "$src/LICENSE" || { echo "update-clerk-bundles: $package LICENSE is not MIT" >&2; exit 1; }

  # The entry names its chunks `<id>_<name>_<hash>_<version>.js`, where
  # <hash> is the first six characters of the build hash it carries
  # (`.h=()=>"…"`); the package also holds other builds' chunks (legacy,
  # native, shared) under other hashes, which are left out.
  [ -f "$src/dist/$entry" ] || { echo "update-clerk-bundles: no dist/$entry in $package" >&2; exit 1; }
  hash="$(grep -oE '\.h=\(\)=>"[0-9a-f]{6}' "$src/dist/$entry" | head -n1 | tail -c 7)"
  [ -n "$hash" ] || { echo "update-clerk-bundles: no build hash in dist/$entry" >&2; exit 1; }
  chunks=()
  while IFS= read -r f; do chunks+=("$f"); done < <(cd "$src/dist" && ls | grep -E "^[A-Za-z0-9_.-]+_${hash}_${version//./\\.}\.js$" | sort)
  [ "${#chunks[@]}" -gt 0 ] || { echo "update-clerk-bundles: no chunks for hash $hash in $package" >&2; exit 1; }

  out="$tmp/out-$short"
  mkdir -p "$out/dist"
  cp "$src/LICENSE" "$out/LICENSE"
  cp "$src/dist/$entry" "$out/dist/"
  for f in "${chunks[@]}"; do cp "$src/dist/$f" "$out/dist/"; done
  cat > "$out/PROVENANCE" <<PROV
package: $package
version: $version
integrity: $integrity
tarball: $(basename "$tarball") (npm pack $package@$version)
licence: MIT (LICENSE, as published in the package)
fetched: $(date -u +%F)
entry: dist/$entry
files: dist/$entry and the ${#chunks[@]} chunks it loads (dist/*_${hash}_$version.js), unchanged
PROV
  rm -rf "$dir"
  mv "$out" "$dir"
  echo "$package@$version: $(( ${#chunks[@]} + 1 )) files, $(du -sk "$dir/dist" | cut -f1) KiB in $dir"
done
