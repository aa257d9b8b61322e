// Types of the bedrock-emulator package.

/** A scenario rule, fault rule or matcher: the YAML/JSON shapes of the project README. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface EmulatorOptions {
  /** Scenario files or folders (`--scenarios`), reloaded when they change. */
  scenarios?: string[];
  /** Fault rules (objects, or YAML/JSON text), each a `--fault`. */
  faults?: Array<Record<string, Json> | string>;
  /** The synthetic model's seed: replies are reproducible per seed. */
  seed?: number;
  /** Record into this cassette folder through live Bedrock (`--record`). */
  record?: string;
  /** `once` (default), `new_episodes`, `all` or `none`; with `record`. */
  recordMode?: "once" | "new_episodes" | "all" | "none";
  /** Record from this endpoint instead of Bedrock's; with `record`. */
  upstream?: string;
  /** Answer from this cassette folder (`--replay`). */
  replay?: string;
  /** Refuse inference requests nothing scripted or recorded answers. */
  strict?: boolean;
  /** Any other `bedrock-emulator serve` flags. */
  args?: string[];
  /** The binary to run (default: the platform package's, or $BEDROCK_EMULATOR_BIN). */
  binary?: string;
  /** The region `clientConfig()` signs for (default us-east-1). */
  region?: string;
  /** How long to wait for the first answer (default 30 000 ms). */
  startupTimeoutMs?: number;
}

export interface ClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  [key: string]: unknown;
}

export type VerifyCount = number | { equals?: number; atLeast?: number; atMost?: number };

export interface Verification {
  ok: boolean;
  matched: number;
  expected: Json;
  nearMisses: Array<{ seq: number; operation: string; failures: string[] }>;
  dropped: number;
}

export declare class Emulator {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly region: string;
  /** The emulator's last stderr lines. */
  readonly stderr: string;
  /** Configuration for any AWS SDK v3 client. */
  clientConfig(extra?: Record<string, unknown>): ClientConfig;
  health(): Promise<Record<string, Json>>;
  /** One rule, a scenario document (object or YAML/JSON text), or a scenario file path. */
  mount(scenario: Record<string, Json> | string, name?: string): Promise<{ name: string; rules: number }>;
  unmount(name?: string): Promise<void>;
  addFault(rule: Record<string, Json> | string): Promise<{ name: string }>;
  clearFaults(): Promise<void>;
  journal(filter?: { operation?: string; model?: string }): Promise<Array<Record<string, Json>>>;
  /** Rejects with a `VerificationError` unless the count of matching requests fits. */
  verify(match: Record<string, Json>, count?: VerifyCount): Promise<Verification>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export declare class EmulatorError extends Error {}

export declare class VerificationError extends Error {
  readonly result: Verification;
}

export declare const CREDENTIALS: { readonly accessKeyId: string; readonly secretAccessKey: string };

/** Starts an emulator on a free loopback port and waits until it answers. */
export declare function startEmulator(options?: EmulatorOptions): Promise<Emulator>;

/** The binary the package runs. */
export declare function findBinary(): string;
