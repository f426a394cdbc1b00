//! The `accesslake` binary: tune the allocator, parse flags, initialise logging, dispatch to a
//! command, and print a failure as one line.

use accesslake::config::{Cli, Command};
use clap::Parser;
use std::error::Error;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    accesslake::allocator::tune();
    let cli = Cli::parse();
    cli.log.init();
    let result = match cli.command {
        Command::Parse(c) => accesslake::parse_cmd::run(&c),
        Command::Ingest(c) => accesslake::ingest::run(&c),
        Command::Run(c) => accesslake::consumer::run(&c),
        Command::Produce(c) => accesslake::produce::run(&c),
        Command::Query(c) => done(accesslake::query::run(&c)),
        Command::Report(c) => done(accesslake::report::run(&c)),
        Command::Check(c) => done(accesslake::check::run(&c)),
        Command::Expire(c) => done(accesslake::expire::run(&c)),
        Command::Compact(c) => done(accesslake::compact::run(&c)),
    };
    result.unwrap_or_else(|e| {
        // Not `eprintln!`, which panics when stderr is closed: the exit status still tells.
        let _ = writeln!(std::io::stderr(), "accesslake: error: {}", one_line(&e));
        ExitCode::FAILURE
    })
}

/// A command that has nothing to say on success but its output.
fn done<E: Into<accesslake::Error>>(r: Result<(), E>) -> accesslake::Result<ExitCode> {
    r.map(|()| ExitCode::SUCCESS).map_err(Into::into)
}

/// The error and its causes on one line, each cause added only when the text before it does not
/// already say it (many messages quote their cause). DuckDB's message is the whole story: its
/// cause is a code without a meaning ("Error code 1: Unknown error code"), so the chain stops.
fn one_line(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        if c.downcast_ref::<duckdb::ffi::Error>().is_some() {
            break;
        }
        let said = c.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = c.source();
    }
    text
}
