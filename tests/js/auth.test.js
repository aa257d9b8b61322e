// Signature and API-key verification (`serve --auth sigv4 --credentials FILE`) through the AWS
// SDK for JavaScript v3 (emulator/src/auth/). The runtime client's default handler is HTTP/2,
// which sends `:authority` and no `Host` header: the signatures checked here are the ones the
// SDK computes for h2 requests, and the journal confirms no Host header arrived.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { BedrockClient, GetInferenceProfileCommand, ListFoundationModelsCommand } from "@aws-sdk/client-bedrock";
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";

import { admin, adminListing, collectEvents, HAIKU, HAIKU_PROFILE, startEmulator, textOf, user } from "./emulator.js";

const ACCESS_KEY = "AKIDJSAUTHTEST";
const SECRET = "js-auth-secret-Tq2";
const TEMP_KEY = "ASIAJSAUTHTEMP";
const TEMP_SECRET = "js-temp-secret-Rw8";
const TEMP_TOKEN = "js-temp-session-token-Ke5";
const API_KEY = "bedrock-api-key-js-known-Ux1";

const CREDENTIALS = `[default]
aws_access_key_id = ${ACCESS_KEY}
aws_secret_access_key = ${SECRET}

[temporary]
aws_access_key_id = ${TEMP_KEY}
aws_secret_access_key = ${TEMP_SECRET}
aws_session_token = ${TEMP_TOKEN}
expiration = 2099-01-01T00:00:00Z

[api-key]
bedrock_api_key = ${API_KEY}
`;

const CORAL = ":http://internal.amazon.com/coral/com.amazon.coral.service/";
const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS " +
  "Secret Access Key and signing method. Consult the service documentation for details.";

let emulator;
let dir;
const clients = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "bedrock-auth-"));
  const file = join(dir, "credentials");
  writeFileSync(file, CREDENTIALS);
  emulator = await startEmulator("--auth", "sigv4", "--credentials", file);
});

after(async () => {
  for (const client of clients) client.destroy();
  await emulator?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A runtime client (HTTP/2 unless `http1`), one attempt unless `maxAttempts` says otherwise. */
const runtime = ({ http1 = false, ...config } = {}) => {
  const client = new BedrockRuntimeClient({
    endpoint: emulator.url,
    region: "us-east-1",
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
    maxAttempts: 1,
    ...(http1 ? { requestHandler: new NodeHttpHandler() } : {}),
    ...config,
  });
  clients.push(client);
  return client;
};

const control = (config = {}) => {
  const client = new BedrockClient({
    endpoint: emulator.url,
    region: "us-east-1",
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
    maxAttempts: 1,
    ...config,
  });
  clients.push(client);
  return client;
};

const converse = (client, text = "Hello from the JS auth suite") =>
  client.send(new ConverseCommand({ modelId: HAIKU, messages: [user(text)], inferenceConfig: { maxTokens: 50 } }));

const anthropicBody = (text) =>
  JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 50, messages: [{ role: "user", content: text }] });

/** Asserts `promise` rejects with `name`/`status` and the coral error type; returns the error. */
async function refused(promise, name, status = 403) {
  let caught;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.equal(caught.name, name, `${caught.name}: ${caught.message}`);
  assert.equal(caught.$metadata?.httpStatusCode, status, `${caught.name}: ${caught.message}`);
  assert.equal(caught.$response?.headers?.["x-amzn-errortype"], name + CORAL);
  return caught;
}

/** The journal's last entry (after the request under test), with its headers as an object. */
async function lastEntry() {
  const json = await adminListing(emulator.url, "journal", "entries");
  const entry = json.entries.at(-1);
  return { ...entry, headers: Object.fromEntries(entry.headers) };
}

// --- the right keys pass --------------------------------------------------------------------

test("Converse with the right keys over HTTP/2 (:authority, no Host header) is answered", async () => {
  const out = await converse(runtime());
  assert.equal(out.$metadata.httpStatusCode, 200);
  assert.ok(textOf(out));
  const entry = await lastEntry();
  assert.equal(entry.status, 200);
  assert.equal(entry.headers.host, undefined, "an HTTP/2 request carries :authority, not Host");
  assert.equal(entry.headers.authorization, "REDACTED");
});

test("Converse with the right keys over HTTP/1.1 (Host header) is answered", async () => {
  const out = await converse(runtime({ http1: true }));
  assert.equal(out.$metadata.httpStatusCode, 200);
  const entry = await lastEntry();
  assert.ok(entry.headers.host, "HTTP/1.1 sends Host");
});

test("ConverseStream with the right keys streams every event", async () => {
  const out = await runtime().send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user("Stream to me")] }));
  const kinds = (await collectEvents(out.stream)).map(([kind]) => kind);
  assert.equal(kinds[0], "messageStart");
  assert.ok(kinds.includes("contentBlockDelta"));
  assert.equal(kinds.at(-1), "metadata");
});

test("InvokeModel with a ':' in the model id verifies", async () => {
  const out = await runtime().send(
    new InvokeModelCommand({ modelId: HAIKU, contentType: "application/json", body: anthropicBody("Hi there") }),
  );
  const body = JSON.parse(new TextDecoder().decode(out.body));
  assert.equal(body.type, "message");
  assert.ok(body.content[0].text);
});

test("temporary credentials with their session token pass", async () => {
  const client = runtime({
    credentials: { accessKeyId: TEMP_KEY, secretAccessKey: TEMP_SECRET, sessionToken: TEMP_TOKEN },
  });
  assert.equal((await converse(client)).$metadata.httpStatusCode, 200);
  assert.equal((await lastEntry()).headers["x-amz-security-token"], "REDACTED");
});

test("control-plane ListFoundationModels with byProvider (a query string) verifies", async () => {
  const out = await control().send(new ListFoundationModelsCommand({ byProvider: "Anthropic" }));
  assert.ok(out.modelSummaries.length > 0);
  assert.ok(out.modelSummaries.every((m) => m.providerName === "Anthropic"));
  assert.equal((await lastEntry()).path, "/foundation-models");
});

test("control-plane GetInferenceProfile by ARN (':' and '/' in the path) verifies", async () => {
  const client = control();
  const { inferenceProfileArn } = await client.send(
    new GetInferenceProfileCommand({ inferenceProfileIdentifier: HAIKU_PROFILE }),
  );
  const out = await client.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: inferenceProfileArn }));
  assert.equal(out.inferenceProfileId, HAIKU_PROFILE);
});

test("over HTTP/1.1 ConverseStream and InvokeModel with the right keys pass too", async () => {
  const client = runtime({ http1: true });
  const out = await client.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user("Stream over h1")] }));
  assert.equal((await collectEvents(out.stream)).at(-1)[0], "metadata");
  const invoked = await client.send(
    new InvokeModelCommand({ modelId: HAIKU, contentType: "application/json", body: anthropicBody("Hi over h1") }),
  );
  assert.equal(JSON.parse(new TextDecoder().decode(invoked.body)).type, "message");
});

// --- wrong keys -------------------------------------------------------------------------------

test("an unknown access key is an UnrecognizedClientException (403)", async () => {
  const client = runtime({ credentials: { accessKeyId: "AKIDNOBODYKNOWS", secretAccessKey: SECRET } });
  const err = await refused(converse(client), "UnrecognizedClientException");
  assert.equal(err.message, "The security token included in the request is invalid.");
  assert.equal(err.$fault, "client");
});

test("an unknown access key on ConverseStream is an UnrecognizedClientException (403)", async () => {
  const client = runtime({ credentials: { accessKeyId: "AKIDNOBODYKNOWS", secretAccessKey: SECRET } });
  const err = await refused(
    client.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user("stream")] })),
    "UnrecognizedClientException",
  );
  assert.equal(err.message, "The security token included in the request is invalid.");
});

test("an unknown access key on the control plane is an UnrecognizedClientException (403)", async () => {
  const client = control({ credentials: { accessKeyId: "AKIDNOBODYKNOWS", secretAccessKey: SECRET } });
  await refused(client.send(new ListFoundationModelsCommand({ byProvider: "Anthropic" })), "UnrecognizedClientException");
});

test("a wrong secret is an InvalidSignatureException with the canonical request of the h2 request", async () => {
  const client = runtime({ credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: "not-the-secret" } });
  const err = await refused(converse(client), "InvalidSignatureException");
  assert.ok(err.message.startsWith(SIGNATURE_MISMATCH), err.message);
  const detail = err.message
    .slice(SIGNATURE_MISMATCH.length)
    .match(/^\n\nThe Canonical String for this request should have been\n'([\s\S]*)'\n\nThe String-to-Sign should have been\n'([\s\S]*)'\n$/);
  assert.ok(detail, err.message);
  const canonical = detail[1].split("\n");
  assert.equal(canonical[0], "POST");
  assert.equal(canonical[1], `/model/${HAIKU.replace(":", "%253A")}/converse`);
  // Over HTTP/2 the SDK's host-header middleware replaces `host` with an `:authority` header
  // and signs that (SignedHeaders=:authority;amz-sdk-invocation-id;…), so the canonical request
  // must carry the request's :authority value under that name.
  assert.ok(canonical.includes(`:authority:${new URL(emulator.url).host}`), detail[1]);
  assert.ok(canonical.at(-2).split(";").includes(":authority"), detail[1]);
  assert.equal(detail[2].split("\n")[0], "AWS4-HMAC-SHA256");
});

test("a wrong secret on the control plane is an InvalidSignatureException", async () => {
  const client = control({ credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: "not-the-secret" } });
  const err = await refused(
    client.send(new ListFoundationModelsCommand({ byProvider: "Anthropic" })),
    "InvalidSignatureException",
  );
  assert.ok(err.message.startsWith(SIGNATURE_MISMATCH), err.message);
});

test("temporary keys with another session token are an UnrecognizedClientException", async () => {
  const client = runtime({
    credentials: { accessKeyId: TEMP_KEY, secretAccessKey: TEMP_SECRET, sessionToken: "not-the-token" },
  });
  await refused(converse(client), "UnrecognizedClientException");
});

// The JS SDK signs x-amz-content-sha256 (the body's hash) on every request. A middleware after
// the signer changes the body (same length) before it is sent: the signature no longer covers
// what arrives. HTTP/1.1, so that only the body differs from a request that verifies.
test("a body changed after signing (x-amz-content-sha256 still the original's) is an InvalidSignatureException", async () => {
  const client = runtime({ http1: true });
  let sent;
  client.middlewareStack.addRelativeTo(
    (next) => async (args) => {
      assert.ok(args.request.headers["x-amz-content-sha256"], "the SDK signs the payload hash header");
      args.request.body = args.request.body.replace("Pay Alice 10", "Pay Mally 99");
      sent = args.request.body;
      return next(args);
    },
    { relation: "after", toMiddleware: "httpSigningMiddleware", name: "tamperAfterSigning" },
  );
  const err = await refused(converse(client, "Pay Alice 10"), "InvalidSignatureException");
  assert.ok(sent.includes("Pay Mally 99"));
  assert.ok(err.message.startsWith(SIGNATURE_MISMATCH), err.message);
});

// --- clock skew ---------------------------------------------------------------------------------

const EXPIRED =
  /^Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) - 5 min\.\)$/;

for (const [transport, http1] of [
  ["HTTP/2", false],
  ["HTTP/1.1", true],
]) {
  test(`${transport}: a clock 10 minutes behind with one attempt surfaces 'Signature expired', then the SDK has corrected its offset`, async () => {
    const client = runtime({ http1, systemClockOffset: -10 * 60_000 });
    const err = await refused(converse(client), "InvalidSignatureException");
    assert.match(err.message, EXPIRED);
    // What really happens: AwsSdkSigV4Signer's error handler reads the response's Date header
    // and resets config.systemClockOffset to (server time - local time), about 0 here. It flags
    // $metadata.clockSkewCorrected only when that *new* offset is at least 4 minutes, so it is
    // not set. With maxAttempts 1 there is no retry and the error surfaces; the next call is
    // signed with the corrected clock and passes.
    assert.ok(Math.abs(client.config.systemClockOffset) < 30_000, `offset ${client.config.systemClockOffset}`);
    assert.notEqual(err.$metadata.clockSkewCorrected, true);
    assert.equal((await converse(client)).$metadata.httpStatusCode, 200);
  });

  test(`${transport}: a clock 10 minutes behind with the default retries is corrected and retried by the SDK`, async () => {
    const client = runtime({ http1, systemClockOffset: -10 * 60_000, maxAttempts: 3 });
    await admin(emulator.url, "DELETE", "journal");
    const out = await converse(client, "skewed and retried");
    assert.equal(out.$metadata.httpStatusCode, 200);
    // "Signature expired" InvalidSignatureExceptions are transient to the standard retry
    // strategy: attempt 1 is refused (and corrects the offset), attempt 2 passes.
    assert.equal(out.$metadata.attempts, 2);
    const json = await adminListing(emulator.url, "journal", "entries");
    assert.deepEqual(
      json.entries.map((e) => e.status),
      [403, 200],
    );
  });
}

test("a clock 10 minutes ahead is 'Signature not yet current'", async () => {
  const client = runtime({ systemClockOffset: 10 * 60_000 });
  const err = await refused(converse(client), "InvalidSignatureException");
  assert.match(
    err.message,
    /^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 5 min\.\)$/,
  );
});

// --- bearer API keys ------------------------------------------------------------------------------

// The runtime client offers aws.auth#sigv4 then smithy.api#httpBearerAuth; `authSchemePreference`
// puts bearer first and `token` is its identity (without one the client falls back to
// $AWS_BEARER_TOKEN_BEDROCK via fromEnvSigningName). Unlike botocore, the JS signer does not
// insist on https.
const bearer = (token) => runtime({ token: { token }, authSchemePreference: ["httpBearerAuth"] });

test("a known bearer API key is accepted (Converse and ConverseStream over HTTP/2)", async () => {
  const client = bearer(API_KEY);
  assert.equal((await converse(client)).$metadata.httpStatusCode, 200);
  const entry = await lastEntry();
  assert.equal(entry.headers["x-amz-date"], undefined, "sent with a bearer key, not SigV4");
  assert.equal(entry.headers.authorization, "REDACTED");
  const out = await client.send(new ConverseStreamCommand({ modelId: HAIKU, messages: [user("bearer stream")] }));
  assert.equal((await collectEvents(out.stream)).at(-1)[0], "metadata");
});

test("an unknown bearer API key with the Bedrock prefix is an AccessDeniedException", async () => {
  const err = await refused(converse(bearer("bedrock-api-key-nobody-issued-this")), "AccessDeniedException");
  assert.ok(err instanceof AccessDeniedException);
  assert.equal(err.message, "Authentication failed: Please make sure your API Key is valid.");
});

test("a bearer key without a Bedrock prefix is an AccessDeniedException about its format", async () => {
  const err = await refused(converse(bearer("sk-not-a-bedrock-key")), "AccessDeniedException");
  assert.equal(err.message, "Invalid API Key format: Must start with pre-defined prefix");
});

test("AWS_BEARER_TOKEN_BEDROCK is picked up when no token is configured", async (t) => {
  const saved = process.env.AWS_BEARER_TOKEN_BEDROCK;
  process.env.AWS_BEARER_TOKEN_BEDROCK = API_KEY;
  t.after(() => {
    if (saved === undefined) delete process.env.AWS_BEARER_TOKEN_BEDROCK;
    else process.env.AWS_BEARER_TOKEN_BEDROCK = saved;
  });
  const client = runtime({ authSchemePreference: ["httpBearerAuth"] });
  assert.equal((await converse(client)).$metadata.httpStatusCode, 200);
  assert.equal((await lastEntry()).headers["x-amz-date"], undefined);
});

// --- the journal ------------------------------------------------------------------------------------

test("refused requests are journaled with status 403 and no secret", async () => {
  await admin(emulator.url, "DELETE", "journal");
  await refused(
    converse(runtime({ credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: "not-the-secret-Hq3" } })),
    "InvalidSignatureException",
  );
  await refused(converse(bearer("bedrock-api-key-unknown-Zc7")), "AccessDeniedException");
  const json = await adminListing(emulator.url, "journal", "entries");
  const text = JSON.stringify(json);
  assert.deepEqual(
    json.entries.map((e) => e.status),
    [403, 403],
  );
  for (const entry of json.entries) assert.equal(Object.fromEntries(entry.headers).authorization, "REDACTED");
  for (const secret of ["not-the-secret-Hq3", "bedrock-api-key-unknown-Zc7", "Signature="]) {
    assert.ok(!text.includes(secret), secret);
  }
});
