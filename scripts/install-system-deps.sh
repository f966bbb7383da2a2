#!/usr/bin/env bash
# Installs the Debian packages the demo, the build and the tests need, when missing: the real OCI
# registry (docker-registry, CNCF distribution 2.8), htpasswd (apache2-utils) for its Basic auth,
# openssl for test certificates, skopeo for cross-checks of images, and for the executable of the other CPU architecture (x64 and
# arm64 are both built): QEMU user-mode emulation (qemu-user-static) with that architecture's C
# and C++ runtime through dpkg multiarch (libc6, libstdc++6), so the build can run its node to
# write the single-executable blob and the tests can run the plugin as Ratify would on that CPU.
# Uses sudo when not root.
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

host=$(dpkg --print-architecture)
case "$host" in
  amd64) foreign=arm64 qemu_cpu=aarch64 ;;
  arm64) foreign=amd64 qemu_cpu=x86_64 ;;
  *) echo "install-system-deps: no executable is built for $host; skipping emulation" >&2; foreign="" ;;
esac

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
update=0
if [ -n "$foreign" ]; then
  command -v "qemu-$qemu_cpu-static" >/dev/null 2>&1 || missing+=(qemu-user-static)
  if ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
    $sudo dpkg --add-architecture "$foreign"
    update=1
  fi
  for pkg in "libc6:$foreign" "libstdc++6:$foreign"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
fi

if [ "${#missing[@]}" -gt 0 ]; then
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif [ "$update" -eq 1 ]; then
  $sudo apt-get update -qq
fi

# Lets the kernel run the other architecture's executables directly (as Ratify's exec would),
# through binfmt_misc, when this machine allows it (a VM or a privileged container). Best effort:
# without it the build and the tests name qemu-<cpu>-static explicitly.
if [ -n "$foreign" ] && [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu_cpu" ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  if [ -w /proc/sys/fs/binfmt_misc/register ] && [ -f "/usr/lib/binfmt.d/qemu-$qemu_cpu.conf" ]; then
    $sudo sh -c "cat /usr/lib/binfmt.d/qemu-$qemu_cpu.conf > /proc/sys/fs/binfmt_misc/register" 2>/dev/null ||
      echo "install-system-deps: could not register qemu-$qemu_cpu with binfmt_misc; qemu-$qemu_cpu-static will be named explicitly" >&2
  fi
fi
