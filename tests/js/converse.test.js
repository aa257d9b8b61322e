// Converse and ConverseStream through @aws-sdk/client-bedrock-runtime: text and usage, the
// stream's event order, stream/unary parity, and a forced tool call (SPEC §4.3–4.4).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";

import { collectEvents, HAIKU, runtimeClient, startEmulator, textOf, user } from "./emulator.js";

const WEATHER_SCHEMA = {
  type: "object",
  properties: {
    city: { type: "string", minLength: 2 },
    unit: { type: "string", enum: ["celsius", "fahrenheit"] },
    days: { type: "integer", minimum: 1, maximum: 7 },
  },
  required: ["city", "unit", "days"],
};
const WEATHER_TOOL = {
  toolSpec: { name: "get_weather", description: "Current weather for a city", inputSchema: { json: WEATHER_SCHEMA } },
};

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

const request = (text, extra = {}) => ({ modelId: HAIKU, messages: [user(text)], ...extra });

test("Converse answers assistant text with consistent usage", async () => {
  const out = await client.send(new ConverseCommand(request("Tell me about the sea")));
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.equal(out.output.message.role, "assistant");
  assert.equal(out.stopReason, "end_turn");
  assert.match(textOf(out), /^You said: "Tell me about the sea"\. \S/);
  const { inputTokens, outputTokens, totalTokens } = out.usage;
  assert.ok(Number.isInteger(inputTokens) && inputTokens > 0, `inputTokens ${inputTokens}`);
  assert.ok(Number.isInteger(outputTokens) && outputTokens > 0, `outputTokens ${outputTokens}`);
  assert.equal(totalTokens, inputTokens + outputTokens);
  assert.ok(out.metrics.latencyMs > 0);
});

test("ConverseStream sends messageStart first, text deltas, contentBlockStop, messageStop, then metadata last", async () => {
  const out = await client.send(new ConverseStreamCommand(request("Count to five.")));
  const events = await collectEvents(out.stream);
  const kinds = events.map(([kind]) => kind);
  assert.deepEqual(events[0], ["messageStart", { role: "assistant" }]);
  const deltas = kinds.lastIndexOf("contentBlockDelta");
  assert.ok(deltas > 1, `several deltas expected: ${kinds.join(", ")}`);
  assert.ok(kinds.slice(1, deltas + 1).every((kind) => kind === "contentBlockDelta"), kinds.join(", "));
  assert.deepEqual(kinds.slice(deltas + 1), ["contentBlockStop", "messageStop", "metadata"]);
  assert.equal(events.at(-2)[1].stopReason, "end_turn");
  const { usage } = events.at(-1)[1];
  assert.equal(usage.totalTokens, usage.inputTokens + usage.outputTokens);
});

test("ConverseStream streams the same text and usage Converse answers for the same request", async () => {
  const req = request("Describe a quiet harbour at dawn", { inferenceConfig: { maxTokens: 200 } });
  const unary = await client.send(new ConverseCommand(req));
  const events = await collectEvents((await client.send(new ConverseStreamCommand(req))).stream);
  const streamed = events
    .filter(([kind, payload]) => kind === "contentBlockDelta" && payload.delta.text !== undefined)
    .map(([, payload]) => payload.delta.text)
    .join("");
  assert.equal(streamed, textOf(unary));
  const metadata = events.find(([kind]) => kind === "metadata")[1];
  assert.deepEqual(
    { ...metadata.usage },
    { inputTokens: unary.usage.inputTokens, outputTokens: unary.usage.outputTokens, totalTokens: unary.usage.totalTokens },
  );
});

test("Converse with toolChoice any calls the tool with input valid against its schema", async () => {
  const out = await client.send(
    new ConverseCommand(request("Plan my week.", { toolConfig: { tools: [WEATHER_TOOL], toolChoice: { any: {} } } })),
  );
  assert.equal(out.stopReason, "tool_use");
  const calls = out.output.message.content.filter((block) => block.toolUse !== undefined).map((b) => b.toolUse);
  assert.equal(calls.length, 1);
  const [call] = calls;
  assert.equal(call.name, "get_weather");
  assert.match(call.toolUseId, /^tooluse_[A-Za-z0-9_-]{22}$/);
  // The SDK hands the tool input over as a parsed document; check it against WEATHER_SCHEMA.
  const { input } = call;
  assert.deepEqual(Object.keys(input).sort(), ["city", "days", "unit"]);
  assert.equal(typeof input.city, "string");
  assert.ok(input.city.length >= 2, `city ${JSON.stringify(input.city)}`);
  assert.ok(WEATHER_SCHEMA.properties.unit.enum.includes(input.unit), `unit ${input.unit}`);
  assert.ok(Number.isInteger(input.days) && input.days >= 1 && input.days <= 7, `days ${input.days}`);
});
