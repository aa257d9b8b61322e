#!/usr/bin/env bash
# Packs the npm packages (js/bedrock-emulator and js/platforms/<platform>, the binary copied in
# at pack time, the esbuild pattern), installs the tarballs into a scratch project with
# @aws-sdk/client-bedrock-runtime, vitest, jest and typescript, and runs js/test there —
# node:test, vitest and jest against the installed packages (never the source tree), and tsc on a file using
# the declarations. The binary is the debug build the other suites already compiled.
#
#   ./scripts/test-js-package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
platform=$(node -p 'process.platform + "-" + process.arch')
if [ ! -d "js/platforms/$platform" ]; then
  echo "test-js-package: SKIPPED: no platform package for $platform yet (js/platforms/ has $(ls js/platforms | tr '\n' ' '))"
  exit 0
fi
cargo build --quiet -p bedrock-emulator
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "js/platforms/$platform" "$scratch/$platform"
mkdir -p "$scratch/$platform/bin"
cp target/debug/bedrock-emulator "$scratch/$platform/bin/bedrock-emulator"
# npm pack prints each tarball's name.
tarballs=$(cd "$scratch" && npm pack --silent "$root/js/bedrock-emulator" "$scratch/$platform")
main=$(echo "$tarballs" | sed -n 1p)
native=$(echo "$tarballs" | sed -n 2p)
sdk=$(node -p 'require("./tests/js/package.json").dependencies["@aws-sdk/client-bedrock-runtime"]')
mkdir "$scratch/project"
cat >"$scratch/project/package.json" <<JSON
{
  "name": "bedrock-emulator-package-test",
  "private": true,
  "type": "module",
  "dependencies": {
    "bedrock-emulator": "file:../$main",
    "@bedrock-emulator/$platform": "file:../$native",
    "@aws-sdk/client-bedrock-runtime": "$sdk"
  },
  "devDependencies": {
    "@jest/globals": "30.2.0",
    "jest": "30.2.0",
    "typescript": "5.9.3",
    "vitest": "3.2.7"
  },
  "overrides": {
    "@bedrock-emulator/$platform": "\$@bedrock-emulator/$platform"
  }
}
JSON
cp js/test/*.test.js js/test/*.spec.js js/test/jest.check.mjs js/test/types-check.ts "$scratch/project/"
(cd "$scratch/project" && npm install --silent --no-audit --no-fund --prefer-offline)
cd "$scratch/project"
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
unset BEDROCK_EMULATOR_BIN
node --test ./*.test.js
# The same package from vitest and from jest (ESM), and its declarations checked by tsc.
npx --no-install vitest run --reporter=dot vitest.spec.js
NODE_OPTIONS=--experimental-vm-modules npx --no-install jest --silent --testMatch '**/jest.check.mjs' 2>&1 |
  { grep -v ExperimentalWarning || true; }
npx --no-install tsc --noEmit --strict --module nodenext --moduleResolution nodenext --target es2022 types-check.ts
echo "tsc: the declarations type-check"
