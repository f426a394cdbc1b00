//! Parser throughput on one thread: parse-only and parse + JSON over a whole file held in memory
//! (so disk speed is not measured). `cargo run --release -p accesslake-transform --example
//! bench_parse -- FILE [ROUNDS]`; `bench/parse.sh` makes the 1 M-line file and runs it.

use accesslake_transform::{parse_line, transform_value, ParseOptions};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: bench_parse FILE [ROUNDS] [parse|json]");
    let rounds: usize = args
        .next()
        .map_or(3, |r| r.parse().expect("ROUNDS is a number"));
    // An optional third argument, `parse` or `json`, runs only that half (for profiling).
    let only = args.next();
    let run = |what: &str| only.as_deref().is_none_or(|o| o == what);
    let data = std::fs::read(&path).expect("read FILE");
    let lines: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let opts = ParseOptions::default();
    let mut best = (f64::MAX, f64::MAX);
    let (mut ok, mut json_bytes) = (0usize, 0usize);
    for _ in 0..rounds {
        if run("parse") {
            let t = Instant::now();
            ok = lines.iter().filter(|l| parse_line(l).is_ok()).count();
            best.0 = best.0.min(t.elapsed().as_secs_f64());
        }
        if !run("json") {
            continue;
        }
        let t = Instant::now();
        let mut out = Vec::with_capacity(4096);
        json_bytes = 0;
        for l in &lines {
            if transform_value(l, &opts, &mut out).is_ok() {
                json_bytes += out.len();
            }
        }
        best.1 = best.1.min(t.elapsed().as_secs_f64());
    }
    let n = lines.len() as f64;
    println!(
        "lines: {} parsed: {} ({} rejected), JSON bytes: {}",
        lines.len(),
        ok,
        lines.len() - ok,
        json_bytes
    );
    if run("parse") {
        println!(
            "parse only : {:8.3} s  {:6.2} M lines/s",
            best.0,
            n / best.0 / 1e6
        );
    }
    if run("json") {
        println!(
            "parse+JSON : {:8.3} s  {:6.2} M lines/s",
            best.1,
            n / best.1 / 1e6
        );
    }
}
