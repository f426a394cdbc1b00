//! `bench-wasm FILE`: records/s of the transform `.wasm` in the Redpanda-ABI host (Redpanda's
//! default limits, batches of `--batch` records), beside the same lines through the native
//! `route` (the function the guest calls), single thread. Each of `--rounds` runs the whole file
//! through a fresh instance; the best and the median round are printed (this VM's wall clock
//! varies by up to 2x between runs). Also finds the longest line the guest handles under the
//! memory limit (`--max-line`), by bisection over fresh instances.

use accesslake_tests::guest::{bisect, target_dir_of_current_exe, wasm_path};
use accesslake_tests::{Guest, Host, HostConfig, InputRecord};
use accesslake_transform::{route, Route, TransformOptions};
use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "Benchmark the transform .wasm in the Redpanda-ABI host")]
struct Args {
    /// A log file (e.g. from `python3 ../shared/bench/mklog.py 1000000 FILE`).
    file: PathBuf,
    /// The transform module (default: the wasm profile build beside this binary).
    #[arg(long, env = "ACCESSLAKE_WASM")]
    wasm: Option<PathBuf>,
    /// Records per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Rounds through the `.wasm`, each on a fresh instance
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Also bisect the longest line handled at the memory limit.
    #[arg(long)]
    max_line: bool,
    /// Guest linear memory limit in bytes.
    #[arg(long, default_value_t = accesslake_tests::guest::DEFAULT_MEMORY_LIMIT)]
    memory_limit: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let wasm = match args.wasm.clone() {
        Some(p) => p,
        None => {
            wasm_path(&target_dir_of_current_exe().context("no cargo target dir; pass --wasm")?)
        }
    };
    let data =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let records: Vec<InputRecord> = lines.iter().map(|l| InputRecord::with_value(*l)).collect();
    let guest = Guest::from_file(&wasm)?;
    let config = HostConfig {
        memory_limit: args.memory_limit,
        ..HostConfig::default()
    };
    println!(
        "module {} (initial memory {} KiB)",
        wasm.display(),
        guest.initial_memory_bytes() / 1024
    );

    let opts = TransformOptions::default();
    let mut out = Vec::new();
    let start = Instant::now();
    let mut native_ok = 0usize;
    for line in &lines {
        native_ok += (route(line, 0, &opts, &mut out) == Route::Parsed) as usize;
    }
    let native = start.elapsed().as_secs_f64();

    let mut secs = Vec::new();
    let (mut parsed, mut rejected, mut memory) = (0usize, 0usize, 0usize);
    for _ in 0..args.rounds.max(1) {
        let mut host = Host::new(&guest, config.clone())?;
        let start = Instant::now();
        (parsed, rejected) = (0, 0);
        for chunk in records.chunks(args.batch) {
            for out in host.process(chunk)? {
                if out.topic_index == 0 {
                    parsed += 1
                } else {
                    rejected += 1
                }
            }
        }
        secs.push(start.elapsed().as_secs_f64());
        memory = host.memory_bytes();
        host.close()?;
        if parsed != native_ok || parsed + rejected != lines.len() {
            bail!(
                "wasm parsed {parsed} + rejected {rejected}, native parsed {native_ok} of {}",
                lines.len()
            );
        }
    }
    secs.sort_by(f64::total_cmp);
    let n = lines.len() as f64;
    println!(
        "{} lines, {} parsed, {} rejected, batches of {}",
        lines.len(),
        parsed,
        rejected,
        args.batch
    );
    println!(
        "native route:           {:.3} s, {:.0} records/s",
        native,
        n / native
    );
    let (best, median) = (secs[0], secs[secs.len() / 2]);
    println!(
        "wasm in host:           {:.3} s, {:.0} records/s (best of {}; median {:.0} records/s; memory {} KiB)",
        best,
        n / best,
        secs.len(),
        n / median,
        memory / 1024
    );

    if args.max_line {
        let template = lines.first().context("empty file")?;
        // Some(parsed?) when the guest handled a line of `len` bytes, None when it trapped.
        let run = |len: usize| -> Result<Option<bool>> {
            let mut host = Host::new(&guest, config.clone())?;
            Ok(host
                .process(&[InputRecord::with_value(long_line(template, len))])
                .ok()
                .map(|out| out.first().is_some_and(|o| o.topic_index == 0)))
        };
        let parsed = bisect(0, 64 << 20, |n| {
            Ok::<_, anyhow::Error>(run(n)? == Some(true))
        })?;
        let handled = bisect(parsed, 64 << 20, |n| {
            Ok::<_, anyhow::Error>(run(n)?.is_some())
        })?;
        println!(
            "at {} KiB of memory (±1 KiB): lines up to {parsed} bytes parse; up to {handled} bytes \
             go to the DLQ (cut to fit); longer lines trap",
            args.memory_limit / 1024,
        );
    }
    Ok(())
}

/// A valid line of about `len` bytes: `template` with a long path.
fn long_line(template: &[u8], len: usize) -> Vec<u8> {
    let at = template
        .windows(2)
        .position(|w| w == b" /")
        .map_or(0, |i| i + 2);
    let pad = len.saturating_sub(template.len());
    let mut line = template[..at].to_vec();
    line.extend(std::iter::repeat_n(b'a', pad));
    line.extend_from_slice(&template[at..]);
    line
}
