//! The `bedrock-harness` command.

use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use bedrock_harness::{bench, cases, parity, report, run_cases, Ctx, Target};

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
        /// Store each case's normalised responses in DIR (one JSON file per case): run it
        /// against live AWS to capture your account's behaviour.
        #[arg(long, value_name = "DIR", conflicts_with = "compare")]
        snapshot: Option<std::path::PathBuf>,
        /// Compare each case's normalised responses with the snapshots in DIR and print every
        /// difference; exits 1 if any.
        #[arg(long, value_name = "DIR")]
        compare: Option<std::path::PathBuf>,
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
        Command::Run { target, endpoint, region, filter, junit, list, snapshot, compare } => {
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
            let capture = (snapshot.is_some() || compare.is_some()).then(parity::Capture::new);
            let ctx = Arc::new(Ctx::with_capture(target, capture.clone()).await);
            let mut outcomes = Vec::new();
            let mut differing = 0;
            for case in &selected {
                outcomes.extend(run_cases(ctx.clone(), std::slice::from_ref(case)).await);
                let Some(capture) = &capture else { continue };
                let seen = capture.take();
                if let Some(dir) = &snapshot {
                    parity::write(dir, case.name, &seen)?;
                }
                if let Some(dir) = &compare {
                    match parity::compare(dir, case.name, &seen) {
                        None => println!("parity {}: no snapshot", case.name),
                        Some(d) if d.is_empty() => println!("parity {}: same", case.name),
                        Some(d) => {
                            differing += 1;
                            println!("parity {}: {} differences", case.name, d.len());
                            for line in d {
                                println!("  {line}");
                            }
                        }
                    }
                }
            }
            print!("{}", report::table(&label, &outcomes));
            if let Some(path) = junit {
                std::fs::write(&path, report::junit(&label, &outcomes))?;
            }
            if compare.is_some() {
                println!("parity: {differing} of {} cases differ from the snapshots", selected.len());
            }
            if report::totals(&outcomes).failed > 0 || differing > 0 {
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
