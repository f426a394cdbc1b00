//! The `accesslake` binary: parse flags, initialise logging, dispatch to a command.

use accesslake::config::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    cli.log.init();
    match cli.command {
        Command::Parse(c) => Ok(accesslake::parse_cmd::run(&c)?),
        Command::Ingest(c) => Ok(accesslake::ingest::run(&c)?),
        Command::Run(c) => Ok(accesslake::consumer::run(&c)?),
        Command::Produce(c) => Ok(accesslake::produce::run(&c)?),
        // These print their own one-line error (DuckDB's message) and exit 1.
        Command::Query(c) => Ok(accesslake::query::run(&c)),
        Command::Report(c) => Ok(accesslake::report::run(&c)),
    }
}
