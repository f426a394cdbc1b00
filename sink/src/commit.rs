//! Executing a commit, once the pipeline has decided what it holds ([`CommitJob`]): stage every
//! file (encode the windows' Parquet files and summaries, write the dead letters), fsync them,
//! write the new state (the commit point), publish (rename into the lake). On the caller's
//! thread ([`CommitJob::run`]), or on two threads of their own ([`Background`], for `ingest`):
//! one stages commit N+1 while the other fsyncs, commits and publishes commit N. See
//! `doc/DESIGN.md`, "A commit".

use crate::error::Result;
use crate::lake::{create_dir_synced, sync_dir, Lake};
use crate::offsets::{self, PartitionState};
use crate::pipeline::PipelineError;
use crate::summary;
use crate::writer::FileMeta;
use arrow::record_batch::RecordBatch;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Instants inside a commit where a test can make it stop, as a crash would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStep {
    /// Files staged and synced, state not written.
    Staged,
    /// State renamed (committed), no file published.
    StateWritten,
    /// State committed, only the first of the pending files published.
    HalfPublished,
}

/// What a commit made durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Every offset below this is in the lake.
    pub resume_offset: i64,
    /// Data and dead-letter files (summaries not counted).
    pub files: usize,
    pub rows: u64,
    pub rejected: u64,
    /// Bytes written (data and dead-letter files).
    pub bytes: u64,
    /// From the moment the pipeline decided the commit to its files being published: encoding,
    /// fsyncs, the commit point and the renames, and any wait behind the commit before it.
    pub duration: Duration,
}

/// The two commit threads of a pipeline: `commit-P` stages each job's files, `publish-P`
/// fsyncs them, passes the commit point and publishes, one job after the other, in order, so a
/// commit's disk waits overlap the encoding of the next. A job's result (or the first error,
/// after which both stop) comes back on [`Background::done`], in job order.
pub(crate) struct Background {
    jobs: Option<SyncSender<CommitJob>>,
    pub(crate) done: Receiver<Result<Committed>>,
    threads: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts the threads for source partition `partition` (named after it).
    pub(crate) fn spawn(partition: i32) -> std::result::Result<Background, PipelineError> {
        let (jobs, job_rx) = sync_channel::<CommitJob>(1);
        // Only metadata passes here (the batches are dropped once encoded).
        let (staged_tx, staged_rx) = sync_channel::<Result<Staged>>(1);
        let (done_tx, done) = channel();
        let stage = std::thread::Builder::new()
            .name(format!("commit-{partition}"))
            .spawn(move || {
                for job in job_rx {
                    let staged = job.stage();
                    let failed = staged.is_err();
                    // An error goes down the line too, so results stay in commit order.
                    if staged_tx.send(staged).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(PipelineError::Spawn)?;
        // If this spawn fails, dropping `stage`'s handle detaches it; it ends when `jobs` drops.
        let publish = std::thread::Builder::new()
            .name(format!("publish-{partition}"))
            .spawn(move || {
                for staged in staged_rx {
                    let r = staged.and_then(Staged::commit);
                    let failed = r.is_err();
                    if done_tx.send(r).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(PipelineError::Spawn)?;
        Ok(Background {
            jobs: Some(jobs),
            done,
            threads: vec![stage, publish],
        })
    }

    /// Hands a job to the threads; `Err` when they have stopped (after an error, which then
    /// waits on [`Background::done`]).
    pub(crate) fn send(&self, job: CommitJob) -> std::result::Result<(), ()> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(drop),
            None => Err(()),
        }
    }
}

impl Drop for Background {
    /// Closes the job queue and waits for the threads: they finish the commits already handed
    /// over (or stop at the first error), so nothing of this pipeline writes after it is gone.
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Staged files a commit holds open at most: past it, those open are fsynced and closed at once,
/// so a commit of many windows (late records of many hours, say) cannot run out of file
/// descriptors (1,024 by default in containers and systemd units; with the commit being
/// published and the one queued, about three times this many at worst).
const MAX_OPEN_STAGED: usize = 64;

/// Holds a staged file open for the commit's fsync, or, when [`MAX_OPEN_STAGED`] are open,
/// fsyncs and closes all of them now.
fn hold(unsynced: &mut Vec<(PathBuf, File)>, path: PathBuf, file: File) -> Result<()> {
    unsynced.push((path, file));
    if unsynced.len() >= MAX_OPEN_STAGED {
        for (path, file) in unsynced.drain(..) {
            file.sync_all().map_err(|e| crate::Error::file(&path, e))?;
        }
    }
    Ok(())
}

/// One commit, ready to execute: encoded nowhere yet, its new state already computed.
pub(crate) struct CommitJob {
    pub(crate) lake: Lake,
    /// Each flushed window's file metadata and rows.
    pub(crate) files: Vec<(FileMeta, Vec<RecordBatch>)>,
    /// Dead letters, as JSON lines.
    pub(crate) rejected: Option<Vec<u8>>,
    /// The state this commit writes; its `pending` names the staged files, in order: each
    /// window's data file then its summary, then the dead letters.
    pub(crate) state: PartitionState,
    pub(crate) fault: Option<CommitStep>,
    /// When the pipeline decided it ([`Committed::duration`] counts from here).
    pub(crate) started: Instant,
}

impl CommitJob {
    /// Stage and fsync every file, commit the state (the commit point), publish.
    pub(crate) fn run(self) -> Result<Committed> {
        self.stage()?.commit()
    }

    /// Writes every file of the commit into the staging directory; [`Staged::commit`] fsyncs
    /// them (so this stage is encoding, and the disk waits happen on the next one, except for
    /// a commit of more than [`MAX_OPEN_STAGED`] files, which syncs the first ones here).
    fn stage(self) -> Result<Staged> {
        let st = &self.state;
        let (source, partition) = (st.source.as_str(), st.partition);
        let staging = self.lake.staging_dir(source, partition);
        create_dir_synced(&staging).map_err(|e| crate::Error::file(&staging, e))?;
        let mut pending = st.pending.iter();
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut unsynced = Vec::with_capacity(st.pending.len().min(MAX_OPEN_STAGED));
        for (meta, batches) in &self.files {
            let p = pending.next().expect("a pending entry per data file");
            let path = staging.join(&p.staged);
            let s = pending.next().expect("a pending entry per summary");
            let summary_path = staging.join(&s.staged);
            let (data, summary) =
                summary::write_file_and_summary(&path, &summary_path, batches, meta)?;
            bytes += data.metadata().map(|m| m.len()).unwrap_or(0);
            hold(&mut unsynced, path, data)?;
            hold(&mut unsynced, summary_path, summary)?;
            rows += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        }
        let mut rejected = 0;
        if let Some(data) = &self.rejected {
            let p = pending
                .next()
                .expect("a pending entry for the dead letters");
            let path = staging.join(&p.staged);
            let write = |p: &std::path::Path| -> std::io::Result<File> {
                let mut f = File::create(p)?;
                f.write_all(data)?;
                Ok(f)
            };
            let file = write(&path).map_err(|e| crate::Error::file(&path, e))?;
            hold(&mut unsynced, path, file)?;
            bytes += data.len() as u64;
            rejected = data.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        let files = self.files.len() + self.rejected.is_some() as usize;
        Ok(Staged {
            lake: self.lake,
            state: self.state,
            fault: self.fault,
            started: self.started,
            staging,
            unsynced,
            files,
            rows,
            rejected,
            bytes,
        })
    }
}

/// A commit whose files are written to the staging directory: what is left is to fsync them,
/// its commit point and the renames ([`Staged::commit`]).
struct Staged {
    lake: Lake,
    state: PartitionState,
    fault: Option<CommitStep>,
    started: Instant,
    staging: PathBuf,
    /// The staged files still open, not yet fsynced (see [`MAX_OPEN_STAGED`]).
    unsynced: Vec<(PathBuf, File)>,
    files: usize,
    rows: u64,
    rejected: u64,
    bytes: u64,
}

impl Staged {
    fn fault_at(&self, step: CommitStep) -> Result<()> {
        if self.fault == Some(step) {
            return Err(PipelineError::Fault(step).into());
        }
        Ok(())
    }

    /// Fsyncs the staged files and the staging directory, commits the state (the commit point),
    /// publishes.
    fn commit(self) -> Result<Committed> {
        let st = &self.state;
        let (source, partition) = (st.source.as_str(), st.partition);
        let (files, rows, rejected, bytes) = (self.files, self.rows, self.rejected, self.bytes);
        for (path, file) in &self.unsynced {
            file.sync_all().map_err(|e| crate::Error::file(path, e))?;
        }
        let staging = &self.staging;
        sync_dir(staging).map_err(|e| crate::Error::file(staging, e))?;
        self.fault_at(CommitStep::Staged)?;

        offsets::store(&self.lake.state_path(source, partition), st)?;
        self.fault_at(CommitStep::StateWritten)?;

        if self.fault == Some(CommitStep::HalfPublished) {
            self.lake.publish_committed(
                source,
                partition,
                &st.pending[..st.pending.len().min(1)],
            )?;
            return Err(PipelineError::Fault(CommitStep::HalfPublished).into());
        }
        self.lake
            .publish_committed(source, partition, &st.pending)?;
        tracing::debug!(
            source,
            partition,
            files,
            rows,
            rejected,
            resume = st.resume_offset,
            "committed"
        );
        Ok(Committed {
            resume_offset: st.resume_offset,
            files,
            rows,
            rejected,
            bytes,
            duration: self.started.elapsed(),
        })
    }
}
