// InvokeModelWithBidirectionalStream (Nova Sonic) through the AWS SDK for JavaScript v3, which
// speaks it over HTTP/2 (its default NodeHttp2Handler; cleartext h2c to the emulator's http://
// endpoint), signing every input event as it does for AWS.
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { InvokeModelWithBidirectionalStreamCommand } from "@aws-sdk/client-bedrock-runtime";

import { runtimeClient, startEmulator } from "./emulator.js";

const SONIC = "amazon.nova-sonic-v1:0";

let emulator;
let runtime;
let scenarioDir;

before(async () => {
  scenarioDir = mkdtempSync(join(tmpdir(), "bidi-scenarios-"));
  writeFileSync(
    join(scenarioDir, "voice.yaml"),
    [
      "version: 1",
      "name: voice",
      "rules:",
      "  - name: weather-tool",
      "    match: { operation: InvokeModelWithBidirectionalStream, lastUserMessage: { contains: weather } }",
      "    reply:",
      "      toolUse: { name: getWeather, input: { city: Paris }, id: tool-1 }",
      "  - name: after-tool",
      "    match: { operation: InvokeModelWithBidirectionalStream, lastUserMessage: { contains: sunny } }",
      "    reply: { text: It is sunny in Paris. Enjoy your day! }",
      "  - name: refuse",
      "    match: { operation: InvokeModelWithBidirectionalStream, lastUserMessage: { contains: forbidden } }",
      "    reply: { error: { type: ThrottlingException, message: slow down } }",
      "",
    ].join("\n"),
  );
  emulator = await startEmulator("--scenarios", scenarioDir);
  runtime = runtimeClient(emulator.url);
});

after(async () => {
  runtime?.destroy();
  await emulator?.stop();
});

const enc = (event) => ({ chunk: { bytes: new TextEncoder().encode(JSON.stringify({ event })) } });

/** A queue the SDK reads input events from while the test reads output events. */
function inputQueue() {
  const items = [];
  let wake;
  let closed = false;
  return {
    push(event) {
      items.push(enc(event));
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (items.length) {
          yield items.shift();
        } else if (closed) {
          return;
        } else {
          await new Promise((r) => (wake = r));
          wake = undefined;
        }
      }
    },
  };
}

const PROMPT = "p1";
function opening(q, { tools } = {}) {
  q.push({ sessionStart: { inferenceConfiguration: { maxTokens: 1024, topP: 0.9, temperature: 0.7 } } });
  q.push({
    promptStart: {
      promptName: PROMPT,
      textOutputConfiguration: { mediaType: "text/plain" },
      audioOutputConfiguration: {
        mediaType: "audio/lpcm",
        sampleRateHertz: 24000,
        sampleSizeBits: 16,
        channelCount: 1,
        voiceId: "matthew",
        encoding: "base64",
        audioType: "SPEECH",
      },
      ...(tools ? { toolUseOutputConfiguration: { mediaType: "application/json" }, toolConfiguration: { tools } } : {}),
    },
  });
  q.push({
    contentStart: {
      promptName: PROMPT,
      contentName: "system",
      type: "TEXT",
      interactive: false,
      role: "SYSTEM",
      textInputConfiguration: { mediaType: "text/plain" },
    },
  });
  q.push({ textInput: { promptName: PROMPT, contentName: "system", content: "You are a friendly assistant." } });
  q.push({ contentEnd: { promptName: PROMPT, contentName: "system" } });
}

function userText(q, name, text) {
  q.push({
    contentStart: {
      promptName: PROMPT,
      contentName: name,
      type: "TEXT",
      interactive: true,
      role: "USER",
      textInputConfiguration: { mediaType: "text/plain" },
    },
  });
  q.push({ textInput: { promptName: PROMPT, contentName: name, content: text } });
  q.push({ contentEnd: { promptName: PROMPT, contentName: name } });
}

function closing(q) {
  q.push({ promptEnd: { promptName: PROMPT } });
  q.push({ sessionEnd: {} });
  q.close();
}

/** 16 kHz 16-bit mono: `speechMs` of a loud tone, then `silenceMs` of silence. */
function speech(speechMs, silenceMs) {
  const samples = ((speechMs + silenceMs) * 16000) / 1000;
  const buf = Buffer.alloc(samples * 2);
  for (let i = 0; i < (speechMs * 16000) / 1000; i++) {
    buf.writeInt16LE(Math.round(Math.sin((i * 2 * Math.PI * 440) / 16000) * 8000), i * 2);
  }
  return buf;
}

async function open(q) {
  const response = await runtime.send(new InvokeModelWithBidirectionalStreamCommand({ modelId: SONIC, body: q }));
  return response;
}

/** Reads output events until `until(event)` is true; returns them (names and bodies). */
async function readUntil(iterator, until) {
  const events = [];
  for (;;) {
    const { value, done } = await iterator.next();
    if (done) return events;
    assert.ok(value.chunk, `an output chunk, not ${JSON.stringify(Object.keys(value))}`);
    const doc = JSON.parse(new TextDecoder().decode(value.chunk.bytes));
    const [name] = Object.keys(doc.event);
    events.push({ name, body: doc.event[name] });
    if (until(name, doc.event[name])) return events;
  }
}

test("a spoken turn is transcribed, answered in text and audio, and counted", async () => {
  const q = inputQueue();
  opening(q);
  q.push({
    contentStart: {
      promptName: PROMPT,
      contentName: "audio",
      type: "AUDIO",
      interactive: true,
      role: "USER",
      audioInputConfiguration: {
        mediaType: "audio/lpcm",
        sampleRateHertz: 16000,
        sampleSizeBits: 16,
        channelCount: 1,
        audioType: "SPEECH",
        encoding: "base64",
      },
    },
  });
  // The SDK resolves `send` once the first output event arrives (it looks for an
  // initial-response), and Nova Sonic says nothing before the user has spoken: the audio is
  // sent while `send` is pending, as voice clients do.
  const opened = open(q);
  // 1.2 s of speech, then the silence that ends the turn, in 32 ms frames as clients send it.
  const audio = speech(1200, 800);
  for (let at = 0; at < audio.length; at += 1024) {
    q.push({ audioInput: { promptName: PROMPT, contentName: "audio", content: audio.subarray(at, at + 1024).toString("base64") } });
  }
  const response = await opened;
  assert.equal(response.$metadata.httpStatusCode, 200);
  const output = response.body[Symbol.asyncIterator]();
  const turn = await readUntil(output, (name) => name === "usageEvent");
  const names = turn.map((e) => e.name);
  assert.equal(names[0], "completionStart");
  const transcript = turn.find((e) => e.name === "textOutput");
  assert.equal(transcript.body.role, "USER");
  assert.equal(transcript.body.content, "[1.2 seconds of speech]");
  const stages = turn
    .filter((e) => e.name === "contentStart" && e.body.type === "TEXT" && e.body.role === "ASSISTANT")
    .map((e) => JSON.parse(e.body.additionalModelFields).generationStage);
  assert.ok(stages.includes("SPECULATIVE") && stages.includes("FINAL"), stages.join());
  const audioOut = turn.filter((e) => e.name === "audioOutput");
  assert.ok(audioOut.length > 0);
  const pcm = Buffer.concat(audioOut.map((e) => Buffer.from(e.body.content, "base64")));
  assert.equal(pcm.length % 2, 0);
  const audioStart = turn.find((e) => e.name === "contentStart" && e.body.type === "AUDIO");
  assert.deepEqual(audioStart.body.audioOutputConfiguration, {
    channelCount: 1,
    encoding: "base64",
    mediaType: "audio/lpcm",
    sampleRateHertz: 24000,
    sampleSizeBits: 16,
  });
  const ends = turn.filter((e) => e.name === "contentEnd").map((e) => e.body.stopReason);
  assert.equal(ends.at(-1), "END_TURN");
  const usage = turn.at(-1).body;
  assert.ok(usage.details.delta.input.speechTokens > 0);
  assert.ok(usage.details.delta.output.speechTokens > 0);
  assert.equal(usage.totalTokens, usage.totalInputTokens + usage.totalOutputTokens);
  // Every event names the same session, prompt and completion.
  const ids = new Set(turn.map((e) => `${e.body.sessionId}/${e.body.promptName}/${e.body.completionId}`));
  assert.equal(ids.size, 1);

  q.push({ contentEnd: { promptName: PROMPT, contentName: "audio" } });
  closing(q);
  const rest = await readUntil(output, () => false);
  assert.deepEqual(
    rest.map((e) => e.name),
    ["completionEnd"],
  );
});

test("a scenario's tool use goes out, the tool result comes back, and the next turn answers it", async () => {
  const tools = [
    {
      toolSpec: {
        name: "getWeather",
        description: "Weather for a city",
        inputSchema: { json: JSON.stringify({ type: "object", properties: { city: { type: "string" } } }) },
      },
    },
  ];
  const q = inputQueue();
  opening(q, { tools });
  userText(q, "u1", "What is the weather in Paris?");
  const response = await open(q);
  const output = response.body[Symbol.asyncIterator]();
  const first = await readUntil(output, (name) => name === "usageEvent");
  const toolUse = first.find((e) => e.name === "toolUse");
  assert.equal(toolUse.body.toolName, "getWeather");
  assert.equal(toolUse.body.toolUseId, "tool-1");
  assert.deepEqual(JSON.parse(toolUse.body.content), { city: "Paris" });
  assert.equal(first.find((e) => e.name === "contentEnd" && e.body.type === "TOOL").body.stopReason, "TOOL_USE");

  q.push({
    contentStart: {
      promptName: PROMPT,
      contentName: "r1",
      interactive: false,
      type: "TOOL",
      role: "TOOL",
      toolResultInputConfiguration: { toolUseId: "tool-1", type: "TEXT", textInputConfiguration: { mediaType: "text/plain" } },
    },
  });
  q.push({ toolResult: { promptName: PROMPT, contentName: "r1", content: JSON.stringify({ forecast: "sunny" }) } });
  q.push({ contentEnd: { promptName: PROMPT, contentName: "r1" } });
  // The tool result is answered at once (here by the synthetic model, which reports it).
  const afterTool = await readUntil(output, (name) => name === "usageEvent");
  assert.ok(
    afterTool.some((e) => e.name === "textOutput" && e.body.content.includes("sunny")),
    JSON.stringify(afterTool.filter((e) => e.name === "textOutput")),
  );
  userText(q, "u2", "So it is sunny?");
  const second = await readUntil(output, (name) => name === "usageEvent");
  const finals = second.filter((e) => e.name === "textOutput").map((e) => e.body.content);
  assert.ok(finals.includes("It is sunny in Paris."), finals.join("|"));
  assert.ok(finals.includes("Enjoy your day!"), finals.join("|"));
  closing(q);
  await readUntil(output, () => false);
});

test("events out of order end the stream with a validationException", async () => {
  const q = inputQueue();
  opening(q);
  q.push({
    contentStart: {
      promptName: PROMPT,
      contentName: "open",
      type: "TEXT",
      interactive: false,
      role: "USER",
      textInputConfiguration: { mediaType: "text/plain" },
    },
  });
  q.push({ promptEnd: { promptName: PROMPT } });
  // The exception is the stream's first event, so `send` itself rejects with it.
  await assert.rejects(
    (async () => readUntil((await open(q)).body[Symbol.asyncIterator](), () => false))(),
    (e) => {
      assert.equal(e.name, "ValidationException");
      assert.equal(e.message, "Error(s):\nError 1 : All contents must be closed before ending prompt");
      return true;
    },
  );
  q.close();
});

test("a scenario error answers its turn as an in-stream exception", async () => {
  const q = inputQueue();
  opening(q);
  userText(q, "u1", "Say something forbidden");
  const response = await open(q);
  await assert.rejects(
    readUntil(response.body[Symbol.asyncIterator](), () => false),
    (e) => e.name === "ThrottlingException" && e.message === "slow down",
  );
  q.close();
});

test("a model other than Nova Sonic is refused before the stream opens", async () => {
  const q = inputQueue();
  opening(q);
  await assert.rejects(
    runtime.send(new InvokeModelWithBidirectionalStreamCommand({ modelId: "amazon.nova-micro-v1:0", body: q })),
    (e) => e.name === "ValidationException" && /does not support InvokeModelWithBidirectionalStream/.test(e.message),
  );
  q.close();
});

test("a fault rule breaks a session's output stream like any other stream", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bidi-faults-"));
  writeFileSync(
    join(dir, "faults.yaml"),
    [
      "version: 1",
      "name: sonic-faults",
      "faults:",
      "  - name: break-after-three",
      "    match: { operation: InvokeModelWithBidirectionalStream }",
      "    inject:",
      "      stream:",
      "        afterEvents: 3",
      "        then: { exception: { type: ModelStreamErrorException, message: broken on purpose } }",
      "",
    ].join("\n"),
  );
  const faulty = await startEmulator("--scenarios", dir);
  const client = runtimeClient(faulty.url);
  try {
    const q = inputQueue();
    opening(q);
    userText(q, "u1", "Hello there");
    const response = await client.send(new InvokeModelWithBidirectionalStreamCommand({ modelId: SONIC, body: q }));
    const seen = [];
    await assert.rejects(
      readUntil(response.body[Symbol.asyncIterator](), (name) => {
        seen.push(name);
        return false;
      }),
      (e) => e.name === "ModelStreamErrorException" && e.message === "broken on purpose",
    );
    // completionStart and the first assistant text block's start and text went out first.
    assert.deepEqual(seen, ["completionStart", "contentStart", "textOutput"]);
    q.close();
  } finally {
    client.destroy();
    await faulty.stop();
  }
});
