// Typed errors through the AWS SDK for JavaScript v3's restJson1 error parser and event-stream
// decoder: validation errors, a scripted throttle, and an exception frame mid-stream (SPEC §2–3).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  BedrockRuntimeServiceException,
  ConverseCommand,
  ConverseStreamCommand,
  ThrottlingException,
  ValidationException,
} from "@aws-sdk/client-bedrock-runtime";

import { HAIKU, loadScenario, runtimeClient, startEmulator, user } from "./emulator.js";

let emulator;
let client;

before(async () => {
  emulator = await startEmulator();
  client = runtimeClient(emulator.url);
  await loadScenario(
    emulator.url,
    "version: 1\nrules:\n  - match: {lastUserMessage: throttle-me}\n    reply: {error: {type: ThrottlingException}}\n",
    "throttle",
  );
  await loadScenario(
    emulator.url,
    [
      "version: 1",
      "rules:",
      "  - match: {operation: ConverseStream, lastUserMessage: fail-mid-stream}",
      "    reply:",
      "      stream:",
      "        - messageStart: {role: assistant}",
      '        - exception: {type: ThrottlingException, message: "mid-stream"}',
      "",
    ].join("\n"),
    "mid-stream",
  );
});

after(async () => {
  client?.destroy();
  await emulator?.stop();
});

const converse = (modelId, text, extra = {}) =>
  client.send(new ConverseCommand({ modelId, messages: [user(text)], ...extra }));

test("an invalid model id is a ValidationException with status 400 and Bedrock's message", async () => {
  await assert.rejects(converse("anthropic.claude-does-not-exist-v9:0", "Hello"), (err) => {
    assert.ok(err instanceof ValidationException, `got ${err?.constructor?.name}: ${err}`);
    assert.ok(err instanceof BedrockRuntimeServiceException);
    assert.equal(err.name, "ValidationException");
    assert.equal(err.$fault, "client");
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.match(err.$metadata.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(err.message, "The provided model identifier is invalid.");
    return true;
  });
});

test("a temperature of 1.5 is a ValidationException naming the constraint", async () => {
  await assert.rejects(converse(HAIKU, "Hello", { inferenceConfig: { temperature: 1.5 } }), (err) => {
    assert.ok(err instanceof ValidationException, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(
      err.message,
      "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1",
    );
    return true;
  });
});

test("a scripted ThrottlingException is a ThrottlingException instance with status 429", async () => {
  await assert.rejects(converse(HAIKU, "please throttle-me now"), (err) => {
    assert.ok(err instanceof ThrottlingException, `got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.name, "ThrottlingException");
    assert.equal(err.$metadata.httpStatusCode, 429);
    assert.equal(err.$metadata.attempts, 1);
    assert.ok(err.message.length > 0);
    return true;
  });
});

test("a scripted exception frame makes iterating the ConverseStream throw a ThrottlingException", async () => {
  const out = await client.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user("fail-mid-stream")] }));
  assert.equal(out.$metadata.httpStatusCode, 200);
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const event of out.stream) seen.push(Object.keys(event)[0]);
    })(),
    (err) => {
      assert.ok(err instanceof ThrottlingException, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.name, "ThrottlingException");
      assert.equal(err.message, "mid-stream");
      return true;
    },
  );
  assert.deepEqual(seen, ["messageStart"]);
});
