// InvokeModel and InvokeModelWithResponseStream with Anthropic's Messages API body through
// @aws-sdk/client-bedrock-runtime (SPEC §4.1–4.2, §7.1).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { InvokeModelCommand, InvokeModelWithResponseStreamCommand } from "@aws-sdk/client-bedrock-runtime";

import { collectEvents, HAIKU, runtimeClient, startEmulator } from "./emulator.js";

let emulator;
let client;

before(async () => {
  emulator = await startEmulator();
  client = runtimeClient(emulator.url);
});

after(async () => {
  client?.destroy();
  await emulator?.stop();
});

const anthropicBody = (text) =>
  JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 300,
    messages: [{ role: "user", content: [{ type: "text", text }] }],
  });

const invoke = (Command, text) =>
  client.send(new Command({ modelId: HAIKU, contentType: "application/json", accept: "application/json", body: anthropicBody(text) }));

test("InvokeModel with an Anthropic body answers a Messages API body", async () => {
  const out = await invoke(InvokeModelCommand, "Name three rivers");
  assert.equal(out.contentType, "application/json");
  const body = JSON.parse(out.body.transformToString());
  assert.match(body.id, /^msg_bdrk_01/);
  assert.equal(body.type, "message");
  assert.equal(body.role, "assistant");
  assert.equal(body.model, "claude-3-haiku-20240307");
  assert.equal(body.stop_reason, "end_turn");
  assert.equal(body.content.length, 1);
  assert.equal(body.content[0].type, "text");
  assert.match(body.content[0].text, /^You said: "Name three rivers"\. \S/);
  assert.ok(body.usage.input_tokens > 0 && body.usage.output_tokens > 0, JSON.stringify(body.usage));
});

test("InvokeModelWithResponseStream chunks decode to message_start … message_stop with invocation metrics last", async () => {
  const unary = JSON.parse((await invoke(InvokeModelCommand, "Name three mountains")).body.transformToString());
  const out = await invoke(InvokeModelWithResponseStreamCommand, "Name three mountains");
  assert.equal(out.contentType, "application/json");
  const events = await collectEvents(out.body);
  assert.ok(events.length > 3);
  assert.ok(events.every(([kind]) => kind === "chunk"), events.map(([kind]) => kind).join(", "));
  const chunks = events.map(([, chunk]) => {
    assert.ok(chunk.bytes instanceof Uint8Array);
    return JSON.parse(new TextDecoder().decode(chunk.bytes));
  });
  assert.equal(chunks[0].type, "message_start");
  assert.equal(chunks.at(-1).type, "message_stop");
  const metrics = chunks.at(-1)["amazon-bedrock-invocationMetrics"];
  assert.ok(metrics, JSON.stringify(chunks.at(-1)));
  assert.equal(metrics.inputTokenCount, unary.usage.input_tokens);
  assert.equal(metrics.outputTokenCount, unary.usage.output_tokens);
  for (const key of ["invocationLatency", "firstByteLatency"]) assert.ok(Number.isInteger(metrics[key]), key);
  assert.ok(chunks.slice(0, -1).every((chunk) => chunk["amazon-bedrock-invocationMetrics"] === undefined));
  const text = chunks
    .filter((chunk) => chunk.type === "content_block_delta" && chunk.delta.type === "text_delta")
    .map((chunk) => chunk.delta.text)
    .join("");
  assert.equal(text, unary.content[0].text);
});
