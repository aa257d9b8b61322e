#!/usr/bin/env node
// `npx bedrock-emulator serve …`: runs the platform package's binary with these arguments.
import { spawnSync } from "node:child_process";

import { findBinary } from "../index.js";

const result = spawnSync(findBinary(), process.argv.slice(2), { stdio: "inherit" });
if (result.error) {
  console.error(`bedrock-emulator: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
