#!/usr/bin/env bash
# Downloads (does not install) the Debian packages ember builds against into .debs/ (git-
# ignored), for a machine that has a compiler, CMake and CUDA but none of our -dev packages
# and no network: the GPU machine. tools/gpu-check unpacks them there with `dpkg -x` into a
# private prefix and points CMake and pkg-config at it. Run here, on a Debian 12 machine with
# network; carry .debs to the GPU machine with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headers, CMake/pkg-config files and static libraries (-dev), plus the shared libraries they
# link to (the runtime packages each -dev package depends on).
PACKAGES=(
  libfmt-dev libfmt9
  libsimdjson-dev libsimdjson14
  libcli11-dev
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
  libsodium-dev libsodium23
  libasio-dev
  libhttp-parser-dev libhttp-parser2.9
  libtomlplusplus-dev libtomlplusplus3
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev libbenchmark1debian
  pkgconf-bin libpkgconf3  # pkg-config itself, in case the GPU machine lacks it
)

mkdir -p .debs
cd .debs
rm -f ./*.deb
# apt-get download fetches exactly the named packages (the versions apt would install here).
apt-get download "${PACKAGES[@]}"
# Plain file names (an epoch's ':' arrives as %3a), so every copy tool takes them.
for f in ./*%3a*.deb; do [ -e "$f" ] && mv "$f" "${f//%3a/_}"; done
count=$(ls -1 ./*.deb | wc -l)
if [ "$count" -ne "${#PACKAGES[@]}" ]; then
  echo "fetch-debs: expected ${#PACKAGES[@]} packages, got $count" >&2
  exit 1
fi
# The small real model the GPU parity test reads, when the shared assets are here (it lands in
# .debs/assets, which gpu-check passes as EMBER_ASSETS; nothing is copied into the repo).
rm -rf assets
if [ -d ../../shared/assets/models/stories260K ]; then
  mkdir -p assets/models
  cp -r ../../shared/assets/models/stories260K assets/models/
fi
echo "fetch-debs: $count packages, $(du -sh . | cut -f1) in .debs/"
