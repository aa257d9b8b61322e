#!/usr/bin/env node
// `npx bedrock-emulator serve …`: runs the platform package's binary with these arguments,
// passing on the signals that stop it (so stopping this process stops the emulator too) and
// ending the way it ended.
import { spawn } from "node:child_process";

import { findBinary } from "../index.js";

const child = spawn(findBinary(), process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (e) => {
  console.error(`bedrock-emulator: ${e.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
