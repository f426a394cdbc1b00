//! The settings `run` consumes with: the librdkafka configuration it builds (its own settings,
//! then the user's `-X`, then again those exactly-once rests on), and the checks made before
//! anything starts: a `-X` that would change what exactly-once rests on, blind the statistics or
//! let a record outgrow a string column is refused, as are a lock wait that would outlast
//! librdkafka's poll interval and an idle flush out of bounds.

use crate::config::RunConfig;
use crate::consumer::ConsumerError;
use rdkafka::config::ClientConfig;

/// The librdkafka settings exactly-once rests on: `(key, the values accepted, why)`. The first
/// value is the one set; a `-X` giving another is refused ([`check_owned_settings`]).
const OWNED: &[(&str, &[&str], &str)] = &[
    (
        "enable.auto.commit",
        &["false"],
        "the sink commits offsets itself, after the files holding the records are durable",
    ),
    (
        "enable.auto.offset.store",
        &["false"],
        "the sink stores offsets itself, after the files holding the records are durable",
    ),
    (
        "auto.offset.reset",
        &["earliest", "smallest", "beginning"],
        "a partition whose resume offset is gone (retention) must restart at the oldest record \
         still held, not skip to the end or stop",
    ),
    (
        "isolation.level",
        &["read_committed"],
        "records of aborted transactions must not reach the lake",
    ),
];

/// The consumer's librdkafka configuration: our settings, then the user's `-X` (checked by
/// [`check_owned_settings`] first), then again the settings exactly-once rests on.
pub fn consumer_config(cfg: &RunConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.kafka.brokers)
        .set("group.id", &cfg.group)
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .set("statistics.interval.ms", "5000");
    for (k, v) in &cfg.kafka.settings {
        c.set(k, v);
    }
    for (k, values, _) in OWNED {
        c.set(*k, values[0]);
    }
    c
}

/// Refuses a `-X` that would change a setting exactly-once rests on ([`OWNED`]), naming why,
/// instead of overriding it silently.
fn check_owned_settings(cfg: &RunConfig) -> crate::Result<()> {
    for (key, value) in &cfg.kafka.settings {
        let Some((_, values, why)) = OWNED.iter().find(|(k, _, _)| k == key) else {
            continue;
        };
        if !values.contains(&value.trim()) {
            return Err(ConsumerError::Settings(format!(
                "-X {key}={value} is not supported: the sink needs {key}={}: {why}",
                values[0]
            ))
            .into());
        }
    }
    // Another interval is fine; none at all would leave the lag gauges and `/readyz` blind.
    for (key, value) in &cfg.kafka.settings {
        if key == "statistics.interval.ms" && value.trim().parse::<u64>().is_ok_and(|v| v == 0) {
            return Err(ConsumerError::Settings(format!(
                "-X {key}={value} is not supported: consumer_lag, brokers_up and /readyz come \
                 from librdkafka's statistics; give an interval in ms (default 5000)"
            ))
            .into());
        }
        // One record's text must fit an Arrow string column (2 GiB) beside a window's buffered
        // rows (flushed at 512 MiB): librdkafka's own ceiling is 2 GiB.
        if key == "receive.message.max.bytes"
            && value
                .trim()
                .parse::<u64>()
                .is_ok_and(|v| v > MAX_RECEIVE_BYTES)
        {
            return Err(ConsumerError::Settings(format!(
                "-X {key}={value} is not supported: a record over {MAX_RECEIVE_BYTES} bytes (1 GiB) \
                 would not fit a Parquet string column beside a window's buffered rows"
            ))
            .into());
        }
    }
    Ok(())
}

/// The largest `receive.message.max.bytes` accepted: 1 GiB.
const MAX_RECEIVE_BYTES: u64 = 1 << 30;

/// Time an assignment may spend besides its lock wait: asking the broker for its partitions'
/// ends (up to 10 s each, 20 s in all) and recovering them.
pub(crate) const ASSIGN_MARGIN_MS: u64 = 30_000;

/// The lock wait happens inside `poll`: it must end, with [`ASSIGN_MARGIN_MS`] to spare, before
/// librdkafka's `max.poll.interval.ms` (the user's `-X`, or its 300 s default) makes the member
/// leave the group.
fn check_lock_wait(cfg: &RunConfig) -> crate::Result<()> {
    let poll_ms = cfg
        .kafka
        .settings
        .iter()
        .rev()
        .find(|(k, _)| k == "max.poll.interval.ms")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(300_000);
    let needed = cfg
        .lock_wait_secs
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(ASSIGN_MARGIN_MS));
    if needed.is_none_or(|ms| ms > poll_ms) {
        return Err(ConsumerError::Settings(format!(
            "--lock-wait-secs {} must be at least {} s below max.poll.interval.ms ({poll_ms} \
             ms): the wait happens inside the consumer's poll",
            cfg.lock_wait_secs,
            ASSIGN_MARGIN_MS / 1000
        ))
        .into());
    }
    Ok(())
}

/// The idle flush's bounds: the loop checks for idle partitions every 10 ms, and past a day an
/// idle flush is no flush.
const MIN_IDLE_FLUSH_SECS: f64 = 0.01;
const MAX_IDLE_FLUSH_SECS: f64 = 86_400.0;

/// Checks every setting of `run` that can be checked without the broker or the lake.
pub fn check_settings(cfg: &RunConfig) -> crate::Result<()> {
    cfg.window().validate().map_err(ConsumerError::Settings)?;
    if !(MIN_IDLE_FLUSH_SECS..=MAX_IDLE_FLUSH_SECS).contains(&cfg.idle_flush_secs) {
        return Err(ConsumerError::Settings(format!(
            "idle flush must be between {MIN_IDLE_FLUSH_SECS} and {MAX_IDLE_FLUSH_SECS} seconds"
        ))
        .into());
    }
    check_lock_wait(cfg)?;
    check_owned_settings(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_wait_ends_before_the_poll_interval() {
        let mut cfg = RunConfig::default();
        assert!(check_lock_wait(&cfg).is_ok());
        cfg.lock_wait_secs = 270;
        assert!(check_lock_wait(&cfg).is_ok());
        cfg.lock_wait_secs = 271;
        let e = check_lock_wait(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("30 s below max.poll.interval.ms (300000 ms)"),
            "{e}"
        );
        cfg.kafka.settings = vec![("max.poll.interval.ms".into(), "600000".into())];
        assert!(check_lock_wait(&cfg).is_ok());
        cfg.lock_wait_secs = 20;
        cfg.kafka
            .settings
            .push(("max.poll.interval.ms".into(), "10000".into()));
        assert!(check_lock_wait(&cfg).is_err(), "the last -X wins");
    }

    #[test]
    fn settings_exactly_once_rests_on_cannot_be_changed() {
        let mut cfg = RunConfig::default();
        let with = |cfg: &mut RunConfig, k: &str, v: &str| {
            cfg.kafka.settings = vec![(k.into(), v.into())];
            check_owned_settings(cfg).map_err(|e| e.to_string())
        };
        for (k, v) in [
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "true"),
            ("auto.offset.reset", "latest"),
            ("auto.offset.reset", "error"),
            ("isolation.level", "read_uncommitted"),
            ("statistics.interval.ms", "0"),
            ("receive.message.max.bytes", "1073741825"),
        ] {
            let e = with(&mut cfg, k, v).unwrap_err();
            assert!(e.contains(&format!("-X {k}={v} is not supported")), "{e}");
        }
        for (k, v) in [
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "smallest"),
            ("isolation.level", "read_committed"),
            ("security.protocol", "SASL_SSL"),
            ("statistics.interval.ms", "1000"),
            ("receive.message.max.bytes", "1073741824"),
        ] {
            assert!(with(&mut cfg, k, v).is_ok(), "{k}={v}");
        }
        // Whatever -X says, the built configuration has the owned values.
        cfg.kafka.settings = vec![("auto.offset.reset".into(), "beginning".into())];
        let c = consumer_config(&cfg);
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("isolation.level"), Some("read_committed"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
    }

    #[test]
    fn idle_flush_is_bounded() {
        for idle in [0.0, -1.0, 1e-12, f64::NAN, f64::INFINITY, 1e20] {
            let cfg = RunConfig {
                idle_flush_secs: idle,
                ..RunConfig::default()
            };
            let e = check_settings(&cfg).unwrap_err().to_string();
            assert!(e.contains("idle flush must be between"), "{idle}: {e}");
        }
        for idle in [0.01, 5.0, 86_400.0] {
            let cfg = RunConfig {
                idle_flush_secs: idle,
                ..RunConfig::default()
            };
            assert!(check_settings(&cfg).is_ok(), "{idle}");
        }
    }

    #[test]
    fn an_absurd_lock_wait_is_refused_not_overflowed() {
        let mut cfg = RunConfig {
            lock_wait_secs: u64::MAX / 100,
            ..RunConfig::default()
        };
        assert!(check_lock_wait(&cfg).is_err());
        cfg.lock_wait_secs = u64::MAX;
        assert!(check_lock_wait(&cfg).is_err());
    }
}
