//! The `bedrock-harness` command.

use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use bedrock_harness::{bench, cases, report, run_cases, Ctx, Target};

/// Conformance suite for Amazon Bedrock endpoints, driven by the real AWS SDK for Rust.
#[derive(Parser, Debug)]
#[command(name = "bedrock-harness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetKind {
    /// A running bedrock-emulator (needs --endpoint).
    Emulator,
    /// Live AWS via the default credential chain (needs --region or AWS_REGION).
    Aws,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the conformance suite and print a table; exits 1 if any case failed.
    Run {
        /// What to test.
        #[arg(long, value_enum, default_value = "emulator")]
        target: TargetKind,
        /// Emulator endpoint URL, e.g. http://127.0.0.1:4599.
        #[arg(long, default_value = "http://127.0.0.1:4599")]
        endpoint: String,
        /// AWS region for --target aws.
        #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
        region: String,
        /// Only run cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Also write JUnit XML here.
        #[arg(long)]
        junit: Option<std::path::PathBuf>,
        /// List the cases and exit.
        #[arg(long)]
        list: bool,
    },
    /// Load-benchmark the release emulator over loopback against a bare hyper baseline;
    /// prints a table and one JSON line.
    Bench {
        /// Keep-alive connections, one sequential worker each.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
        connections: u32,
        /// Measured seconds per load phase (unless --requests is given).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Measure this many requests per load phase instead of --seconds.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        requests: Option<u64>,
        /// Unmeasured warm-up seconds before each load phase.
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        /// Fresh emulator starts to average start -> first 200 over (0 skips it).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=50))]
        starts: u32,
        /// Emulator binary [default: bedrock-emulator next to this executable].
        #[arg(long)]
        emulator_bin: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run { target, endpoint, region, filter, junit, list } => {
            let selected: Vec<_> =
                cases::all().into_iter().filter(|c| filter.as_deref().is_none_or(|f| c.name.contains(f))).collect();
            if list {
                for c in &selected {
                    println!("{:<16} {}{}", c.group, c.name, if c.emulator_only { "  (emulator only)" } else { "" });
                }
                return Ok(());
            }
            let target = match target {
                TargetKind::Emulator => Target::Emulator { endpoint },
                TargetKind::Aws => Target::Aws { region },
            };
            let label = target.label();
            let ctx = Arc::new(Ctx::new(target).await);
            let outcomes = run_cases(ctx, &selected).await;
            print!("{}", report::table(&label, &outcomes));
            if let Some(path) = junit {
                std::fs::write(&path, report::junit(&label, &outcomes))?;
            }
            if report::totals(&outcomes).failed > 0 {
                std::process::exit(1);
            }
        }
        Command::Bench { connections, seconds, requests, warmup, starts, emulator_bin } => {
            let options = bench::Options { emulator_bin, connections, seconds, requests, warmup, starts };
            let report = bench::run(&options).await?;
            print!("{}", report.table());
            println!("{}", report.json_line());
        }
    }
    Ok(())
}
