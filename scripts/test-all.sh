#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting and lints, the Rust unit and
# conformance tests (real aws-sdk-rust clients against an in-process emulator), the JavaScript
# suite (the AWS SDK for JavaScript v3 against the emulator binary, installed from
# tests/js/package-lock.json), and the Python suite (boto3 against the emulator binary) in its
# own virtualenv, created on first use; then the Python package (python/) built as a wheel,
# installed into a fresh virtualenv, and its own tests run through it; and the npm packages
# packed, installed into a scratch project and tested there.
#
#   ./scripts/test-all.sh
#
# Environment: BEDROCK_TEST_VENV (default .venv) picks the virtualenv folder.
set -euo pipefail
cd "$(dirname "$0")/.."

# A CI run builds once from clean: incremental caches would only take disk (and CI machines have
# little of it to spare).
if [ -n "${CI:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test (unit, proptest, snapshot and SDK conformance tests)"
cargo test --workspace --quiet

step "cargo package (the emulator crate packages: metadata, README, no path-only dependencies)"
cargo package --quiet -p bedrock-emulator --no-verify --allow-dirty

step "JavaScript suite (AWS SDK for JavaScript v3, node --test)"
npm ci --prefix tests/js --no-audit --no-fund
cargo build --quiet -p bedrock-emulator
# Files, not the folder: Node 20 searches a folder argument, Node 21+ would try to load it as a module.
AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
  BEDROCK_EMULATOR_BIN="$PWD/target/debug/bedrock-emulator" node --test tests/js/*.test.js

step "Python suite (boto3) in ${BEDROCK_TEST_VENV:-.venv}"
venv="${BEDROCK_TEST_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
cargo build --quiet -p bedrock-emulator
BEDROCK_EMULATOR_BIN="$PWD/target/debug/bedrock-emulator" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider

step "Python package (maturin wheel, installed into a fresh virtualenv, plugin tests)"
./scripts/test-python-package.sh

step "JavaScript package (npm pack, installed into a scratch project, package tests)"
./scripts/test-js-package.sh
