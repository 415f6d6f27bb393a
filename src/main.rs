//! The `doorway` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "doorway", version, about = "LAN video intercom and doorbell station")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Two stations on 127.0.0.1 call each other with test devices.
    Demo {
        /// How long to keep the call up.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Write each station's screen as PNG here before hanging up.
        #[arg(long)]
        screenshots: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("DOORWAY_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Demo { seconds, screenshots } => {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            match rt.block_on(doorway::demo::run(seconds, screenshots)).context("demo call failed") {
                Ok(report) => {
                    println!("{}", serde_json::to_string_pretty(&report).unwrap());
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("doorway: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
