//! The `bedrock-harness` command.

use std::sync::Arc;

use anyhow::Context as _;
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
    /// The emulator and a bare hyper server, each pinned to one CPU under a one-thread wrk
    /// pinned to another, alternated round by round: Converse req/s and ConverseStream
    /// (~1,000 events) events/s, with ratios. Linux; needs `wrk` and `taskset`.
    BenchPinned {
        /// Seconds per wrk run.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Unmeasured seconds of the same load before each measured run, so that both servers
        /// are measured warm (0: measure from the start).
        #[arg(long, default_value_t = 1)]
        warmup: u32,
        /// Rounds of emulator/baseline runs per operation (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// wrk connections (keep-alive).
        #[arg(long, default_value_t = 16)]
        connections: u32,
        /// CPU the servers are pinned to.
        #[arg(long, default_value_t = 0)]
        server_cpu: u32,
        /// CPU wrk is pinned to.
        #[arg(long, default_value_t = 1)]
        load_cpu: u32,
        /// Emulator binary [default: bedrock-emulator next to this executable].
        #[arg(long)]
        emulator_bin: Option<std::path::PathBuf>,
    },
    /// Many concurrent paced ConverseStream streams held open at once (one connection
    /// each), and the emulator's memory while they are.
    BenchStreams {
        /// Streams to hold open at once.
        #[arg(long, default_value_t = 10_000)]
        streams: usize,
        /// Longest to wait for all of them to open, in seconds.
        #[arg(long, default_value_t = 120)]
        open_timeout: u64,
        /// Emulator binary [default: bedrock-emulator next to this executable].
        #[arg(long)]
        emulator_bin: Option<std::path::PathBuf>,
    },
    /// Pacing accuracy: configured vs measured time to first token and inter-event gaps of
    /// paced streams, through aws-sdk-bedrockruntime (median and p99 absolute errors).
    BenchPacing {
        /// Streams to measure.
        #[arg(long, default_value_t = 20)]
        streams: usize,
        /// Emulator binary [default: bedrock-emulator next to this executable].
        #[arg(long)]
        emulator_bin: Option<std::path::PathBuf>,
    },
    /// A soak: a fixed rate of mixed operations (Converse, ConverseStream, InvokeModel,
    /// CountTokens, ListFoundationModels) with the emulator's memory sampled every 10 s.
    BenchSoak {
        /// Seconds to run.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Requests per second.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Keep-alive connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Emulator binary [default: bedrock-emulator next to this executable].
        #[arg(long)]
        emulator_bin: Option<std::path::PathBuf>,
    },
    /// SIGTERM in the middle of a load of paced streams and Converse calls: counts the
    /// requests in flight at the signal and how many of them were answered completely.
    BenchShutdown {
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds of load before the signal.
        #[arg(long, default_value_t = 2.0)]
        after: f64,
        /// Emulator binary [default: bedrock-emulator next to this executable].
        #[arg(long)]
        emulator_bin: Option<std::path::PathBuf>,
    },
    /// The bare hyper server of bench-pinned, as a process: answers every request with the
    /// bytes of FILE (with --frames: as an event stream, one chunk per frame).
    #[command(hide = true)]
    BenchBaseline {
        /// The response body.
        #[arg(long)]
        body: std::path::PathBuf,
        /// Send the body as event-stream frames, one HTTP chunk each.
        #[arg(long)]
        frames: bool,
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
        Command::BenchPinned { seconds, warmup, rounds, connections, server_cpu, load_cpu, emulator_bin } => {
            let emulator_bin = emulator_binary(emulator_bin)?;
            let options =
                bench::pinned::Options { emulator_bin, seconds, warmup, rounds, connections, server_cpu, load_cpu };
            let report = bench::pinned::run(&options).await?;
            print!("{}", report.table());
            println!("{}", report.json());
        }
        Command::BenchStreams { streams, open_timeout, emulator_bin } => {
            let limit = bench::streams::raise_fd_limit();
            if limit < streams as u64 + 64 {
                anyhow::bail!("the open-file limit is {limit}; {streams} streams need more (raise the hard limit)");
            }
            let (emulator, _) = bench::process::EmulatorProcess::start(&emulator_binary(emulator_bin)?).await?;
            let report = bench::streams::run(&emulator, streams, std::time::Duration::from_secs(open_timeout)).await?;
            print!("{}", report.table());
            println!("{}", report.json());
        }
        Command::BenchPacing { streams, emulator_bin } => {
            let (emulator, _) = bench::process::EmulatorProcess::start(&emulator_binary(emulator_bin)?).await?;
            let report = bench::accuracy::run(&emulator, streams).await?;
            print!("{}", report.table());
            println!("{}", report.json());
        }
        Command::BenchSoak { seconds, rate, connections, emulator_bin } => {
            let (emulator, _) = bench::process::EmulatorProcess::start(&emulator_binary(emulator_bin)?).await?;
            let report =
                bench::soak::soak(&emulator, rate, std::time::Duration::from_secs(seconds), connections).await?;
            print!("{}", report.table());
            println!("{}", report.json());
        }
        Command::BenchShutdown { connections, after, emulator_bin } => {
            let (emulator, _) = bench::process::EmulatorProcess::start(&emulator_binary(emulator_bin)?).await?;
            let report =
                bench::soak::shutdown(emulator, connections, std::time::Duration::from_secs_f64(after)).await?;
            print!("{}", report.table());
            println!("{}", report.json());
        }
        Command::BenchBaseline { body, frames } => {
            let bytes = std::fs::read(&body).with_context(|| format!("cannot read {}", body.display()))?;
            bench::baseline::serve_process(bytes.into(), frames).await?;
        }
    }
    Ok(())
}

/// `--emulator-bin`, or `bedrock-emulator` next to this executable.
fn emulator_binary(given: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    match given {
        Some(path) => Ok(path),
        None => bench::default_emulator_bin(),
    }
}
