#!/usr/bin/env bash
# Installs the Debian packages Corral's build, tests and local cluster need.
# Idempotent and quiet when everything is already there.
set -euo pipefail
pkgs=(build-essential pkg-config clang libclang-rt-14-dev valgrind cppcheck clang-format
      libcurl4-openssl-dev libjansson-dev libyaml-dev libevent-dev libssl-dev libcmocka-dev
      etcd-server etcd-client python3 curl wrk procps unzip zip tzdata openssl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's etcd-server package may start a system etcd on 2379; Corral's
# scripts and tests start their own on free ports, so stop that one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  $sudo systemctl stop etcd || true
  $sudo systemctl disable etcd >/dev/null 2>&1 || true
fi
