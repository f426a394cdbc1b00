//! An ordered pool of worker threads: jobs handed out from one queue to whichever thread is
//! free, their results put back in job order. `ingest` parses and enriches chunks of lines on
//! it while its pipeline consumes the rows in line order.

use crate::error::Result;
use crate::pipeline::PipelineError;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Runs `work` over the jobs `next_job` yields on one thread per element of `states` (each thread
/// owning its state), and hands the results to `consume` in job order. A thread takes the next
/// job from one shared queue whenever it is free, so a thread on a slower (or busier) core takes
/// fewer jobs instead of holding the others up; at most two jobs per thread are in flight, and
/// a result that comes back before an earlier one waits, by sequence number. The first error,
/// from `next_job` or `consume`, stops everything and is returned; a panic in `work` is
/// re-raised here (never a hang waiting for its result).
pub fn in_order<J: Send, R: Send, S: Send>(
    states: Vec<S>,
    mut next_job: impl FnMut() -> Result<Option<J>>,
    work: impl Fn(&mut S, J) -> R + Sync,
    mut consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let workers = states.len().max(1);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, J)>(workers);
    // `None`: the worker panicked on that job (it then unwinds, and the scope re-raises it).
    let (res_tx, res_rx) = std::sync::mpsc::channel::<(usize, Option<R>)>();
    let job_rx = std::sync::Mutex::new(job_rx);
    let work = &work;
    std::thread::scope(|scope| -> Result<()> {
        // Owned by this closure, so an early return closes the queues and the workers stop.
        let (job_tx, res_tx) = (job_tx, res_tx);
        for (w, mut state) in states.into_iter().enumerate() {
            let (jobs, results) = (&job_rx, res_tx.clone());
            std::thread::Builder::new()
                .name(format!("ingest-{w}"))
                .spawn_scoped(scope, move || {
                    // The lock is held only while taking a job (a poisoned one stops the worker).
                    while let Some((seq, job)) = jobs.lock().ok().and_then(|rx| rx.recv().ok()) {
                        let sent = match catch_unwind(AssertUnwindSafe(|| work(&mut state, job))) {
                            Ok(r) => results.send((seq, Some(r))),
                            Err(panic) => {
                                // Report the result missing (or the reader would wait for it
                                // for ever); the scope then re-raises the panic.
                                let _ = results.send((seq, None));
                                resume_unwind(panic);
                            }
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                })
                .map_err(PipelineError::Spawn)?;
        }
        drop(res_tx);
        let (mut sent, mut next, mut eof) = (0usize, 0usize, false);
        let mut early = std::collections::BTreeMap::new();
        loop {
            while !eof && sent - next < 2 * workers {
                match next_job()? {
                    Some(job) => {
                        job_tx
                            .send((sent, job))
                            .map_err(|_| PipelineError::WorkerGone)?;
                        sent += 1;
                    }
                    None => eof = true,
                }
            }
            if next == sent {
                return Ok(());
            }
            let result = loop {
                if let Some(r) = early.remove(&next) {
                    break r;
                }
                let (seq, r) = res_rx.recv().map_err(|_| PipelineError::WorkerGone)?;
                early.insert(seq, r.ok_or(PipelineError::WorkerGone)?);
            };
            next += 1;
            consume(result)?;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `in_order` over jobs `0..n`: the results in the order `consume` saw them.
    fn run_in_order(
        states: Vec<u64>,
        n: usize,
        work: impl Fn(&mut u64, usize) -> (usize, u64) + Sync,
    ) -> Result<Vec<(usize, u64)>> {
        let mut jobs = 0..n;
        let mut seen = Vec::new();
        in_order(
            states,
            || Ok(jobs.next()),
            work,
            |r| {
                seen.push(r);
                Ok(())
            },
        )?;
        Ok(seen)
    }

    #[test]
    fn results_come_back_in_job_order_and_a_free_worker_takes_more() {
        // Worker 0 is slow on every job; the others are fast but uneven.
        let seen = run_in_order(vec![0, 1, 2], 300, |id, job| {
            let micros = if *id == 0 {
                3_000
            } else {
                (job as u64 * 7919) % 400
            };
            std::thread::sleep(std::time::Duration::from_micros(micros));
            (job, *id)
        })
        .unwrap();
        assert_eq!(
            seen.iter().map(|&(job, _)| job).collect::<Vec<_>>(),
            (0..300).collect::<Vec<_>>()
        );
        let by = |w| seen.iter().filter(|&&(_, id)| id == w).count();
        assert!(
            by(0) < by(1) + by(2),
            "the slow worker took {} of 300",
            by(0)
        );
    }

    #[test]
    fn errors_stop_everything_and_are_returned() {
        let mut jobs = 0..1_000;
        let mut consumed = 0;
        let r = in_order(
            vec![(); 2],
            || Ok(jobs.next()),
            |_, j| j,
            |j| {
                consumed += 1;
                match j {
                    5 => Err(PipelineError::WorkerGone.into()),
                    _ => Ok(()),
                }
            },
        );
        assert!(r.is_err());
        assert_eq!(consumed, 6);
        let mut n = 0;
        let r = in_order(
            vec![(); 2],
            || {
                n += 1;
                match n {
                    10 => Err(PipelineError::WorkerGone.into()),
                    _ => Ok(Some(n)),
                }
            },
            |_, j| j,
            |_| Ok(()),
        );
        assert!(r.is_err());
    }

    #[test]
    fn a_panicking_worker_is_re_raised_not_waited_for() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(|| {
                run_in_order(vec![0, 1], 50, |_, job| {
                    assert!(job != 7, "job 7 fails");
                    (job, 0)
                })
            });
            let _ = tx.send(r.is_err());
        });
        let panicked = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("in_order hung after a worker panicked");
        assert!(panicked);
    }
}
