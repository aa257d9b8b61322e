// The npm packages as users get them: installed from their packed tarballs into a scratch
// project (scripts/test-js-package.sh), the binary from the platform package, driven through
// @aws-sdk/client-bedrock-runtime.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
import { startEmulator, findBinary, EmulatorError, VerificationError } from "bedrock-emulator";

const NOVA = "amazon.nova-micro-v1:0";
const ask = (client, text) =>
  client.send(new ConverseCommand({ modelId: NOVA, messages: [{ role: "user", content: [{ text }] }] }));

test("the binary is the platform package's, and the package ships its types and launcher", () => {
  assert.equal(process.env.BEDROCK_EMULATOR_BIN, undefined);
  const binary = findBinary();
  const native = `@bedrock-emulator/${process.platform}-${process.arch}`;
  assert.ok(binary.endsWith(`node_modules/${native}/bin/bedrock-emulator`), binary);
  assert.ok(existsSync("node_modules/bedrock-emulator/index.d.ts"));
  const version = execFileSync("node_modules/.bin/bedrock-emulator", ["--version"], { encoding: "utf8" }).trim();
  // The packages carry the binary's version.
  for (const pkg of ["bedrock-emulator", native]) {
    const { version: v } = JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, "utf8"));
    assert.equal(version, `bedrock-emulator ${v}`, pkg);
  }
  const { optionalDependencies } = JSON.parse(readFileSync("node_modules/bedrock-emulator/package.json", "utf8"));
  assert.equal(optionalDependencies[native], version.split(" ")[1]);
});

test("an emulator answers SDK clients, journals, verifies and resets", async () => {
  const emulator = await startEmulator({ seed: 7 });
  try {
    assert.match(emulator.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new BedrockRuntimeClient(emulator.clientConfig());
    const reply = await ask(client, "Hello");
    assert.equal(reply.stopReason, "end_turn");
    const [entry] = await emulator.journal({ operation: "Converse" });
    assert.equal(entry.lastUserText, "Hello");
    await emulator.verify({ operation: "Converse", lastUserMessage: "Hello" }, 1);
    await assert.rejects(emulator.verify({ lastUserMessage: "Goodbye" }), (e) => e instanceof VerificationError && e.result.matched === 0);
    await emulator.reset();
    assert.deepEqual(await emulator.journal(), []);
    client.destroy();
  } finally {
    await emulator.stop();
  }
});

test("mounted rules, scenario files and faults answer", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bedrock-emulator-js-"));
  const file = join(dir, "refunds.yaml");
  writeFileSync(file, "version: 1\nname: refunds\nrules:\n  - name: refund\n    match: {lastUserMessage: refund}\n    reply: {text: Refunds take 5 days.}\n");
  const emulator = await startEmulator({ scenarios: [file] });
  const client = new BedrockRuntimeClient(emulator.clientConfig({ maxAttempts: 1 }));
  try {
    const refund = await ask(client, "Where is my refund?");
    assert.deepEqual(refund.output.message.content, [{ text: "Refunds take 5 days." }]);
    await emulator.mount({ name: "greeting", match: { lastUserMessage: "hello" }, reply: { text: "Scripted hi" } }, "js");
    assert.deepEqual((await ask(client, "hello there")).output.message.content, [{ text: "Scripted hi" }]);
    await emulator.unmount("js");
    await emulator.addFault({ name: "throttle", match: { operation: "Converse" }, inject: { error: { type: "ThrottlingException" } } });
    await assert.rejects(ask(client, "hi"), (e) => e.name === "ThrottlingException");
    await emulator.clearFaults();
    assert.equal((await ask(client, "hi")).stopReason, "end_turn");
  } finally {
    client.destroy();
    await emulator.stop();
  }
});

test("a bad flag rejects with the emulator's own message", async () => {
  await assert.rejects(startEmulator({ args: ["--no-such-flag"] }), (e) => e instanceof EmulatorError && /--no-such-flag/.test(e.message));
});

test("the npx launcher passes SIGTERM on to the emulator, which stops gracefully", async () => {
  const launcher = spawn("node_modules/.bin/bedrock-emulator", ["serve", "--port", "0"], { stdio: ["ignore", "pipe", "ignore"] });
  const endpoint = await new Promise((resolve) =>
    launcher.stdout.once("data", (d) => resolve(/listening on (\S+)/.exec(String(d))[1])),
  );
  assert.equal((await fetch(`${endpoint}/_emulator/health`)).status, 200);
  const ended = new Promise((resolve) => launcher.once("exit", (code, signal) => resolve(signal ?? code)));
  launcher.kill("SIGTERM");
  assert.equal(await ended, 0, "the emulator's graceful exit status, passed on");
  await assert.rejects(fetch(`${endpoint}/_emulator/health`), "the emulator stopped with it");
});
