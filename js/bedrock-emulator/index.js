// bedrock-emulator for Node.js: starts the emulator binary (from the per-platform package npm
// installed, or $BEDROCK_EMULATOR_BIN) on a free loopback port and scripts it through its
// admin API. Usable from vitest, jest and node:test alike (plain promises, no globals).
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** Credentials `clientConfig()` signs with (the emulator accepts any by default). */
export const CREDENTIALS = Object.freeze({ accessKeyId: "AKIDBEDROCKEMULATOR", secretAccessKey: "bedrock-emulator-secret" });

/** An admin call failed or the emulator could not start. */
export class EmulatorError extends Error {
  constructor(message) {
    super(message);
    this.name = "EmulatorError";
  }
}

/** `verify` found a different number of matching requests than expected. */
export class VerificationError extends Error {
  constructor(result) {
    const near = (result.nearMisses ?? [])
      .map((m) => `#${m.seq} ${m.operation}: ${(m.failures ?? []).join(", ")}`)
      .join("; ");
    super(`expected ${JSON.stringify(result.expected)} matching request(s), found ${result.matched}${near ? ` (near misses: ${near})` : ""}`);
    this.name = "VerificationError";
    this.result = result;
  }
}

/**
 * The emulator binary: $BEDROCK_EMULATOR_BIN, else the one of the installed platform package
 * (`@bedrock-emulator/<platform>-<arch>`).
 */
export function findBinary() {
  if (process.env.BEDROCK_EMULATOR_BIN) {
    return process.env.BEDROCK_EMULATOR_BIN;
  }
  const pkg = `@bedrock-emulator/${process.platform}-${process.arch}`;
  const file = process.platform === "win32" ? "bin/bedrock-emulator.exe" : "bin/bedrock-emulator";
  let path;
  try {
    path = require.resolve(`${pkg}/${file}`);
  } catch {
    throw new EmulatorError(
      `${pkg} is not installed (npm installs it with bedrock-emulator on supported platforms; ` +
        "set BEDROCK_EMULATOR_BIN to use another binary)",
    );
  }
  if (!existsSync(path)) {
    throw new EmulatorError(`${pkg} has no binary at ${path}`);
  }
  return path;
}

function serveArgs(options) {
  const args = ["serve", "--port", "0"];
  for (const path of options.scenarios ?? []) {
    args.push("--scenarios", String(path));
  }
  for (const fault of options.faults ?? []) {
    args.push("--fault", typeof fault === "string" ? fault : JSON.stringify(fault));
  }
  if (options.seed !== undefined) {
    args.push("--seed", String(options.seed));
  }
  if (options.record !== undefined) {
    args.push("--record", String(options.record));
    if (options.recordMode) args.push("--record-mode", options.recordMode);
    if (options.upstream) args.push("--upstream", options.upstream);
  } else if (options.recordMode || options.upstream) {
    throw new TypeError("recordMode and upstream go with record");
  }
  if (options.replay !== undefined) {
    args.push("--replay", String(options.replay));
  }
  if (options.strict) {
    args.push("--strict");
  }
  return args.concat(options.args ?? []);
}

/** A running emulator (see `startEmulator`). */
export class Emulator {
  #child;
  #stderr;

  constructor(child, endpoint, region, stderr) {
    this.#child = child;
    this.#stderr = stderr;
    /** `http://127.0.0.1:PORT`: the `endpoint` for clients (or `AWS_ENDPOINT_URL`). */
    this.endpoint = endpoint;
    /** The region `clientConfig()` signs for. */
    this.region = region;
  }

  /** Configuration for any AWS SDK v3 client: `new BedrockRuntimeClient(emulator.clientConfig())`. */
  clientConfig(extra = {}) {
    // A copy each time: the SDK records where credentials came from on the object itself.
    return { endpoint: this.endpoint, region: this.region, credentials: { ...CREDENTIALS }, ...extra };
  }

  async #admin(method, path, body, query = {}) {
    const url = new URL(`${this.endpoint}/_emulator/${path}`);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    // Bounded: an endpoint that accepts and never answers must not hang the caller.
    const init = { method, signal: AbortSignal.timeout(30_000) };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new EmulatorError(`${method} /_emulator/${path}: ${e.message}`);
    }
    let text;
    try {
      text = await response.text();
    } catch (e) {
      throw new EmulatorError(`${method} /_emulator/${path}: ${e.message}`);
    }
    if (!response.ok) {
      throw new EmulatorError(`${method} /_emulator/${path}: ${response.status} ${text}`);
    }
    try {
      return text ? JSON.parse(text) : undefined;
    } catch {
      throw new EmulatorError(`${method} /_emulator/${path}: not JSON: ${text.slice(0, 200)}`);
    }
  }

  async #pages(path, query) {
    const pages = [];
    let nextToken;
    do {
      const page = await this.#admin("GET", path, undefined, { ...query, nextToken });
      pages.push(page);
      nextToken = page.nextToken;
    } while (nextToken);
    return pages;
  }

  /** The health document (version, uptime, request and rule counts). */
  health() {
    return this.#admin("GET", "health");
  }

  /**
   * Loads scenario rules: one rule (an object with `reply` or `replies`), a whole scenario
   * document (an object with `rules`, or YAML/JSON text), or a scenario file path. A source of
   * the same `name` is replaced.
   */
  mount(scenario, name) {
    let document;
    if (typeof scenario === "object") {
      document = "rules" in scenario ? scenario : { version: 1, rules: [scenario] };
    } else if (scenario.includes("\n") || scenario.trimStart().startsWith("{")) {
      document = scenario;
    } else {
      document = readFileSync(scenario, "utf8");
    }
    return this.#admin("POST", "scenarios", document, { name });
  }

  /** Removes one scenario source by name, or all of them. */
  async unmount(name) {
    await this.#admin("DELETE", name ? `scenarios/${encodeURIComponent(name)}` : "scenarios");
  }

  /** Adds a fault rule (an object, or YAML/JSON text), replacing one of the same name. */
  addFault(rule) {
    return this.#admin("POST", "faults", rule);
  }

  /** Removes every fault rule. */
  async clearFaults() {
    await this.#admin("DELETE", "faults");
  }

  /** Every journaled request, oldest first, optionally by `operation` or `model` glob. */
  async journal({ operation, model } = {}) {
    const pages = await this.#pages("journal", { operation, model });
    return pages.flatMap((p) => p.entries);
  }

  /**
   * Checks the journal: at least one request (or exactly `count`, or
   * `{atLeast|atMost|equals: N}`) matched `match` (scenario matcher syntax). Rejects with a
   * `VerificationError` otherwise.
   */
  async verify(match, count) {
    const body = { match };
    if (count !== undefined) body.count = typeof count === "number" ? { equals: count } : count;
    const result = await this.#admin("POST", "verify", body);
    if (!result.ok) throw new VerificationError(result);
    return result;
  }

  /** Clears the journal, counters, scenario states, quotas and created resources (rules stay). */
  async reset() {
    await this.#admin("POST", "reset");
  }

  /** Stops the process gracefully (requests in flight finish). */
  stop() {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  /** The emulator's last stderr lines (for failure messages). */
  get stderr() {
    return this.#stderr.join("");
  }
}

/**
 * Starts an emulator. Options: `scenarios` (files or folders), `faults` (rules), `seed`,
 * `record` (a cassette folder) with `recordMode` and `upstream`, `replay`, `strict`, `args`
 * (other `serve` flags), `binary`, `region` (default us-east-1), `startupTimeoutMs`.
 */
export async function startEmulator(options = {}) {
  const binary = options.binary ?? findBinary();
  const child = spawn(binary, serveArgs(options), { stdio: ["ignore", "pipe", "pipe"] });
  const stderr = [];
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    stderr.push(d);
    if (stderr.length > 200) stderr.shift();
  });
  const timeoutMs = options.startupTimeoutMs ?? 30_000;
  const endpoint = await new Promise((resolve, reject) => {
    let buffered = "";
    const fail = (why) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new EmulatorError(`${why}\n${stderr.join("").trim()}`));
    };
    const timer = setTimeout(() => fail(`bedrock-emulator did not start within ${timeoutMs} ms`), timeoutMs);
    child.once("error", (e) => fail(`cannot run ${binary}: ${e.message}`));
    // "close", not "exit": it comes after the pipes ended, so stderr is complete in the message.
    child.once("close", (code) => fail(`bedrock-emulator exited with ${code} before listening`));
    child.stdout.setEncoding("utf8");
    const onData = (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline < 0) return;
      child.stdout.off("data", onData);
      child.stdout.resume();
      child.removeAllListeners("close");
      clearTimeout(timer);
      const line = buffered.slice(0, newline);
      const match = /^listening on (\S+)/.exec(line);
      if (match) resolve(match[1]);
      else fail(`unexpected first line from bedrock-emulator: ${line}`);
    };
    child.stdout.on("data", onData);
  });
  const emulator = new Emulator(child, endpoint, options.region ?? "us-east-1", stderr);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await emulator.health();
      return emulator;
    } catch (e) {
      if (Date.now() > deadline) {
        await emulator.stop();
        throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
