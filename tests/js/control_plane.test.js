// The control plane through @aws-sdk/client-bedrock: the model catalog and system inference
// profiles (SPEC §8.1–8.2).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { GetInferenceProfileCommand, ListFoundationModelsCommand } from "@aws-sdk/client-bedrock";

import { controlClient, HAIKU, HAIKU_PROFILE, startEmulator } from "./emulator.js";

let emulator;
let client;

before(async () => {
  emulator = await startEmulator();
  client = controlClient(emulator.url);
});

after(async () => {
  client?.destroy();
  await emulator?.stop();
});

test("ListFoundationModels by provider Anthropic lists only Anthropic models, Claude 3 Haiku among them", async () => {
  const out = await client.send(new ListFoundationModelsCommand({ byProvider: "Anthropic" }));
  const models = out.modelSummaries;
  assert.ok(models.length > 1);
  assert.ok(models.every((m) => m.providerName === "Anthropic"), models.map((m) => m.providerName).join(", "));
  const haiku = models.find((m) => m.modelId === HAIKU);
  assert.ok(haiku, models.map((m) => m.modelId).join(", "));
  assert.equal(haiku.modelArn, `arn:aws:bedrock:us-east-1::foundation-model/${HAIKU}`);
  assert.equal(haiku.responseStreamingSupported, true);
  assert.ok(haiku.inputModalities.includes("TEXT"));
  assert.ok(haiku.outputModalities.includes("TEXT"));
});

test("GetInferenceProfile describes the US Claude 3 Haiku system profile", async () => {
  const out = await client.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: HAIKU_PROFILE }));
  assert.equal(out.inferenceProfileId, HAIKU_PROFILE);
  assert.equal(out.inferenceProfileArn, `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${HAIKU_PROFILE}`);
  assert.equal(out.type, "SYSTEM_DEFINED");
  assert.equal(out.status, "ACTIVE");
  // The SDK parses the timestamps into Dates.
  assert.ok(out.createdAt instanceof Date && !Number.isNaN(out.createdAt.getTime()));
  const arns = out.models.map((m) => m.modelArn);
  assert.ok(arns.length >= 2);
  assert.ok(arns.every((arn) => /^arn:aws:bedrock:us-[a-z]+-\d::foundation-model\//.test(arn) && arn.endsWith(HAIKU)), arns.join(", "));
});
