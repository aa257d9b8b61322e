#!/usr/bin/env bash
# Packs the npm packages (js/bedrock-emulator and js/platforms/linux-x64, the binary copied in
# at pack time, the esbuild pattern), installs the tarballs into a scratch project with
# @aws-sdk/client-bedrock-runtime, and runs js/test there — against the installed packages,
# never the source tree. The binary is the debug build the other suites already compiled.
#
#   ./scripts/test-js-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cargo build --quiet -p bedrock-emulator
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r js/platforms/linux-x64 "$scratch/linux-x64"
mkdir -p "$scratch/linux-x64/bin"
cp target/debug/bedrock-emulator "$scratch/linux-x64/bin/bedrock-emulator"
(cd "$scratch" && npm pack --silent "$root/js/bedrock-emulator" "$scratch/linux-x64" >/dev/null)
sdk=$(node -p 'require("./tests/js/package.json").dependencies["@aws-sdk/client-bedrock-runtime"]')
mkdir "$scratch/project"
cat >"$scratch/project/package.json" <<JSON
{
  "name": "bedrock-emulator-package-test",
  "private": true,
  "type": "module",
  "dependencies": {
    "bedrock-emulator": "file:../bedrock-emulator-0.1.0.tgz",
    "@bedrock-emulator/linux-x64": "file:../bedrock-emulator-linux-x64-0.1.0.tgz",
    "@aws-sdk/client-bedrock-runtime": "$sdk"
  },
  "overrides": {
    "@bedrock-emulator/linux-x64": "\$@bedrock-emulator/linux-x64"
  }
}
JSON
cp js/test/*.test.js "$scratch/project/"
(cd "$scratch/project" && npm install --silent --no-audit --no-fund --prefer-offline)
cd "$scratch/project"
env -u BEDROCK_EMULATOR_BIN AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true node --test ./*.test.js
