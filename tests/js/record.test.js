// The recording proxy (`serve --record DIR`) through the AWS SDK for JavaScript v3, its runtime
// client unmodified (its default handler speaks cleartext HTTP/2). No AWS: the emulator plays
// its own upstream.
//
//   B  `serve --auth sigv4 --credentials FILE --seed 3`: "real Bedrock", verifying SigV4
//      against the upstream keys, answering deterministically.
//   A  `serve --record DIR --upstream B` with the upstream keys in its environment (the standard
//      AWS chain and nothing else): forwards to B re-signed, writes one cassette per interaction.
//      The client holds credentials of its own (A is permissive).
//   C  `serve --replay DIR --strict` once A and B are stopped: answers from A's cassettes.
//
// A client holding B's keys and talking to B directly is the reference.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

import { adminListing, collectEvents, HAIKU, startEmulatorWith, textOf, user } from "./emulator.js";

const UPSTREAM_KEY = "AKIDUPSTREAMPYTEST";
const UPSTREAM_SECRET = "upstream-secret";
const CLIENT_KEY = "ASIACLIENTJSTEST0000";
const CLIENT_SECRET = "client-secret-js-Hy6";
const CLIENT_TOKEN = "client-session-token-js-Tb2";

const work = mkdtempSync(join(tmpdir(), "bedrock-record-js-"));
const cassetteDir = join(work, "cassettes");
const credentialsFile = join(work, "credentials");
writeFileSync(
  credentialsFile,
  `[upstream]\naws_access_key_id = ${UPSTREAM_KEY}\naws_secret_access_key = ${UPSTREAM_SECRET}\n`,
);

/** A's environment: the upstream keys for the standard chain, nothing else it could use. */
function recorderEnv() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
  return {
    ...env,
    AWS_ACCESS_KEY_ID: UPSTREAM_KEY,
    AWS_SECRET_ACCESS_KEY: UPSTREAM_SECRET,
    AWS_REGION: "us-east-1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: join(work, "no-such-config"),
    AWS_SHARED_CREDENTIALS_FILE: join(work, "no-such-credentials"),
  };
}

/** `serve --port 0 ARGS` with its own environment, stderr quoted if it does not start. */
const serve = (args, env = process.env) => startEmulatorWith({ env, captureStderr: true }, ...args);

const client = (url, accessKeyId = CLIENT_KEY, secretAccessKey = CLIENT_SECRET, sessionToken = CLIENT_TOKEN) =>
  new BedrockRuntimeClient({
    endpoint: url,
    region: "us-east-1",
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
    maxAttempts: 1,
  });

const anthropicBody = (text) =>
  JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 60, messages: [{ role: "user", content: text }] });

/** What a client sees of one fixed set of calls. */
async function observe(rt) {
  const converse = await rt.send(new ConverseCommand({ modelId: HAIKU, messages: [user("Tell me about tides")] }));
  const stream = await rt.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user("Stream about rivers")] }));
  const events = await collectEvents(stream.stream);
  const imwrs = await rt.send(
    new InvokeModelWithResponseStreamCommand({
      modelId: HAIKU,
      contentType: "application/json",
      accept: "application/json",
      body: anthropicBody("Native hello"),
    }),
  );
  const chunks = (await collectEvents(imwrs.body)).map(([kind, chunk]) => {
    assert.equal(kind, "chunk");
    const decoded = JSON.parse(new TextDecoder().decode(chunk.bytes));
    if (decoded.type === "message_start") {
      assert.ok(decoded.message.id, "message_start has an id");
      delete decoded.message.id; // random per answer
    }
    return decoded;
  });
  return {
    converse: { text: textOf(converse), stopReason: converse.stopReason, usage: converse.usage },
    events,
    chunks,
    requestIds: [converse.$metadata.requestId, stream.$metadata.requestId, imwrs.$metadata.requestId],
  };
}

const apiEntries = async (server) => (await adminListing(server.url, "journal", "entries")).entries.filter((e) => e.operation);

let direct;
let recorded;
let replayed;
let aJournal;
let bJournal;
let cJournal;
let files;
let setupError;

before(async () => {
  let a;
  let b;
  let c;
  const clients = [];
  const use = (rt) => {
    clients.push(rt);
    return rt;
  };
  try {
    b = await serve(["--auth", "sigv4", "--credentials", credentialsFile, "--seed", "3"]);
    direct = await observe(use(client(b.url, UPSTREAM_KEY, UPSTREAM_SECRET, null)));
    const bBefore = (await apiEntries(b)).length;
    a = await serve(["--record", cassetteDir, "--record-mode", "once", "--upstream", b.url], recorderEnv());
    recorded = await observe(use(client(a.url)));
    aJournal = await apiEntries(a);
    bJournal = (await apiEntries(b)).slice(bBefore);
    await a.stop();
    await b.stop();
    files = readdirSync(cassetteDir).sort();
    c = await serve(["--replay", cassetteDir, "--strict"]);
    replayed = await observe(use(client(c.url)));
    cJournal = await apiEntries(c);
  } catch (err) {
    setupError = err;
  } finally {
    for (const rt of clients) rt.destroy();
    for (const server of [c, a, b]) await server?.stop();
  }
});

after(() => rmSync(work, { recursive: true, force: true }));

const ready = () => {
  if (setupError) throw setupError;
};

test("the reference answers from B are what the calls ask for", () => {
  if (!direct) ready();
  assert.match(direct.converse.text, /Tell me about tides/);
  assert.equal(direct.converse.stopReason, "end_turn");
  const kinds = direct.events.map(([kind]) => kind);
  assert.equal(kinds[0], "messageStart");
  assert.equal(kinds.at(-1), "metadata");
  assert.ok(kinds.includes("contentBlockDelta"));
  assert.equal(direct.chunks[0].type, "message_start");
  assert.equal(direct.chunks.at(-1).type, "message_stop");
});

test("Converse through the recorder (HTTP/2) and from the replay answers what B answered", () => {
  ready();
  assert.deepEqual(recorded.converse, direct.converse, "through A");
  assert.deepEqual(replayed.converse, direct.converse, "from C");
});

test("ConverseStream events through the recorder and from the replay are B's, payloads and all", () => {
  ready();
  assert.deepEqual(recorded.events, direct.events, "through A");
  assert.deepEqual(replayed.events, direct.events, "from C");
});

test("InvokeModelWithResponseStream chunks through the recorder and from the replay are B's", () => {
  ready();
  assert.deepEqual(recorded.chunks, direct.chunks, "through A");
  assert.deepEqual(replayed.chunks, direct.chunks, "from C");
});

test("A answered from upstream (B verified each re-signed request), C from A's cassettes", () => {
  ready();
  const operations = ["Converse", "ConverseStream", "InvokeModelWithResponseStream"];
  assert.deepEqual(aJournal.map((e) => [e.operation, e.answeredBy]), operations.map((o) => [o, "upstream"]));
  // The client spoke HTTP/2 to A: `:authority`, no Host header.
  const names = (headers) => (Array.isArray(headers) ? headers.map(([k]) => k) : Object.keys(headers ?? {}));
  for (const entry of aJournal) {
    assert.ok(names(entry.headers).includes("content-type"), `${entry.operation}'s journalled headers`);
    assert.ok(!names(entry.headers).includes("host"), `${entry.operation} came over HTTP/2`);
  }
  assert.deepEqual(bJournal.map((e) => [e.operation, e.status]), operations.map((o) => [o, 200]));
  assert.equal(files.length, 3, files.join(", "));
  assert.deepEqual(cJournal.map((e) => e.operation), operations);
  for (const entry of cJournal) {
    assert.equal(entry.status, 200);
    assert.ok(entry.answeredBy.startsWith("replay:"), entry.answeredBy);
    const name = entry.answeredBy.slice("replay:".length).split("/").at(-1);
    assert.ok(files.includes(name), `${entry.answeredBy} names one of ${files.join(", ")}`);
  }
});

test("no credential of the client's or of the recorder's reaches a cassette", () => {
  ready();
  for (const name of files) {
    const text = readFileSync(join(cassetteDir, name), "utf8");
    for (const secret of [UPSTREAM_KEY, UPSTREAM_SECRET, CLIENT_KEY, CLIENT_SECRET, CLIENT_TOKEN, "Signature=", "AWS4-HMAC-SHA256"]) {
      assert.ok(!text.includes(secret), `${name} holds ${secret}`);
    }
    assert.doesNotMatch(text, /(?:AKIA|ASIA)[A-Z0-9]{16}|x-amz-security-token|"authorization"/i, name);
  }
});

test("each answer carries one request id (x-amzn-requestid), through A as directly and from C", () => {
  ready();
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  for (const [label, seen] of [["direct", direct], ["through A", recorded], ["from C", replayed]]) {
    for (const id of seen.requestIds) assert.match(String(id), uuid, `${label}: ${id}`);
  }
});
