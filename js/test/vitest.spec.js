// The package from vitest, the way its README shows: one emulator for the file, reset per test.
import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { startEmulator } from "bedrock-emulator";

let emulator;
let client;
beforeAll(async () => {
  emulator = await startEmulator({ seed: 3 });
  client = new BedrockRuntimeClient(emulator.clientConfig());
});
beforeEach(() => emulator.reset());
afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

const ask = (text) =>
  client.send(new ConverseCommand({ modelId: "amazon.nova-micro-v1:0", messages: [{ role: "user", content: [{ text }] }] }));

test("a Converse call is answered and journaled", async () => {
  const reply = await ask("Hello from vitest");
  expect(reply.stopReason).toBe("end_turn");
  await emulator.verify({ lastUserMessage: "Hello from vitest" }, 1);
});

test("the journal starts empty for each test", async () => {
  expect(await emulator.journal()).toEqual([]);
});
