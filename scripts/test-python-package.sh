#!/usr/bin/env bash
# Builds the Python package (python/: a maturin wheel holding the bedrock-emulator binary and
# the bedrock_emulator module with its pytest plugin), installs the wheel into a fresh
# virtualenv with boto3 and pytest, and runs python/tests there — against the installed
# package, never the source tree, so the packaging itself is what is tested.
#
#   ./scripts/test-python-package.sh
#
# The wheel is built from the dev profile (the debug build the other suites already compiled),
# not a second release build. Environment: BEDROCK_TEST_VENV (default .venv) is the virtualenv
# maturin is installed into.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${BEDROCK_TEST_VENV:-.venv}"
if [ ! -x "$tools/bin/python" ]; then
  python3 -m venv "$tools"
fi
tools=$(cd "$tools" && pwd)
"$tools/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd python && "$tools/bin/maturin" build --quiet --profile dev --out "$scratch/dist")
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$scratch"/dist/bedrock_emulator-*.whl \
  "boto3>=1.34" "pytest>=8"
env -u BEDROCK_EMULATOR_BIN "$scratch/venv/bin/python" -m pytest python/tests -q -p no:cacheprovider
