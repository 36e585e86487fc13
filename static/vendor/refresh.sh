#!/usr/bin/env bash
# Refresh the vendored front-end files from the npm registry at the pinned versions below.
# Usage: static/vendor/refresh.sh   (needs npm; nothing is fetched at run time)
set -euo pipefail
cd "$(dirname "$0")"
declare -A FILES=(
  ["socket.io-client@4.8.4"]="dist/socket.io.min.js:socket.io.min.js"
  ["sortablejs@1.15.7"]="Sortable.min.js:Sortable.min.js"
  # only the browser tests load axe (accessibility checks); no page of the app does
  ["axe-core@4.14.1"]="axe.min.js:axe.min.js"
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > VERSIONS.txt
for spec in "${!FILES[@]}"; do
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tarball=$(ls "$tmp"/*.tgz)
  mkdir -p "$tmp/x" && tar -xzf "$tarball" -C "$tmp/x"
  IFS=: read -r src dest <<<"${FILES[$spec]}"
  cp "$tmp/x/package/$src" "$dest"
  echo "$spec $dest sha256:$(sha256sum "$dest" | cut -d' ' -f1)" >> VERSIONS.txt
  rm -rf "$tmp/x" "$tarball"
done
sort -o VERSIONS.txt VERSIONS.txt
cat VERSIONS.txt
