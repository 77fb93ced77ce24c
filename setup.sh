#!/usr/bin/env bash
# Installs everything tinysim needs on a fresh Debian machine (root): the ARM cross
# compiler and the Python package with its test and oracle extras. Idempotent and quick
# when everything is already there.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  echo "setup: installing gcc-arm-none-eabi (Debian, no recommends)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc-arm-none-eabi >/dev/null
fi

if ! python3 -c "import tinysim, tflite_micro, hypothesis, pytest, unicorn, numba" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .setup-stamp ]; then
  echo "setup: installing tinysim (editable) with its test extras"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]"
  touch .setup-stamp
fi
