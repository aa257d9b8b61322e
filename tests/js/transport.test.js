// Both transports the JS SDK uses reach the emulator: the runtime client's default HTTP/2 handler
// (cleartext h2c to an `http://` endpoint, used by every other test file), an explicit HTTP/1.1
// handler, and the control-plane client's default HTTP/1.1.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
import { ListFoundationModelsCommand } from "@aws-sdk/client-bedrock";

import { controlClient, HAIKU, runtimeClient, startEmulator, textOf, user } from "./emulator.js";

let emulator;

before(async () => {
  emulator = await startEmulator();
});

after(async () => {
  await emulator?.stop();
});

test("the control-plane client works with its default HTTP/1.1 handler", async () => {
  const client = controlClient(emulator.url);
  try {
    const out = await client.send(new ListFoundationModelsCommand({}));
    assert.ok(out.modelSummaries.length > 0);
  } finally {
    client.destroy();
  }
});

test("the runtime client works over HTTP/1.1", async () => {
  const client = runtimeClient(emulator.url, { http1: true });
  try {
    const out = await client.send(new ConverseCommand({ modelId: HAIKU, messages: [user("Hello")] }));
    assert.match(textOf(out), /^You said: "Hello"\./);
  } finally {
    client.destroy();
  }
});

test("the runtime client works with its default HTTP/2 handler", async () => {
  const client = runtimeClient(emulator.url);
  try {
    const out = await client.send(new ConverseCommand({ modelId: HAIKU, messages: [user("Hello")] }));
    assert.match(textOf(out), /^You said: "Hello"\./);
  } finally {
    client.destroy();
  }
});
