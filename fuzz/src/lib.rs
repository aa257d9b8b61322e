//! Fuzz targets for bedrock-emulator. The bodies are in [`targets`] (plain Rust, no libFuzzer),
//! shared with the stable corpus replay test `emulator/tests/fuzz_corpus.rs`.

pub mod targets;
