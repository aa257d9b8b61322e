// Shared helpers for the JS suite: start the emulator binary the way a user would, build AWS SDK
// for JavaScript v3 clients pointed at it, and call the `/_emulator/` admin API with plain fetch.
//
// Not a test file (node --test only runs `*.test.js` here); each test file starts its own
// emulator in `before` and stops it in `after`, which node:test runs even when tests fail.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { BedrockClient } from "@aws-sdk/client-bedrock";
import { BedrockRuntimeClient } from "@aws-sdk/client-bedrock-runtime";
// Not a dependency of its own: both clients depend on it, so the lockfile pins it.
import { NodeHttpHandler } from "@smithy/node-http-handler";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const HAIKU = "anthropic.claude-3-haiku-20240307-v1:0";
export const HAIKU_PROFILE = `us.${HAIKU}`;

/** `$BEDROCK_EMULATOR_BIN`, else the debug build (`cargo build -p bedrock-emulator`). */
export function emulatorBinary() {
  const path = process.env.BEDROCK_EMULATOR_BIN || resolve(ROOT, "target", "debug", "bedrock-emulator");
  if (!existsSync(path)) {
    throw new Error(`emulator binary not found at ${path}; build it with \`cargo build -p bedrock-emulator\``);
  }
  return path;
}

/**
 * Starts `bedrock-emulator serve --port 0` and resolves once its first stdout line
 * (`listening on http://127.0.0.1:PORT`) has been read. The result has `url` and `stop()`.
 */
export async function startEmulator(...args) {
  return startEmulatorWith({}, ...args);
}

/**
 * `startEmulator` with options: `env` replaces the environment it inherits; with
 * `captureStderr` its stderr is kept and its head quoted if it does not start.
 */
export async function startEmulatorWith({ env = process.env, captureStderr = false }, ...args) {
  const child = spawn(emulatorBinary(), ["serve", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", captureStderr ? "pipe" : "inherit"],
    env,
  });
  // Whatever happens to this test process, the emulator does not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  if (captureStderr) {
    child.stderr.on("data", (d) => {
      if (stderr.length < 20_000) stderr += d.toString("utf8");
    });
  }

  const exited = new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };

  let firstLine;
  try {
    firstLine = await new Promise((done, fail) => {
      let buffered = "";
      const timer = setTimeout(() => fail(new Error("emulator printed no line within 30 s")), 30_000);
      const onData = (data) => {
        buffered += data.toString("utf8");
        const newline = buffered.indexOf("\n");
        if (newline >= 0) {
          clearTimeout(timer);
          child.stdout.removeListener("data", onData);
          child.stdout.resume(); // keep draining so later output never blocks the emulator
          done(buffered.slice(0, newline).trim());
        }
      };
      child.stdout.on("data", onData);
      child.once("error", (err) => {
        clearTimeout(timer);
        fail(err);
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        // Let the last of stderr arrive before quoting it.
        const message = `emulator exited (code ${code}, signal ${signal}) before printing its address`;
        setTimeout(() => fail(new Error(message)), captureStderr ? 50 : 0);
      });
    });
    if (!firstLine.startsWith("listening on ")) {
      throw new Error(`emulator did not start: first line was ${JSON.stringify(firstLine)}`);
    }
  } catch (err) {
    await stop();
    if (!captureStderr) throw err;
    const head = stderr.split("\n").slice(0, 12).join("\n");
    throw new Error(`emulator (${args.join(" ")}) did not start: ${err.message}; stderr:\n${head}`);
  }
  return { url: firstLine.slice("listening on ".length), stop };
}

const clientConfig = (url) => ({
  endpoint: url,
  region: "us-east-1",
  credentials: { accessKeyId: "x", secretAccessKey: "y" },
  // One attempt: errors are deterministic and a retry would hide what a test asserts.
  maxAttempts: 1,
});

/**
 * A bedrock-runtime client exactly as users build it: its default request handler sends every
 * operation over HTTP/2 (NodeHttp2Handler, cleartext h2c to an `http://` endpoint), which the
 * emulator serves beside HTTP/1.1. `http1: true` swaps in the HTTP/1.1 NodeHttpHandler.
 */
export const runtimeClient = (url, { http1 = false } = {}) =>
  new BedrockRuntimeClient({ ...clientConfig(url), ...(http1 ? { requestHandler: new NodeHttpHandler() } : {}) });
export const controlClient = (url) => new BedrockClient(clientConfig(url));

/** Calls `/_emulator/<path>`; a string body is sent as is (YAML or JSON), anything else as JSON. */
export async function admin(url, method, path, body) {
  const init = { method };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers = { "content-type": typeof body === "string" ? "application/yaml" : "application/json" };
  }
  const response = await fetch(`${url}/_emulator/${path}`, init);
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined, text };
}

/**
 * Every page of a paged admin listing (`journal`, `faults`, `scenarios`), so no caller sees only
 * the first: follows `nextToken` and concatenates the `key` list (`entries`, `faults`, `sources`;
 * a source split across pages is merged back into one); the other members are the last page's.
 */
export async function adminListing(url, path, key) {
  const items = [];
  let page;
  let token;
  do {
    const target = token ? `${path}${path.includes("?") ? "&" : "?"}nextToken=${encodeURIComponent(token)}` : path;
    const response = await admin(url, "GET", target);
    if (response.status !== 200) throw new Error(`GET /_emulator/${target} answered ${response.status}: ${response.text}`);
    page = response.json;
    for (const item of page[key]) {
      const previous = items.at(-1);
      if (key === "sources" && previous?.name === item.name) previous.rules.push(...item.rules);
      else items.push(item);
    }
    token = page.nextToken;
  } while (token);
  const { nextToken: _next, ...rest } = page;
  return { ...rest, [key]: items };
}

/** Loads a scenario document through `POST /_emulator/scenarios`, failing unless it is accepted. */
export async function loadScenario(url, yaml, name) {
  const path = name ? `scenarios?name=${encodeURIComponent(name)}` : "scenarios";
  const response = await admin(url, "POST", path, yaml);
  if (response.status !== 201) {
    throw new Error(`scenario refused (${response.status}): ${response.text}`);
  }
  return response.json;
}

export const user = (text) => ({ role: "user", content: [{ text }] });

/** The text blocks of a Converse response, joined. */
export const textOf = (output) =>
  output.output.message.content
    .filter((block) => block.text !== undefined)
    .map((block) => block.text)
    .join("");

/**
 * Every event of an SDK event stream as `[kind, payload]` pairs. The SDK yields one object per
 * event with exactly one known member set (unknown event types arrive as `$unknown`).
 */
export async function collectEvents(stream) {
  const events = [];
  for await (const event of stream) {
    const kinds = Object.keys(event).filter((key) => event[key] !== undefined);
    if (kinds.length !== 1) throw new Error(`event with ${kinds.length} members: ${JSON.stringify(event)}`);
    events.push([kinds[0], event[kinds[0]]]);
  }
  return events;
}

/**
 * A bedrock-runtime client with the SDK's default retry strategy (standard mode, 3 attempts)
 * instead of `runtimeClient`'s single attempt, for tests of what the SDK retries.
 * `requestHandler` swaps in a configured handler (e.g. a NodeHttp2Handler with a small
 * requestTimeout); without it the client keeps its default HTTP/2 handler.
 */
export const retryingRuntimeClient = (url, { requestHandler } = {}) => {
  const { maxAttempts: _singleAttempt, ...config } = clientConfig(url);
  return new BedrockRuntimeClient({ ...config, ...(requestHandler ? { requestHandler } : {}) });
};
