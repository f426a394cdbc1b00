//! One writer per partition: an exclusive lock on `LAKE/_accesslake/state/<source>/<partition>.lock`,
//! taken by [`crate::pipeline::PartitionPipeline`] before it reads the partition's state and held
//! until it is dropped, after its last commit.
//!
//! Kafka's group assignment gives a partition to one member at a time; the lock covers what the
//! assignment cannot see. A member paused for longer than its session (a "zombie": a stopped
//! process, a VM frozen mid-commit) has lost its partitions without knowing it, and may wake up
//! in the middle of a commit while the new owner recovers the same partition; two consumer groups,
//! or two `ingest` runs of one file, may write the same partitions of one lake. With the lock the
//! second writer waits (`ingest` for 2 s, then it stops with an error naming the holder), then
//! reads the state the first one left. A thawed zombie may finish the commit it was in, and even make new
//! ones (records it had fetched, an idle flush) before its next poll tells it the assignment is
//! lost and it drops its buffers, which releases the lock: every one of those commits is
//! complete, and in the state, before the new owner reads it.
//!
//! The lock is `flock(2)` (std's [`File::try_lock`]), released by the kernel when its holder
//! exits, however it exits: a killed sink never leaves a stale lock behind. It is exclusive
//! between processes of one host, and so between containers that share the lake's volume; on a
//! network filesystem it is as good as that filesystem's locks (NFSv4 has them, some FUSE and SMB
//! mounts do not). The file's text names the holder (process id, host, since when), for the
//! error message of the next writer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting writer tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Errors taking a partition's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: another writer holds this partition ({holder}){waited}: a member of the same \
         consumer group still letting go, another group consuming this topic into this lake, or \
         another `ingest` of this file; a partition of the lake has one writer at a time (see \
         doc/DESIGN.md, \"Ownership\")"
    )]
    Held {
        path: PathBuf,
        /// The holder's own description, or `holder unknown`.
        holder: String,
        /// `, waited N s` when the lock was waited for.
        waited: String,
    },
    #[error("{path}: stopped while waiting for another writer to let go of this partition")]
    Stopped { path: PathBuf },
}

/// A held partition lock; dropping it releases the lock.
#[derive(Debug)]
pub struct PartitionLock {
    _file: File,
    path: PathBuf,
    /// The lock file was there before, or its directory was not ([`Self::may_have_lost_state`]).
    maybe_lost: bool,
}

impl PartitionLock {
    /// Takes the lock at `path` (creating the file and its directory), trying again every
    /// [`RETRY_EVERY`] for up to `wait` while another writer holds it; a zero `wait` tries once.
    pub fn acquire(path: &Path, wait: Duration) -> Result<PartitionLock, LockError> {
        PartitionLock::acquire_unless(path, wait, &|| false)
    }

    /// [`PartitionLock::acquire`], giving up with [`LockError::Stopped`] as soon as `stop`
    /// says so while waiting (a sink asked to shut down does not wait out the whole `wait`).
    pub fn acquire_unless(
        path: &Path,
        wait: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<PartitionLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        // A lock file outlives its state (README, "Rewritten files"); a missing directory is
        // a source new to this lake, or a lake whose bookkeeping was removed.
        let dir_was_there = path.parent().is_none_or(Path::is_dir);
        let maybe_lost = path.exists() || !dir_was_there;
        if let Some(dir) = path.parent() {
            crate::lake::create_dir_synced(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let start = Instant::now();
        let mut warned = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            let waited = start.elapsed();
            if waited >= wait {
                return Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder: holder_of(&mut file),
                    waited: match wait.is_zero() {
                        true => String::new(),
                        false => format!(", waited {} s", waited.as_secs()),
                    },
                });
            }
            if stop() {
                return Err(LockError::Stopped {
                    path: path.to_path_buf(),
                });
            }
            if !warned {
                warned = true;
                let holder = holder_of(&mut file);
                tracing::warn!(
                    lock = %path.display(),
                    %holder,
                    wait_secs = wait.as_secs_f64().ceil() as u64,
                    "the partition is held by another writer: waiting for it to let go"
                );
            }
            std::thread::sleep(RETRY_EVERY.min(wait - waited));
        }
        if warned {
            tracing::info!(lock = %path.display(), waited_ms = start.elapsed().as_millis() as u64, "partition lock taken");
        }
        // Say who holds it (the lock is ours: nobody else writes the file now).
        let me = describe_self();
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(me.as_bytes()))
            .map_err(io)?;
        Ok(PartitionLock {
            _file: file,
            path: path.to_path_buf(),
            maybe_lost,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a partition without a state may have lost it: its lock file was there before
    /// this lock (a partition written before; a lock file is never removed), or its directory
    /// was not (a source new to this lake, or a lake whose `_accesslake` was removed). A new
    /// partition of a known source is neither, and needs no look for files of its own.
    pub fn may_have_lost_state(&self) -> bool {
        self.maybe_lost
    }
}

/// The holder's description from the lock file, written just after it took the lock: read
/// again a moment later when it is not there yet.
fn holder_of(file: &mut File) -> String {
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut text = String::new();
        let read = file
            .rewind()
            .and_then(|()| file.take(256).read_to_string(&mut text));
        match read.map(|_| text.trim()) {
            Ok(t) if !t.is_empty() => return t.to_string(),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    "holder unknown".into()
}

/// `pid N on HOST since TIME`: what the next writer is told about this one.
fn describe_self() -> String {
    // Linux names its host here; elsewhere the process id alone is said.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| format!(" on {}", h.trim()))
        .unwrap_or_default();
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("pid {}{host} since {since}\n", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/t/3.lock");
        let first = PartitionLock::acquire(&path, Duration::ZERO).unwrap();
        // A second open file description conflicts, even in the same process.
        let err = PartitionLock::acquire(&path, Duration::ZERO).unwrap_err();
        let msg = err.to_string();
        let me = format!("pid {}", std::process::id());
        assert!(matches!(err, LockError::Held { .. }), "{msg}");
        assert!(msg.contains(&me) && !msg.contains("waited"), "{msg}");
        // Waiting gives up after the wait, and says so.
        let t = Instant::now();
        let msg = PartitionLock::acquire(&path, Duration::from_millis(250))
            .unwrap_err()
            .to_string();
        assert!(t.elapsed() >= Duration::from_millis(250), "{msg}");
        assert!(msg.contains(", waited "), "{msg}");
        drop(first);
        let again = PartitionLock::acquire(&path, Duration::ZERO).unwrap();
        assert_eq!(again.path(), path);
    }

    #[test]
    fn a_lock_tells_whether_its_partition_may_have_lost_a_state() {
        let dir = tempfile::tempdir().unwrap();
        let lock = |p: &str| PartitionLock::acquire(&dir.path().join(p), Duration::ZERO).unwrap();
        assert!(
            lock("state/t/1.lock").may_have_lost_state(),
            "a source new to the lake"
        );
        assert!(
            !lock("state/t/2.lock").may_have_lost_state(),
            "a new partition"
        );
        assert!(
            lock("state/t/2.lock").may_have_lost_state(),
            "a partition written before"
        );
    }

    #[test]
    fn a_waiting_writer_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.lock");
        let first = PartitionLock::acquire(&path, Duration::ZERO).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            // Taken before the release: the waiter cannot have the lock any earlier.
            let at = Instant::now();
            drop(first);
            at
        });
        let second = PartitionLock::acquire(&path, Duration::from_secs(30)).unwrap();
        let got = Instant::now();
        assert!(got >= released.join().unwrap());
        drop(second);
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2.lock");
        let _held = PartitionLock::acquire(&path, Duration::ZERO).unwrap();
        let asked = Instant::now() + Duration::from_millis(300);
        let t = Instant::now();
        let err = PartitionLock::acquire_unless(&path, Duration::from_secs(60), &|| {
            Instant::now() >= asked
        })
        .unwrap_err();
        assert!(matches!(err, LockError::Stopped { .. }), "{err}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
