// Fault injection (`/_emulator/faults`) driven through the AWS SDK for JavaScript v3: what the
// SDK's default retry strategy does with injected errors, resets and stalls, and how its
// event-stream decoder reacts to mid-stream faults (exception frames, corrupt CRCs, aborts,
// truncation). The runtime client keeps its default HTTP/2 handler unless a test says otherwise.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, afterEach, before, test } from "node:test";

import {
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
  ModelStreamErrorException,
  ModelTimeoutException,
  ThrottlingException,
} from "@aws-sdk/client-bedrock-runtime";
// Not a dependency of its own: the runtime client depends on it, so the lockfile pins it.
import { NodeHttp2Handler, NodeHttpHandler } from "@smithy/node-http-handler";

import { admin, adminListing, HAIKU, retryingRuntimeClient, runtimeClient, startEmulator, user } from "./emulator.js";

/**
 * Attempts the emulator journals for one Converse call when every attempt is answered with the
 * error, under the SDK's default retry strategy (standard mode, maxAttempts 3). Observed with
 * @aws-sdk/client-bedrock-runtime 3.1163.0: @smithy/core retries THROTTLING errors (HTTP 429,
 * a throttling error name, or the model's `@retryable(throttling)`) and TRANSIENT ones
 * (HTTP 500/502/503/504, `@retryable`, timeouts and connection resets); 408 and 424 are not.
 * `status` is the HTTP status the emulator answers and the Bedrock model declares.
 */
const RETRY_MATRIX = Object.freeze({
  ThrottlingException: { status: 429, attempts: 3 },
  ModelNotReadyException: { status: 429, attempts: 3 },
  ServiceUnavailableException: { status: 503, attempts: 3 },
  InternalServerException: { status: 500, attempts: 3 },
  ModelTimeoutException: { status: 408, attempts: 1 },
  ModelErrorException: { status: 424, attempts: 1 },
  ValidationException: { status: 400, attempts: 1 },
  AccessDeniedException: { status: 403, attempts: 1 },
  ServiceQuotaExceededException: { status: 400, attempts: 1 },
});
const RETRY_MATRIX_OUT = "/tmp/retry-matrix-js.json";

/** How long a stream may take to end or fail before a test calls it hung. */
const HANG_MS = 5_000;

let emulator;
let client; // one attempt per call (runtimeClient), for tests of what a single answer looks like

before(async () => {
  emulator = await startEmulator();
  client = runtimeClient(emulator.url);
});

afterEach(async () => {
  await admin(emulator.url, "DELETE", "faults");
});

after(async () => {
  client?.destroy();
  await emulator?.stop();
});

/** Installs one fault rule through the admin API, failing unless it is accepted. */
async function addFault(rule) {
  const response = await admin(emulator.url, "POST", "faults", rule);
  assert.equal(response.status, 201, `fault refused: ${response.text}`);
  return response.json.name;
}

/** A fresh client with the SDK's default retries (its retry capacity is per client), destroyed after the test. */
function retrying(t, options) {
  const retryingClient = retryingRuntimeClient(emulator.url, options);
  t.after(() => retryingClient.destroy());
  return retryingClient;
}

/** Journal entries of the requests whose last user message is exactly `text`, oldest first. */
async function journalFor(text) {
  const json = await adminListing(emulator.url, "journal", "entries");
  return json.entries.filter((entry) => entry.lastUserText === text);
}

/** Groups journal entries by `invocationId` (amz-sdk-invocation-id). */
function byInvocation(entries) {
  const groups = new Map();
  for (const entry of entries) {
    assert.ok(entry.invocationId, `entry ${entry.seq} has no invocationId`);
    groups.set(entry.invocationId, [...(groups.get(entry.invocationId) ?? []), entry]);
  }
  return groups;
}

const converse = (sdkClient, text) =>
  sdkClient.send(new ConverseCommand({ modelId: HAIKU, messages: [user(text)] }));
const converseStream = (sdkClient, text) =>
  sdkClient.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user(text)] }));

/**
 * Iterates an SDK event stream for at most HANG_MS. Never rejects: resolves to the event kinds
 * seen and how it ended, `{outcome: "ended" | "threw" | "hung", kinds, error}`.
 */
async function drain(stream) {
  const kinds = [];
  let timer;
  const hung = new Promise((done) => {
    timer = setTimeout(() => done({ outcome: "hung" }), HANG_MS);
  });
  const iterated = (async () => {
    try {
      for await (const event of stream) kinds.push(Object.keys(event).find((key) => event[key] !== undefined));
      return { outcome: "ended" };
    } catch (error) {
      return { outcome: "threw", error };
    }
  })();
  try {
    return { ...(await Promise.race([iterated, hung])), kinds };
  } finally {
    clearTimeout(timer);
  }
}

const describeError = (err) => `${err?.constructor?.name} ${err?.name} (${err?.code}): ${err?.message}`;

test("a ThrottlingException on the first two attempts is retried and Converse succeeds on the third", async (t) => {
  const text = "throttle-twice-then-answer";
  const name = await addFault({
    name: "throttle-twice",
    match: { operation: "Converse", lastUserMessage: text },
    on: { attempts: 2 },
    inject: { error: { type: "ThrottlingException" } },
  });
  const out = await converse(retrying(t), text);
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.equal(out.$metadata.attempts, 3);
  assert.ok(out.output.message.content.length > 0);

  const entries = await journalFor(text);
  assert.equal(byInvocation(entries).size, 1);
  assert.deepEqual(
    entries.map(({ attempt, status, faults, answeredBy }) => ({ attempt, status, faults, answeredBy })),
    [
      { attempt: 1, status: 429, faults: [name], answeredBy: `fault:${name}` },
      { attempt: 2, status: 429, faults: [name], answeredBy: `fault:${name}` },
      { attempt: 3, status: 200, faults: [], answeredBy: "synthetic" },
    ],
  );
  const listed = (await adminListing(emulator.url, "faults", "faults")).faults.find((f) => f.name === name);
  assert.deepEqual([listed.matched, listed.hits], [3, 2]);
});

test("two concurrent Converse calls are each throttled twice and both succeed on their third attempt", async (t) => {
  const text = "two-callers-throttled-twice";
  await addFault({
    match: { operation: "Converse", lastUserMessage: text },
    on: { attempts: 2 },
    inject: { error: { type: "ThrottlingException" } },
  });
  const sdkClient = retrying(t);
  const outs = await Promise.all([converse(sdkClient, text), converse(sdkClient, text)]);
  assert.deepEqual(
    outs.map((out) => [out.$metadata.httpStatusCode, out.$metadata.attempts]),
    [
      [200, 3],
      [200, 3],
    ],
  );

  const invocations = byInvocation(await journalFor(text));
  assert.equal(invocations.size, 2);
  for (const [id, entries] of invocations) {
    assert.deepEqual(
      entries.map(({ attempt, status }) => [attempt, status]),
      [
        [1, 429],
        [2, 429],
        [3, 200],
      ],
      `invocation ${id}`,
    );
  }
});

test("a ThrottlingException on every attempt makes the SDK give up after its default 3 attempts", async (t) => {
  const text = "throttle-every-attempt";
  await addFault({ match: { operation: "Converse", lastUserMessage: text }, inject: { error: { type: "ThrottlingException" } } });
  await assert.rejects(converse(retrying(t), text), (err) => {
    assert.ok(err instanceof ThrottlingException, `got ${describeError(err)}`);
    assert.equal(err.name, "ThrottlingException");
    assert.equal(err.$metadata.httpStatusCode, 429);
    assert.equal(err.$metadata.attempts, 3);
    assert.equal(
      err.message,
      "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again.",
    );
    return true;
  });
  const entries = await journalFor(text);
  assert.deepEqual(
    entries.map(({ attempt, status }) => [attempt, status]),
    [
      [1, 429],
      [2, 429],
      [3, 429],
    ],
  );
  assert.equal(byInvocation(entries).size, 1);
});

test("a ModelTimeoutException (408) is not retried: the SDK throws it after one attempt", async (t) => {
  const text = "model-times-out";
  await addFault({ match: { operation: "Converse", lastUserMessage: text }, inject: { error: { type: "ModelTimeoutException" } } });
  await assert.rejects(converse(retrying(t), text), (err) => {
    assert.ok(err instanceof ModelTimeoutException, `got ${describeError(err)}`);
    assert.equal(err.$metadata.httpStatusCode, 408);
    assert.equal(err.$metadata.attempts, 1);
    assert.equal(err.message, "Model has timed out in processing the request. Try your request again.");
    return true;
  });
  assert.deepEqual(
    (await journalFor(text)).map(({ attempt, status }) => [attempt, status]),
    [[1, 408]],
  );
});

test("the attempts the SDK makes for each Bedrock error type match the frozen retry table", async (t) => {
  const sdkClient = retrying(t);
  const observed = Object.fromEntries(
    await Promise.all(
      Object.keys(RETRY_MATRIX).map(async (type) => {
        const text = `retry-matrix-${type}`;
        await addFault({ match: { operation: "Converse", lastUserMessage: text }, inject: { error: { type } } });
        const err = await converse(sdkClient, text).then(
          () => assert.fail(`${type}: Converse succeeded`),
          (error) => error,
        );
        assert.equal(err.name, type, describeError(err));
        const entries = await journalFor(text);
        assert.equal(err.$metadata.attempts, entries.length, `${type}: SDK and journal disagree on attempts`);
        return [type, { status: err.$metadata.httpStatusCode, attempts: entries.length }];
      }),
    ),
  );
  writeFileSync(RETRY_MATRIX_OUT, `${JSON.stringify(observed, null, 2)}\n`);
  assert.deepEqual(observed, RETRY_MATRIX);
});

test("a ModelStreamErrorException after 2 events of a synthetic ConverseStream surfaces as the typed error while iterating", async () => {
  const text = "stream-then-model-stream-error";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    inject: { stream: { afterEvents: 2, then: { exception: { type: "ModelStreamErrorException" } } } },
  });
  const out = await converseStream(client, text);
  assert.equal(out.$metadata.httpStatusCode, 200);
  const { outcome, kinds, error } = await drain(out.stream);
  assert.equal(outcome, "threw");
  assert.ok(error instanceof ModelStreamErrorException, `got ${describeError(error)}`);
  assert.equal(error.name, "ModelStreamErrorException");
  assert.deepEqual(kinds, ["messageStart", "contentBlockDelta"]);
});

test("a ThrottlingException after 2 events of a synthetic ConverseStream surfaces as the typed error while iterating", async () => {
  const text = "stream-then-throttling";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    inject: { stream: { afterEvents: 2, then: { exception: { type: "ThrottlingException" } } } },
  });
  const { outcome, kinds, error } = await drain((await converseStream(client, text)).stream);
  assert.equal(outcome, "threw");
  assert.ok(error instanceof ThrottlingException, `got ${describeError(error)}`);
  assert.equal(
    error.message,
    "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again.",
  );
  assert.deepEqual(kinds, ["messageStart", "contentBlockDelta"]);
});

test("a ModelTimeoutException after 2 chunks of InvokeModelWithResponseStream surfaces as the typed error while iterating", async () => {
  const text = "invoke-stream-then-model-timeout";
  await addFault({
    match: { operation: "InvokeModelWithResponseStream", lastUserMessage: text },
    inject: { stream: { afterEvents: 2, then: { exception: { type: "ModelTimeoutException" } } } },
  });
  const out = await client.send(
    new InvokeModelWithResponseStreamCommand({
      modelId: HAIKU,
      contentType: "application/json",
      body: JSON.stringify({
        anthropic_version: "bedrock-2023-05-31",
        max_tokens: 200,
        messages: [{ role: "user", content: text }],
      }),
    }),
  );
  assert.equal(out.$metadata.httpStatusCode, 200);
  const { outcome, kinds, error } = await drain(out.body);
  assert.equal(outcome, "threw");
  assert.ok(error instanceof ModelTimeoutException, `got ${describeError(error)}`);
  assert.equal(error.message, "Model has timed out in processing the request. Try your request again.");
  assert.deepEqual(kinds, ["chunk", "chunk"]);
});

test("a ModelTimeoutException stream exception is refused for ConverseStream, whose event stream has no such event", async () => {
  // Only InvokeModelWithResponseStream's event union has modelTimeoutException; sent on a
  // ConverseStream, the SDK cannot type it and throws a plain Error named "modelTimeoutException".
  const response = await admin(emulator.url, "POST", "faults", {
    match: { operation: "ConverseStream", lastUserMessage: "converse-stream-then-model-timeout" },
    inject: { stream: { afterEvents: 2, then: { exception: { type: "ModelTimeoutException" } } } },
  });
  assert.equal(response.status, 400, `accepted: ${response.text}`);
  assert.match(response.json.message, /ModelTimeoutException/);
});

test("a corrupt frame after 2 events makes iterating the ConverseStream throw a checksum error instead of hanging", async () => {
  const text = "stream-then-corrupt";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    inject: { stream: { afterEvents: 2, then: { corrupt: {} } } },
  });
  const { outcome, kinds, error } = await drain((await converseStream(client, text)).stream);
  assert.equal(outcome, "threw");
  assert.match(error.message, /checksum/i, describeError(error));
  assert.deepEqual(kinds, ["messageStart", "contentBlockDelta"]);
});

test("an abort after 2 events makes iterating the ConverseStream throw instead of hanging", async () => {
  const text = "stream-then-abort";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    inject: { stream: { afterEvents: 2, then: { abort: {} } } },
  });
  const { outcome, kinds, error } = await drain((await converseStream(client, text)).stream);
  assert.equal(outcome, "threw");
  // Over HTTP/2 the abort is an RST_STREAM (NGHTTP2_INTERNAL_ERROR). The emulator sends both
  // events first (a raw node:http2 client receives them), but the readable that errors drops
  // what it had buffered, so the SDK yields one or two of them.
  assert.equal(error.code, "ERR_HTTP2_STREAM_ERROR", describeError(error));
  assert.ok(kinds.length >= 1 && kinds.length <= 2, kinds.join(", "));
  assert.deepEqual(kinds, ["messageStart", "contentBlockDelta"].slice(0, kinds.length));
});

test("a truncated ConverseStream ends iteration cleanly after 2 events, without messageStop or metadata", async () => {
  const text = "stream-then-truncate";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    inject: { stream: { afterEvents: 2, then: { truncate: {} } } },
  });
  const { outcome, kinds, error } = await drain((await converseStream(client, text)).stream);
  assert.equal(outcome, "ended", describeError(error));
  assert.deepEqual(kinds, ["messageStart", "contentBlockDelta"]);
});

test("a stream fault on unary Converse is refused, or else is not journaled as injected since it changes nothing", async () => {
  const text = "stream-fault-on-unary-converse";
  const rule = {
    name: "stream-on-unary",
    match: { operation: "Converse", lastUserMessage: text },
    inject: { stream: { afterEvents: 0, then: { abort: {} } } },
  };
  const response = await admin(emulator.url, "POST", "faults", rule);
  if (response.status === 400) return;
  assert.equal(response.status, 201, response.text);
  const out = await converse(client, text);
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.equal(out.stopReason, "end_turn");
  const [entry] = await journalFor(text);
  assert.deepEqual(entry.faults, [], "the journal names a fault that did not change the reply");
  const listed = (await adminListing(emulator.url, "faults", "faults")).faults.find((f) => f.name === rule.name);
  assert.equal(listed.hits, 0, "the fault counts a hit that did not change the reply");
});

test("a connection reset on the first attempt is retried by the SDK and Converse succeeds on the second", async (t) => {
  const text = "reset-once-then-answer";
  const name = await addFault({
    name: "reset-once",
    match: { operation: "Converse", lastUserMessage: text },
    on: { attempts: 1 },
    inject: { reset: {} },
  });
  // Over HTTP/2 the TCP RST fails the stream with ECONNRESET, which the SDK counts as transient.
  const out = await converse(retrying(t), text);
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.equal(out.$metadata.attempts, 2);
  const entries = await journalFor(text);
  assert.equal(byInvocation(entries).size, 1);
  assert.deepEqual(
    entries.map(({ attempt, status, faults }) => ({ attempt, status, faults })),
    [
      { attempt: 1, status: 0, faults: [name] },
      { attempt: 2, status: 200, faults: [] },
    ],
  );
});

test("a request stalled forever times out at the HTTP/2 client's requestTimeout while the emulator keeps answering others", async (t) => {
  const text = "stall-forever-h2";
  await addFault({ match: { operation: "Converse", lastUserMessage: text }, inject: { stall: { forever: true } } });
  const stalled = converse(retrying(t, { requestHandler: new NodeHttp2Handler({ requestTimeout: 300 }) }), text);
  stalled.catch(() => {}); // asserted below; keep it from being an unhandled rejection meanwhile

  // While the stalled call waits, another client's request is answered at once.
  const started = Date.now();
  const other = await converse(client, "answered-during-a-stall");
  assert.equal(other.$metadata.httpStatusCode, 200);
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);

  await assert.rejects(stalled, (err) => {
    assert.equal(err.name, "TimeoutError", describeError(err));
    assert.match(err.message, /timed out/);
    // A timeout is transient to the SDK: it tried three times.
    assert.equal(err.$metadata.attempts, 3);
    return true;
  });
  assert.deepEqual(
    (await journalFor(text)).map(({ attempt, status }) => [attempt, status]),
    [
      [1, 0],
      [2, 0],
      [3, 0],
    ],
  );
  assert.equal((await converse(client, "answered-after-a-stall")).$metadata.httpStatusCode, 200);
  assert.equal((await admin(emulator.url, "GET", "health")).json.status, "ok");
});

test("a request stalled forever times out at the HTTP/1.1 client's requestTimeout", async (t) => {
  const text = "stall-forever-h1";
  await addFault({ match: { operation: "Converse", lastUserMessage: text }, inject: { stall: { forever: true } } });
  // Without throwOnRequestTimeout, NodeHttpHandler only logs a warning at requestTimeout and the
  // call waits for as long as the emulator stalls.
  const handler = new NodeHttpHandler({ requestTimeout: 300, throwOnRequestTimeout: true });
  await assert.rejects(converse(retrying(t, { requestHandler: handler }), text), (err) => {
    assert.equal(err.name, "TimeoutError", describeError(err));
    assert.equal(err.$metadata.attempts, 3);
    return true;
  });
  assert.equal((await journalFor(text)).length, 3);
  assert.equal((await converse(client, "answered-after-an-h1-stall")).$metadata.httpStatusCode, 200);
});

test("an error injected on ConverseStream is the HTTP response: send() rejects before any event", async () => {
  const text = "stream-error-up-front";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    inject: { error: { type: "ThrottlingException", message: "no stream for you" } },
  });
  await assert.rejects(converseStream(client, text), (err) => {
    assert.ok(err instanceof ThrottlingException, `got ${describeError(err)}`);
    assert.equal(err.$metadata.httpStatusCode, 429);
    assert.equal(err.message, "no stream for you");
    return true;
  });
  assert.deepEqual(
    (await journalFor(text)).map(({ operation, status }) => [operation, status]),
    [["ConverseStream", 429]],
  );
});

test("an error injected on ConverseStream's first attempt is retried and the second attempt streams to the end", async (t) => {
  const text = "stream-error-once";
  await addFault({
    match: { operation: "ConverseStream", lastUserMessage: text },
    on: { attempts: 1 },
    inject: { error: { type: "ServiceUnavailableException" } },
  });
  const out = await converseStream(retrying(t), text);
  assert.equal(out.$metadata.attempts, 2);
  const { outcome, kinds } = await drain(out.stream);
  assert.equal(outcome, "ended");
  assert.deepEqual(kinds.slice(-2), ["messageStop", "metadata"]);
});

test("retryAfterSeconds sets x-amz-retry-after (ms) and Retry-After (s) on the error's $response", async () => {
  const text = "throttle-with-retry-after";
  await addFault({
    match: { operation: "Converse", lastUserMessage: text },
    inject: { error: { type: "ThrottlingException", retryAfterSeconds: 2 } },
  });
  // The SDK keeps the raw HTTP response on a service error as the non-enumerable `$response`.
  await assert.rejects(converse(client, text), (err) => {
    assert.ok(err instanceof ThrottlingException, `got ${describeError(err)}`);
    assert.ok(err.$response, "the error has no $response");
    assert.equal(err.$response.statusCode, 429);
    assert.equal(err.$response.headers["x-amz-retry-after"], "2000");
    assert.equal(err.$response.headers["retry-after"], "2");
    return true;
  });
});

test("the SDK waits the retryAfterSeconds hint before retrying", async (t) => {
  const text = "throttle-once-with-retry-after";
  await addFault({
    match: { operation: "Converse", lastUserMessage: text },
    on: { attempts: 1 },
    inject: { error: { type: "ThrottlingException", retryAfterSeconds: 2 } },
  });
  // Without the hint the throttling backoff before the first retry is random × 1000 ms, below
  // one second; with it the SDK waits max(backoff, hint) = about 2 s.
  const out = await converse(retrying(t), text);
  assert.equal(out.$metadata.attempts, 2);
  assert.ok(out.$metadata.totalRetryDelay >= 1_500, `totalRetryDelay ${out.$metadata.totalRetryDelay}`);
  const [first, second] = await journalFor(text);
  const gap = Date.parse(second.time) - Date.parse(first.time);
  assert.ok(gap >= 1_500, `attempts ${gap} ms apart`);
});
