#![no_main]

use bedrock_emulator_fuzz::targets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| targets::job_inputs(data));
