//! The `bedrock-emulator` command: a thin shell over the library.

use std::io::Write;

use clap::{Parser, Subcommand};

use bedrock_emulator::Emulator;

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

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the emulator. Prints `listening on http://HOST:PORT` as its first line.
    Serve {
        /// Interface to bind. Only loopback by default; use 0.0.0.0 to expose it.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to bind; 0 picks a free port.
        #[arg(long, default_value_t = 4599)]
        port: u16,
        /// Seed for the synthetic model's text, tool-use ids and stream padding.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Account id used in ARNs the emulator returns.
        #[arg(long, default_value = bedrock_emulator::emulator::DEFAULT_ACCOUNT_ID)]
        account_id: String,
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
        /// Log each request (to stderr).
        #[arg(long)]
        verbose: bool,
    },
    /// Print the operation coverage table (Markdown) and exit.
    Coverage,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            host,
            port,
            seed,
            account_id,
            scenarios,
            strict,
            journal_capacity,
            no_watch,
            faults,
            quotas,
            auth,
            credentials,
            verbose,
        } => {
            let level = if verbose { tracing::Level::DEBUG } else { tracing::Level::INFO };
            tracing_subscriber::fmt()
                .with_max_level(level)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr)
                .init();
            let mut builder = Emulator::builder()
                .host(host)
                .port(port)
                .seed(seed)
                .account_id(account_id)
                .strict(strict)
                .journal_capacity(journal_capacity)
                .watch_scenarios(!no_watch);
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
        Command::Coverage => print!("{}", bedrock_emulator::api::coverage_markdown()),
    }
    Ok(())
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
