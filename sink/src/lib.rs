//! accesslake, the sink: parsed access-log records → GeoIP/bot enrichment → event-time windows →
//! Hive-partitioned Parquet, exactly once per source partition.
//!
//! Modules, one noun each: [`allocator`] (glibc's malloc settings), [`config`] (flags of every
//! command), [`logfile`] (opening plain or gzip-compressed log files), [`enrich`] (GeoIP, ASN,
//! `is_bot`, with memos), [`geoip`] (the MaxMind-format databases and their record layouts),
//! [`rows`] (the lake schema and a columnar row buffer), [`writer`] (one Parquet file), [`summary`]
//! (each data file's pre-aggregated summary) with [`summary_sql`] (its aggregation in SQL), [`lake`] (the directory layout and atomic
//! publishing), [`dead_letter`] (the JSON of a line or record that is not a row), [`lock`] (one
//! writer per partition), [`offsets`] (per-partition resume state, the commit point), [`window`]
//! (tumbling event-time windows), [`pipeline`] (one source partition's enrich → window → commit
//! loop, shared by `ingest` and the Kafka consumer), [`commit`] (executing a commit: stage, fsync,
//! commit point, publish; in the background for `ingest`), [`chunk`] (a log file in chunks of whole
//! lines), [`workers`] (an ordered thread pool), [`fingerprint`] (a log file's id and line
//! fingerprints) and [`identity`] (which partition a file is) for [`ingest`]; [`parse_cmd`] and
//! [`produce`] (commands), [`consumer`] (`run`) with [`consumer_settings`] (its librdkafka settings
//! and the checks on them), [`rebalance`] (the partitions a group member owns, and how they change
//! hands) and [`client_log`] (librdkafka's reports, each logged once); [`query`] (the read-only
//! DuckDB view `logs` and the `query` command) with [`query_guard`] (which statements may run) and
//! [`query_render`] (which result columns DuckDB turns into text), [`lake_files`] (the committed
//! files, listed), [`damage`] (which file a read error came from), [`summary_use`] (which
//! summaries a session reads in place of their files), [`report`] (the `report` command's
//! sections), [`report_html`] and [`chart`] (its HTML page and inline SVG charts), [`check`]
//! (every committed file read back in full), [`expire`] (retention: the hours before a time
//! deleted), and [`compact`] (the small files of finished hours merged).

pub mod allocator;
pub mod cache;
pub mod chart;
pub mod check;
pub mod chunk;
pub mod client_log;
pub mod commit;
pub mod compact;
pub mod compact_dead_letters;
pub mod compact_journal;
pub mod config;
pub mod config_kafka;
pub mod config_read;
pub mod consumer;
pub mod consumer_settings;
pub mod continuity;
pub mod damage;
pub mod dead_letter;
pub mod enrich;
pub mod error;
pub mod expire;
pub mod fingerprint;
pub mod geoip;
pub mod identity;
pub mod ingest;
pub mod ingest_summary;
pub mod lake;
pub mod lake_db;
pub mod lake_files;
pub mod listing_lock;
pub mod lock;
pub mod logfile;
pub mod metrics;
pub mod offsets;
pub mod parse_cmd;
pub mod pipeline;
pub mod produce;
pub mod query;
pub mod query_format;
pub mod query_guard;
pub mod query_render;
pub mod rebalance;
pub mod report;
pub mod report_html;
pub mod report_model;
pub mod report_text;
pub mod rows;
pub mod search_tree;
pub mod summary;
pub mod summary_sql;
pub mod summary_use;
pub mod window;
pub mod workers;
pub mod writer;

pub use error::{Error, Result};
