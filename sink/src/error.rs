//! The crate's one error type: every module's `thiserror` enum wrapped, so library functions return
//! `accesslake::Result<T>` and the binary turns it into a message and an exit code.

use std::path::PathBuf;

/// Any failure of the sink's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    GeoIp(#[from] crate::geoip::GeoIpError),
    #[error(transparent)]
    Writer(#[from] crate::writer::WriterError),
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error(transparent)]
    Offsets(#[from] crate::offsets::OffsetsError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Consumer(#[from] crate::consumer::ConsumerError),
    #[error(transparent)]
    Produce(#[from] crate::produce::ProduceError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
    #[error(transparent)]
    Expire(#[from] crate::expire::ExpireError),
    #[error(transparent)]
    Compact(#[from] crate::compact::CompactError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::File {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
