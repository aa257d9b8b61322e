#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting and lints, the Rust unit and
# conformance tests (real aws-sdk-rust clients against an in-process emulator), and the Python
# suite (boto3 against the emulator binary) in its own virtualenv, created on first use.
#
#   ./scripts/test-all.sh
#
# Environment: BEDROCK_TEST_VENV (default .venv) picks the virtualenv folder.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test (unit, proptest, snapshot and SDK conformance tests)"
cargo test --workspace --quiet

step "Python suite (boto3) in ${BEDROCK_TEST_VENV:-.venv}"
venv="${BEDROCK_TEST_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
cargo build --quiet -p bedrock-emulator
BEDROCK_EMULATOR_BIN="$PWD/target/debug/bedrock-emulator" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
