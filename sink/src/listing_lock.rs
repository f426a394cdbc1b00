//! The lock that keeps this program's readers' listings and a merge's moves apart.
//!
//! A reader lists an hour's directory with `readdir` while a merge of [`crate::compact`] may move
//! its merged file in and then delete its inputs. An entry added or removed during a `readdir`
//! may or may not be returned, so a listing that overlapped both could hold neither the merged
//! file nor the inputs deleted ahead of it: their rows would be missing from the answer, and
//! nothing would say so. So a merge moves its merged file into place and deletes its inputs
//! (for data files and dead letters alike) under this lock held exclusively, and a listing
//! ([`crate::lake_files::Listing`], [`crate::lake_files::dead_letters`]) is taken under it held
//! shared: a listing sees a merge either before its move or after its deletions. A reader holds
//! it only while it lists, never while a query runs. The lock is `flock(2)` on
//! `_accesslake/listing.lock`, which a reader opens read-only (a lake on a read-only
//! mount still lists); the first merge of a lake creates it, and a listing that began before it
//! existed is taken again under it when it exists by the end.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The lock's file.
pub fn lock_path(lake: &Path) -> PathBuf {
    lake.join(crate::lake::META_DIR).join("listing.lock")
}

/// Runs `list` with the lock held shared (waiting for a merge's move and deletions to end), and
/// again if the lock's file appeared meanwhile (a first merge may have begun then). Without a
/// lock file that can be opened, `list` runs unguarded: no merge has moved anything yet.
pub fn listed<T, E>(lake: &Path, mut list: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let path = lock_path(lake);
    let guard = shared(&path);
    let out = list()?;
    if guard.is_some() || !path.exists() {
        return Ok(out);
    }
    let _guard = shared(&path);
    list()
}

/// The lock held shared, `None` when its file is missing or cannot be opened or locked.
fn shared(path: &Path) -> Option<File> {
    let file = File::open(path).ok()?;
    match file.lock_shared() {
        Ok(()) => Some(file),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "the listing lock cannot be taken");
            None
        }
    }
}

/// The lock held exclusively, its file created if need be (never deleted: a reader may hold
/// it), for a merge's move and deletions; released on drop.
pub(crate) fn exclusive(lake: &Path) -> io::Result<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(lake))?;
    file.lock()?;
    Ok(file)
}
