#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, when missing: the real OCI registry
# (docker-registry, CNCF distribution 2.8), htpasswd (apache2-utils) for its Basic auth, openssl
# for test certificates. Uses sudo when not root.
set -euo pipefail
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
