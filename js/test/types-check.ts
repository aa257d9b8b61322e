// Type-checked (tsc --noEmit --strict), never run: the package's declarations describe its API.
import { startEmulator, Emulator, EmulatorOptions, VerificationError } from "bedrock-emulator";

const options: EmulatorOptions = { seed: 1, strict: true, scenarios: ["s.yaml"], faults: [{ name: "f", inject: {} }] };

async function main(): Promise<void> {
  const emulator: Emulator = await startEmulator(options);
  const config = emulator.clientConfig({ maxAttempts: 1 });
  const endpoint: string = config.endpoint;
  await emulator.mount({ name: "r", reply: { text: "hi" } }, "name");
  await emulator.addFault("{name: x, inject: {latency: {ms: 1}}}");
  const entries = await emulator.journal({ operation: "Converse" });
  const verification = await emulator.verify({ operation: "Converse" }, { atLeast: 1 });
  const matched: number = verification.matched;
  try {
    await emulator.verify({ operation: "Converse" }, 2);
  } catch (e) {
    if (e instanceof VerificationError) {
      const misses: number = e.result.nearMisses.length;
      void misses;
    }
  }
  await emulator.reset();
  await emulator.stop();
  void [endpoint, entries, matched];
}

void main;
