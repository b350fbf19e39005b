//! `poc247`, the command line of a 24/7 point of contact's node: thin over `poc247-node`. The
//! arguments are resolved into typed settings first (`settings`), then one command runs, and
//! `main` maps what went wrong to the documented exit codes (`failure`).

mod action;
mod api;
mod args;
mod attach;
mod audit;
mod board;
mod bundle;
mod commands;
mod demo;
mod devnet;
mod failure;
mod fields;
mod foreground;
mod human;
mod init;
mod output;
mod peers;
mod progress;
mod registry;
mod render;
mod request;
mod settings;
mod watch;

use args::Cli;
use clap::Parser;
use failure::{classify, Failure};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own errors (and --help, --version): its text and its exit code (2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let json = cli.json;
    human::init(json);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(classify(e), json),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings::resolve(cli, &settings::Env::from_process())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(commands::execute(settings))
}

/// Says what went wrong (stderr; and the error document on stdout with `--json`) and returns
/// its exit code.
fn report(f: Failure, json: bool) -> ExitCode {
    if let Failure::Usage(e) = &f {
        let _ = e.print();
        return f.exit_code();
    }
    if json {
        if let Some(doc) = f.json() {
            let _ = output::document(&doc);
        }
    }
    output::stderr(&f.to_string());
    f.exit_code()
}
