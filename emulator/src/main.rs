//! The `bedrock-emulator` command: a thin shell over the library.

use std::io::Write;

use clap::{Parser, Subcommand};

use bedrock_emulator::server::limits;
use bedrock_emulator::Emulator;

// A request allocates and frees a few dozen small objects (JSON trees, strings, headers);
// glibc's malloc and free were ~18% of the instructions of a Converse call (callgrind,
// `bench-pinned`), mimalloc's fast paths a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A local Amazon Bedrock (control plane + runtime) for offline tests.
///
/// Point any AWS SDK at it with AWS_ENDPOINT_URL=http://HOST:PORT (any credentials work).
#[derive(Parser, Debug)]
#[command(name = "bedrock-emulator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum AuthArg {
    Permissive,
    Sigv4,
}

/// `serve`'s options.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Interface to bind. Only loopback by default; use 0.0.0.0 to expose it.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 0 picks a free port.
    #[arg(long, default_value_t = 4599)]
    port: u16,
    /// Seed for the synthetic model's text, tool-use ids and stream padding.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Account id used in ARNs the emulator returns: the default account, of every request
    /// whose access key --account-for does not map.
    #[arg(long, default_value = bedrock_emulator::emulator::DEFAULT_ACCOUNT_ID)]
    account_id: String,
    /// Requests signed with access key KEY belong to ACCOUNT (12 digits): their ARNs, and the
    /// guardrails and jobs they see. Repeatable. (With --credentials, a profile's
    /// `aws_account_id` does the same.)
    #[arg(long = "account-for", value_name = "KEY=ACCOUNT", value_parser = parse_account_for)]
    account_for: Vec<(String, String)>,
    /// Scenario file or directory (YAML/JSON; repeatable). Reloaded when it changes.
    #[arg(long = "scenarios", value_name = "PATH")]
    scenarios: Vec<std::path::PathBuf>,
    /// Answer inference requests that no scenario rule matches with an error naming the
    /// closest rule, instead of the synthetic model.
    #[arg(long)]
    strict: bool,
    /// How many requests the journal keeps (GET /_emulator/journal); older ones are dropped.
    #[arg(long, default_value_t = bedrock_emulator::server::journal::DEFAULT_CAPACITY)]
    journal_capacity: usize,
    /// Do not reload scenario files when they change.
    #[arg(long)]
    no_watch: bool,
    /// Keep created resources (guardrails, …) in DIR (an embedded database, DIR/state.redb),
    /// so a restarted emulator still has them; POST /_emulator/reset clears it. Default: in
    /// memory only.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<std::path::PathBuf>,
    /// Folder standing in for S3: StartAsyncInvoke output is written under
    /// DIR/<bucket>/<prefix>/<invocation id>/, invocation-log records under
    /// DIR/<bucket>/<prefix>/AWSLogs/…; batch, customization and evaluation jobs read and write
    /// there too. Default: bedrock-emulator-s3 in the temp folder.
    #[arg(long, value_name = "DIR", conflicts_with = "s3_endpoint")]
    s3_dir: Option<std::path::PathBuf>,
    /// Write that output to a real S3-compatible server instead (LocalStack, MinIO, moto, …),
    /// e.g. http://localhost:4566: path-style, credentials from the standard AWS chain
    /// (test/test when it has none). The buckets must exist.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Milliseconds an asynchronous invocation stays InProgress before it completes.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    async_duration_ms: u64,
    /// Connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, default_value_t = limits::DEFAULT_MAX_CONNECTIONS, value_name = "N")]
    max_connections: usize,
    /// Seconds a client may take to send a request head (slowloris), and an idle keep-alive
    /// connection may wait for its next request, before the connection is closed.
    #[arg(long, default_value_t = limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs_f64(), value_name = "SECONDS")]
    header_read_timeout: f64,
    /// Largest request head (request line + headers) in bytes, at least 8192; larger heads
    /// are refused with 431 (HTTP/1.1) or a stream reset (HTTP/2).
    #[arg(long, default_value_t = limits::DEFAULT_MAX_HEADER_BYTES, value_name = "BYTES")]
    max_header_bytes: usize,
    /// A fault rule as YAML or JSON flow (repeatable), e.g.
    /// '{name: flaky, match: {operation: Converse}, on: {attempts: 2}, inject: {error: {type: ThrottlingException}}}'.
    /// Kinds: error, latency, pace, stall, reset, stream (README "Testing your retry logic").
    #[arg(long = "fault", value_name = "RULE")]
    faults: Vec<String>,
    /// Quotas: a YAML/JSON file with a top-level `quotas:` list (scenario-file format), or
    /// `realistic` for Bedrock's documented default on-demand quotas (us-east-1).
    #[arg(long, value_name = "FILE|realistic")]
    quotas: Option<String>,
    /// How requests are authenticated: `permissive` (any signature is accepted) or `sigv4`
    /// (SigV4 signatures and bearer API keys are verified against --credentials, and bad ones
    /// get AWS's 403 errors). The admin API stays open either way.
    #[arg(long, value_enum, default_value = "permissive")]
    auth: AuthArg,
    /// With --auth sigv4: an AWS shared-credentials file (`[profile]` sections with
    /// aws_access_key_id, aws_secret_access_key, optional aws_session_token and expiration;
    /// bedrock_api_key for bearer keys).
    #[arg(long, value_name = "FILE")]
    credentials: Option<std::path::PathBuf>,
    /// Answer from the cassettes in DIR (after scenario rules, before the synthetic model).
    /// Write them with `bedrock-emulator import` or `--record`.
    #[arg(long, value_name = "DIR")]
    replay: Option<std::path::PathBuf>,
    /// Leave this JSON pointer of request bodies out of replay matching (repeatable), e.g.
    /// /inferenceConfig/temperature.
    #[arg(long = "replay-ignore", value_name = "POINTER")]
    replay_ignore: Vec<String>,
    /// Compare only these JSON pointers of request bodies when replaying (repeatable).
    #[arg(long = "replay-match-only", value_name = "POINTER")]
    replay_match_only: Vec<String>,
    /// Pacing of replayed streams: none (as fast as the client reads), recorded, or
    /// scaled:F (recorded gaps × F).
    #[arg(long, default_value = "none", value_name = "TIMING")]
    replay_timing: String,
    /// Record: requests that no scenario rule or cassette answers go to live Bedrock
    /// (re-signed with this process's AWS credentials: env, profile, SSO, IMDS; or sent with
    /// its AWS_BEARER_TOKEN_BEDROCK) and each answer is written to DIR as a cassette.
    #[arg(long, value_name = "DIR")]
    record: Option<std::path::PathBuf>,
    /// With --record: once (replay DIR; record only if it is empty), new_episodes (replay
    /// matches, record the rest), all (record everything), none (replay only).
    #[arg(long, default_value = "once", value_name = "MODE")]
    record_mode: String,
    /// With --record: send requests here instead of https://{service}.{region}.amazonaws.com.
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// With --record: use this region instead of the client's credential scope.
    #[arg(long, value_name = "REGION")]
    upstream_region: Option<String>,
    /// With --record: keep account ids in ARNs (by default they become 000000000000).
    #[arg(long)]
    keep_account_ids: bool,
    /// With --record: also replace text matching REGEX with REPLACEMENT in cassettes
    /// (repeatable).
    #[arg(long = "redact", value_name = "REGEX=REPLACEMENT")]
    redact: Vec<String>,
    /// Log each request (to stderr).
    #[arg(long)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the emulator. Prints `listening on http://HOST:PORT` as its first line.
    Serve(Box<ServeArgs>),
    /// Convert vcrpy / pytest-recording YAML cassettes and nock JSON recordings of Bedrock
    /// traffic into bedrock-emulator cassettes (one JSON file per interaction) for --replay.
    /// Interactions that are not Bedrock are reported and skipped.
    Import {
        /// Recording files to convert.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
        /// Folder to write the cassettes to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
        /// Keep account ids in ARNs (by default they become 000000000000).
        #[arg(long)]
        keep_account_ids: bool,
        /// Also replace text matching REGEX (in bodies, paths and headers) with REPLACEMENT;
        /// repeatable, e.g. --redact '[\w.]+@example\.com=EMAIL'.
        #[arg(long = "redact", value_name = "REGEX=REPLACEMENT")]
        redact: Vec<String>,
    },
    /// Print the operation coverage table (Markdown) and exit.
    Coverage,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let ServeArgs {
                host,
                port,
                seed,
                account_id,
                account_for,
                scenarios,
                strict,
                journal_capacity,
                no_watch,
                state_dir,
                s3_dir,
                s3_endpoint,
                async_duration_ms,
                max_connections,
                header_read_timeout,
                max_header_bytes,
                faults,
                quotas,
                auth,
                credentials,
                replay,
                replay_ignore,
                replay_match_only,
                replay_timing,
                record,
                record_mode,
                upstream,
                upstream_region,
                keep_account_ids,
                redact,
                verbose,
            } = *args;
            let level = if verbose { tracing::Level::DEBUG } else { tracing::Level::INFO };
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
            if max_connections == 0 || max_header_bytes < limits::MIN_HEADER_BYTES {
                eprintln!(
                    "bedrock-emulator: --max-connections must be at least 1 and --max-header-bytes at least {}",
                    limits::MIN_HEADER_BYTES
                );
                std::process::exit(2);
            }
            if !(header_read_timeout.is_finite() && header_read_timeout > 0.0 && header_read_timeout <= 86_400.0) {
                eprintln!("bedrock-emulator: --header-read-timeout must be more than 0 and at most 86400 seconds");
                std::process::exit(2);
            }
            // Each connection holds a descriptor (plus a few for files and the listener).
            let fds = limits::raise_fd_limit(max_connections as u64 + 64);
            if fds < max_connections as u64 + 64 {
                tracing::warn!(
                    open_files = fds,
                    max_connections,
                    "the open-file limit is below --max-connections; accept will back off when it runs out"
                );
            }
            let mut builder = Emulator::builder()
                .limits(limits::Limits {
                    max_connections,
                    header_read_timeout: std::time::Duration::from_secs_f64(header_read_timeout),
                    max_header_bytes,
                })
                .host(host)
                .port(port)
                .seed(seed)
                .account_id(account_id)
                .strict(strict)
                .journal_capacity(journal_capacity)
                .watch_scenarios(!no_watch);
            for (key, account) in account_for {
                builder = builder.account_for(key, account);
            }
            if let Some(dir) = state_dir {
                builder = builder.state_dir(dir);
            }
            if let Some(dir) = s3_dir {
                builder = builder.s3_dir(dir);
            }
            if let Some(url) = s3_endpoint {
                builder = builder.s3_endpoint(url);
            }
            builder = builder.async_duration(std::time::Duration::from_millis(async_duration_ms));
            for path in scenarios {
                builder = builder.scenarios(path);
            }
            for (i, text) in faults.iter().enumerate() {
                match bedrock_emulator::scenario::format::parse_fault(&format!("--fault #{}", i + 1), text) {
                    Ok(spec) => builder = builder.fault(spec),
                    Err(e) => {
                        eprintln!("bedrock-emulator: invalid fault rule: {e}");
                        std::process::exit(2);
                    }
                }
            }
            match (auth, credentials) {
                (AuthArg::Permissive, None) => {}
                (AuthArg::Permissive, Some(_)) => {
                    eprintln!("bedrock-emulator: --credentials goes with --auth sigv4");
                    std::process::exit(2);
                }
                (AuthArg::Sigv4, None) => {
                    eprintln!("bedrock-emulator: --auth sigv4 needs --credentials FILE");
                    std::process::exit(2);
                }
                (AuthArg::Sigv4, Some(path)) => match bedrock_emulator::auth::credentials::CredentialStore::load(&path)
                {
                    Ok(store) => builder = builder.auth(bedrock_emulator::auth::AuthMode::Verify(store)),
                    Err(e) => {
                        eprintln!("bedrock-emulator: invalid credentials: {e}");
                        std::process::exit(2);
                    }
                },
            }
            let recording = record.is_some();
            if !recording && (upstream.is_some() || upstream_region.is_some() || keep_account_ids || !redact.is_empty())
            {
                eprintln!("bedrock-emulator: --upstream, --upstream-region, --keep-account-ids and --redact go with --record DIR");
                std::process::exit(2);
            }
            if let Some(dir) = record {
                let mode = match record_mode.parse::<bedrock_emulator::record::proxy::RecordMode>() {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("bedrock-emulator: --record-mode: {e}");
                        std::process::exit(2);
                    }
                };
                let redactor = match redactor(keep_account_ids, &redact) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("bedrock-emulator: {e}");
                        std::process::exit(2);
                    }
                };
                let mut options = bedrock_emulator::record::proxy::RecordOptions::new(dir, mode);
                options.upstream = upstream;
                options.upstream_region = upstream_region;
                options.redactor = redactor;
                builder = builder.record(options);
            }
            if let Some(dir) = replay {
                let timing = match replay_timing.parse::<bedrock_emulator::record::replay::ReplayTiming>() {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("bedrock-emulator: --replay-timing: {e}");
                        std::process::exit(2);
                    }
                };
                for p in replay_ignore.iter().chain(&replay_match_only) {
                    if !p.starts_with('/') {
                        eprintln!("bedrock-emulator: `{p}` is not a JSON pointer: it must start with `/`, e.g. /inferenceConfig/temperature");
                        std::process::exit(2);
                    }
                }
                builder = builder.replay(dir).replay_timing(timing).replay_match(
                    bedrock_emulator::record::replay::MatchOptions { ignore: replay_ignore, only: replay_match_only },
                );
            }
            if let Some(source) = quotas {
                match bedrock_emulator::fault::quota::load_quotas(&source) {
                    Ok(q) => builder = builder.quotas(q),
                    Err(e) => {
                        eprintln!("bedrock-emulator: invalid quotas: {e}");
                        std::process::exit(2);
                    }
                }
            }
            let handle = match builder.start().await {
                Ok(h) => h,
                Err(e) => {
                    eprintln!("bedrock-emulator: {e}");
                    std::process::exit(2);
                }
            };
            let mut out = std::io::stdout();
            writeln!(out, "listening on {}", handle.endpoint_url())?;
            out.flush()?;
            shutdown_signal().await;
            tracing::info!("shutting down");
            handle.shutdown().await;
        }
        Command::Import { files, out, keep_account_ids, redact } => {
            std::process::exit(import(&files, &out, keep_account_ids, &redact))
        }
        Command::Coverage => print!("{}", bedrock_emulator::api::coverage_markdown()),
    }
    Ok(())
}

/// `--account-for KEY=ACCOUNT`.
fn parse_account_for(value: &str) -> Result<(String, String), String> {
    let (key, account) = value.split_once('=').ok_or("expected KEY=ACCOUNT, e.g. AKIAEXAMPLE=111122223333")?;
    if key.is_empty() {
        return Err("the access key id is empty".into());
    }
    if !bedrock_emulator::backend::state::is_account_id(account) {
        return Err(format!("the account must be twelve digits (got `{account}`)"));
    }
    Ok((key.to_string(), account.to_string()))
}

/// The redactor of `--keep-account-ids` and `--redact REGEX=REPLACEMENT` flags.
fn redactor(keep_account_ids: bool, redact: &[String]) -> Result<bedrock_emulator::record::redact::Redactor, String> {
    use bedrock_emulator::record::redact::Redactor;
    let mut redactor =
        if keep_account_ids { Redactor::default().without_account_redaction() } else { Redactor::default() };
    for r in redact {
        let (pattern, replacement) =
            r.rsplit_once('=').ok_or_else(|| format!("--redact takes REGEX=REPLACEMENT (got `{r}`)"))?;
        redactor = redactor.with_pattern(pattern, replacement).map_err(|e| format!("--redact: {e}"))?;
    }
    Ok(redactor)
}

/// `bedrock-emulator import`: the exit code (2 when a file cannot be read or converted).
fn import(files: &[std::path::PathBuf], out: &std::path::Path, keep_account_ids: bool, redact: &[String]) -> i32 {
    use bedrock_emulator::record::{cassette, import};
    let redactor = match redactor(keep_account_ids, redact) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bedrock-emulator: {e}");
            return 2;
        }
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("bedrock-emulator: cannot create {}: {e}", out.display());
        return 2;
    }
    let mut failed = false;
    let (mut written, mut skipped) = (0, 0);
    for file in files {
        match import::import_file(file, &redactor) {
            Ok(report) => {
                for c in &report.cassettes {
                    if let Err(e) = cassette::write_atomic(out, c) {
                        eprintln!("bedrock-emulator: cannot write a cassette to {}: {e}", out.display());
                        return 2;
                    }
                }
                println!("{}: {} cassettes, {} skipped", file.display(), report.cassettes.len(), report.skipped.len());
                for why in &report.skipped {
                    println!("  skipped: {why}");
                }
                written += report.cassettes.len();
                skipped += report.skipped.len();
            }
            Err(e) => {
                eprintln!("bedrock-emulator: {e}");
                failed = true;
            }
        }
    }
    println!("imported {written} interactions into {} ({skipped} skipped)", out.display());
    if failed {
        2
    } else {
        0
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
