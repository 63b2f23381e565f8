#!/usr/bin/env bash
# Installs the Debian packages Corral's build, tests and local cluster need.
# Idempotent and quiet when everything is already there.
set -euo pipefail
pkgs=(build-essential pkg-config clang libclang-rt-14-dev valgrind cppcheck clang-format
      libcurl4-openssl-dev libnghttp2-dev libjansson-dev libyaml-dev libevent-dev libssl-dev libcmocka-dev
      zlib1g-dev libjemalloc-dev
      etcd-server etcd-client python3 curl wrk procps unzip zip tzdata openssl
      debhelper dpkg-dev lintian man-db jq nginx-light git
      chromium nodejs)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
# The UI's browser tests (e2e/test_ui.py, bench/ui.py) drive Debian's
# chromium with puppeteer-core, pinned by e2e/node/package-lock.json.
# CORRAL_DEPS_NO_NPM=1 skips it (hack/local-up.sh needs no browser).
ui_deps() {
  [ -z "${CORRAL_DEPS_NO_NPM:-}" ] || return 0
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/e2e/node"
  command -v npm >/dev/null 2>&1 || $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
  if [ ! -d "$dir/node_modules/puppeteer-core" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "deps: npm ci in e2e/node (puppeteer-core for the UI tests)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
# The node agent's S3 tests (e2e/test_nodeagent_s3.py, the executor's S3
# artifact tests) run a real S3-compatible server: s3rver, pinned by
# e2e/s3rver/package-lock.json. Skipped with CORRAL_DEPS_NO_NPM=1 too.
s3rver_deps() {
  [ -z "${CORRAL_DEPS_NO_NPM:-}" ] || return 0
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/e2e/s3rver"
  command -v npm >/dev/null 2>&1 || $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
  if [ ! -d "$dir/node_modules/s3rver" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "deps: npm ci in e2e/s3rver (s3rver for the S3 tests)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { ui_deps; s3rver_deps; exit 0; }
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's etcd-server package may start a system etcd on 2379; Corral's
# scripts and tests start their own on free ports, so stop that one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $sudo systemctl stop etcd || true
  $sudo systemctl disable etcd >/dev/null 2>&1 || true
fi
# Likewise nginx-light's system nginx on port 80: the load-balancing tests and
# hack/local-up.sh run their own, as the current user, on loopback ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  $sudo systemctl stop nginx || true
  $sudo systemctl disable nginx >/dev/null 2>&1 || true
fi
ui_deps
s3rver_deps
