#!/usr/bin/env bash
# Installs everything ember needs to build and test on a fresh Debian 12 machine:
# the Debian packages, and a Python venv (.venv) with the reference tools the tests compare
# against. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libasio-dev libsimdjson-dev libsodium-dev libfmt-dev libcli11-dev libpcre2-dev
  libhttp-parser-dev libtomlplusplus-dev libicu-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-venv python3-jinja2 curl
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Debian's python3 with its jinja2 (the chat-template oracle) plus pinned PyPI reference tools.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements-test.txt
echo "ember: setup complete (Debian packages + .venv)"
