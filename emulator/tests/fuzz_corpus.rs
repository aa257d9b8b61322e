//! The fuzz corpus smoke test: every committed input under `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` runs through its target's body, the same code the cargo-fuzz
//! binaries run under libFuzzer (`fuzz/src/targets.rs`, included below). CI has no nightly
//! toolchain and no libFuzzer; this replays what the fuzzing campaigns found on stable, in a
//! few seconds, so a fixed crash stays fixed. A target whose corpus folder is missing or
//! empty fails the test. See `scripts/fuzz.sh` for running the fuzzers themselves.

#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::path::{Path, PathBuf};
use std::time::Instant;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir` (not recursive, hidden files skipped), sorted; None when it is missing.
fn inputs(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    Some(files)
}

fn replay(name: &str, run: fn(&[u8]), files: &[PathBuf]) {
    for path in files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(
            result.is_ok(),
            "fuzz target {name} panicked on {} (replay: cargo +nightly fuzz run {name} {})",
            path.display(),
            path.display()
        );
    }
}

#[test]
fn every_corpus_and_regression_input_runs_through_its_target_without_a_panic() {
    let root = fuzz_dir();
    let mut problems = Vec::new();
    let mut report = Vec::new();
    for (name, run) in targets::TARGETS {
        let corpus = inputs(&root.join("corpus").join(name));
        let regressions = inputs(&root.join("regressions").join(name)).unwrap_or_default();
        let corpus = match corpus {
            Some(files) if !files.is_empty() => files,
            Some(_) => {
                problems.push(format!("fuzz/corpus/{name}/ is empty"));
                continue;
            }
            None => {
                problems.push(format!("fuzz/corpus/{name}/ is missing"));
                continue;
            }
        };
        let started = Instant::now();
        replay(name, *run, &corpus);
        replay(name, *run, &regressions);
        let line = format!(
            "{name:>13}: {:>4} corpus inputs, {:>3} regressions, {:>6.0} ms",
            corpus.len(),
            regressions.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        println!("{line}");
        report.push(line);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(report.len(), targets::TARGETS.len());
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in targets::TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml has no [[bin]] {name}");
        let source = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(text.contains(&format!("targets::{name}(data)")), "{} does not call targets::{name}", source.display());
    }
}
