//! A commit's plan (phase A, on the pipeline's thread): which flushed windows and dead letters
//! it publishes, under which names, and the partition's new state with those files as
//! `pending`; then the job runs here or on the background writer ([`crate::commit`] executes
//! it), and finished commits are counted and reported. See `doc/DESIGN.md`.

use super::*;

impl PartitionPipeline {
    /// Turns the flushed windows and dead letters into a commit job (phase A, on this thread):
    /// the new state, with the files it will publish as `pending`, is computed here; the job
    /// itself writes, fsyncs, commits and publishes them ([`CommitJob::run`]).
    pub(super) fn commit(&mut self, starts: Vec<i64>) -> Result<Option<Committed>> {
        let nothing = starts.is_empty() && self.rejected_first.is_none();
        // A commit of the state alone, when `ingest` read no new line but the last line it
        // records has changed (a line committed unfinished, found finished): else the next run
        // would find it finished again.
        let last_line_only = nothing
            && self.last_line.is_some()
            && self
                .state
                .as_ref()
                .is_some_and(|s| s.last_line != self.last_line);
        let next = match (self.next_offset, &self.state) {
            (Some(next), _) => next,
            (None, Some(state)) if last_line_only => state.resume_offset,
            (None, _) => return self.drain(false),
        };
        if nothing && !last_line_only {
            return self.drain(false);
        }
        let mut job = CommitJob {
            lake: self.lake.clone(),
            files: Vec::new(),
            rejected: None,
            state: self
                .state
                .clone()
                .unwrap_or_else(|| PartitionState::new(&self.source, self.partition, 0)),
            fault: self.fault,
            started: std::time::Instant::now(),
        };
        let (mut pending, mut keys) = (Vec::new(), Vec::new());
        let (mut rows, mut late) = (0u64, 0u64);
        for start in starts {
            let Some(buf) = self.windows.take(start) else {
                continue;
            };
            let (first_offset, last_offset) = (buf.first_offset, buf.last_offset);
            late += buf.late;
            let batch_rows = buf.len() as u64;
            let batches = buf.into_batches();
            let held = batches.iter().map(RecordBatch::num_rows).sum::<usize>() as u64;
            if held != batch_rows {
                return Err(PipelineError::Internal(format!(
                    "window {start} counted {batch_rows} rows but holds {held}"
                ))
                .into());
            }
            let target = Lake::data_target(&self.source, self.partition, start, first_offset);
            let meta = FileMeta {
                source: self.source.clone(),
                partition: self.partition,
                first_offset,
                last_offset,
                window_start: start,
            };
            rows += batch_rows;
            // The data file, then its summary: both published by the same commit.
            let summary = Lake::summary_target(&target);
            pending.push(PendingFile {
                staged: Lake::staged_name(&target),
                target,
            });
            pending.push(PendingFile {
                staged: Lake::staged_name(&summary),
                target: summary,
            });
            job.files.push((meta, batches));
            keys.push(state_key(start));
        }
        let rejected = self.rejected_count;
        if let Some(first) = self.rejected_first.take() {
            let target = Lake::rejected_target(&self.source, self.partition, first);
            pending.push(PendingFile {
                staged: Lake::staged_name(&target),
                target,
            });
            job.rejected = Some(std::mem::take(&mut self.rejected));
            self.rejected_count = 0;
            keys.push(REJECTED_KEY.to_string());
        }
        let st = &mut job.state;
        let resume = self.windows.min_offset().unwrap_or(next);
        for k in keys {
            st.flushed.insert(k, next);
        }
        st.resume_offset = resume;
        st.flushed.retain(|_, f| *f > resume);
        st.pending = pending;
        st.window_secs = Some(self.windows.settings().window_secs);
        if self.parse.is_some() {
            st.parse = self.parse.clone();
        }
        if self.first_line.is_some() {
            st.first_line = self.first_line;
        }
        if let Some(last) = self.last_line.take() {
            st.last_line = Some(last);
        }
        st.watermark = self.windows.watermark();
        // Running totals for people (a state edited to near the maximum stays there).
        st.commits = st.commits.saturating_add(1);
        st.rows = st.rows.saturating_add(rows);
        st.rejected = st.rejected.saturating_add(rejected);
        st.late = st.late.saturating_add(late);
        // From here on, replays are judged against this state: if the job fails, the pipeline
        // is unusable and reopening it recovers from what actually reached the disk.
        self.state = Some(job.state.clone());
        if let Some(bg) = &self.background {
            if bg.send(job).is_err() {
                // The writer stopped on an error of an earlier commit: that error, not this.
                self.drain(true)?;
                return Err(PipelineError::WriterGone.into());
            }
            self.in_flight += 1;
            return self.drain(false);
        }
        let done = job.run()?;
        self.account(&done);
        Ok(Some(done))
    }

    fn account(&mut self, done: &Committed) {
        self.stats.rows_written += done.rows;
        self.stats.rejected += done.rejected;
        self.stats.files += done.files as u64;
        self.stats.bytes += done.bytes;
        self.stats.commits += 1;
        if let Some(f) = &mut self.on_commit {
            f(done);
        }
    }

    /// Collects finished background commits (all of them when `wait`); returns the newest.
    pub(super) fn drain(&mut self, wait: bool) -> Result<Option<Committed>> {
        let mut last = None;
        while self.in_flight > 0 {
            let Some(bg) = &self.background else { break };
            let got = if wait {
                bg.done.recv().ok()
            } else {
                bg.done.try_recv().ok()
            };
            let Some(res) = got else {
                if wait {
                    return Err(PipelineError::WriterGone.into());
                }
                break;
            };
            self.in_flight -= 1;
            let done = res?;
            self.account(&done);
            last = Some(done);
        }
        Ok(last)
    }
}
