#!/usr/bin/env bash
# `make deb`: builds the Debian packages (debian/) into OUT (build/deb):
# corral, corral-agent and mesoslite .debs (and their -dbgsym), .buildinfo
# and .changes. dpkg-buildpackage runs in a copy of the tree under
# OUT/src, so the build never writes into the work tree (nor its parent,
# where dpkg-buildpackage would put its output). Then lintian checks the
# result; LINTIAN=0 skips it. Prints the .deb paths last, one a line.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/deb}
for tool in dpkg-buildpackage dh; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool missing (hack/deps.sh installs it)" >&2; exit 2; }
done
version=$(dpkg-parsechangelog -S Version)
upstream=${version%%-*}
code=$(sed -n 's/^#define CORRAL_VERSION "\(.*\)"/\1/p' base/version.h)
if [ "$upstream" != "$code" ]; then
  echo "build-deb: debian/changelog says $version but base/version.h CORRAL_VERSION is $code" >&2
  exit 1
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/corral-$upstream
rm -rf "$out/src" "$out"/*.deb "$out"/*.ddeb "$out"/*.buildinfo "$out"/*.changes
mkdir -p "$src"
# The tree as it is (uncommitted changes included), without build output.
tar -cf - --exclude=./.git --exclude=./build --exclude=./bin --exclude=./.local \
  --exclude=__pycache__ --exclude=./debian/build . | tar -xf - -C "$src"
jobs=$(nproc 2>/dev/null || echo 2)
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
  dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) || {
  tail -40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; whole log in $out/build.log" >&2
  exit 1
}
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
mv "$out"/src/*.ddeb "$out"/ 2>/dev/null || true
rm -rf "$out/src"
changes=$(ls "$out"/*.changes)
if [ "${LINTIAN:-1}" != 0 ] && command -v lintian >/dev/null; then
  # Errors and warnings fail; debian/*.lintian-overrides say why each
  # override is there.
  lintian --fail-on error,warning "$changes" >&2
fi
ls "$out"/*.deb
