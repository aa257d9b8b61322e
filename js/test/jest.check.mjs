// The package from jest (ESM test files: node --experimental-vm-modules), one emulator per file.
import { BedrockRuntimeClient, ConverseCommand } from "@aws-sdk/client-bedrock-runtime";
import { afterAll, beforeAll, beforeEach, expect, test } from "@jest/globals";
import { startEmulator } from "bedrock-emulator";

let emulator;
let client;
beforeAll(async () => {
  emulator = await startEmulator();
  client = new BedrockRuntimeClient(emulator.clientConfig());
});
beforeEach(() => emulator.reset());
afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

test("a Converse call is answered and journaled", async () => {
  const reply = await client.send(
    new ConverseCommand({ modelId: "amazon.nova-micro-v1:0", messages: [{ role: "user", content: [{ text: "Hello from jest" }] }] }),
  );
  expect(reply.stopReason).toBe("end_turn");
  await emulator.verify({ lastUserMessage: "Hello from jest" }, 1);
});

test("the journal starts empty for each test", async () => {
  expect(await emulator.journal()).toEqual([]);
});
