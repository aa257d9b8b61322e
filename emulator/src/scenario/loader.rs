//! Reading scenario files and directories, and hot reload by polling modification times.
//!
//! Polling (every 500 ms) rather than OS file events: no extra dependency, identical on every
//! platform and inside containers with bind mounts, and cheap for the handful of files a test
//! suite keeps.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::engine::Engine;
use super::format::{parse, LoadError, ScenarioFile};

/// How often hot reload looks for changes.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

fn is_scenario_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // The published JSON Schema lives beside the examples; it is not a scenario.
    !name.ends_with(".schema.json") && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// The scenario files under `paths` (files as given; directories: their scenario files,
/// recursively, sorted by path).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            let mut found = Vec::new();
            // Directories already walked, by their real path: a symlink back up the tree is
            // followed once, not forever.
            let mut seen = std::collections::HashSet::new();
            while let Some(dir) = stack.pop() {
                if !seen.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
                    continue;
                }
                let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, &e))?;
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if is_scenario_file(&path) {
                        found.push(path);
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(LoadError {
                file: p.display().to_string(),
                line: None,
                column: None,
                message: "no such file or directory".into(),
            });
        }
    }
    Ok(out)
}

fn io_error(p: &Path, e: &std::io::Error) -> LoadError {
    LoadError { file: p.display().to_string(), line: None, column: None, message: e.to_string() }
}

/// Loads every scenario file under `paths`; all errors are returned, none is skipped.
pub fn load(paths: &[PathBuf]) -> Result<Vec<(String, ScenarioFile)>, Vec<LoadError>> {
    let files = files(paths).map_err(|e| vec![e])?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let name = f.display().to_string();
        match super::document::read_bounded(&f, super::document::MAX_DOCUMENT_BYTES) {
            Ok(text) => match parse(&name, &text) {
                // A file's `name` labels its rules (`answeredBy`, listings); else its path.
                Ok(file) => loaded.push((file.name.clone().unwrap_or(name), file)),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}

fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    match files(paths) {
        Ok(fs) => fs
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map(|m| m.len()).unwrap_or(0);
                (f, modified, len)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Where reloaded files go (the engine's rules; the emulator also takes their faults and
/// quotas).
pub trait ReloadSink: Send + Sync + 'static {
    /// Every file loaded without error: replace what came from files before.
    fn loaded(&self, files: Vec<(String, ScenarioFile)>);
    /// A reload failed: keep what was loaded before, and report these.
    fn failed(&self, errors: Vec<LoadError>);
}

impl ReloadSink for Engine {
    fn loaded(&self, files: Vec<(String, ScenarioFile)>) {
        self.set_file_sources(files);
    }

    fn failed(&self, errors: Vec<LoadError>) {
        self.set_errors(errors);
    }
}

/// Watches `paths` and hands every successful reload to `sink`. A failed reload keeps the
/// previous rules and records the errors (visible in the admin listing).
pub fn watch(paths: Vec<PathBuf>, sink: Arc<dyn ReloadSink>) -> tokio::task::JoinHandle<()> {
    // Taken before the task starts (and so before the server announces itself): a change made
    // right after startup must count as a change, not as the starting state.
    let mut last = fingerprint(&paths);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tick.tick().await;
            let now = fingerprint(&paths);
            if now == last {
                continue;
            }
            last = now;
            match load(&paths) {
                Ok(files) => {
                    let n: usize = files.iter().map(|(_, f)| f.rules.len()).sum();
                    let faults: usize = files.iter().map(|(_, f)| f.faults.len()).sum();
                    sink.loaded(files);
                    tracing::info!(rules = n, faults, "scenarios reloaded");
                }
                Err(errors) => {
                    for e in &errors {
                        tracing::error!("scenario reload failed, previous rules kept: {e}");
                    }
                    sink.failed(errors);
                }
            }
        }
    })
}
