//! librdkafka's reports, each logged once. librdkafka says the same thing up to three times: a
//! broker connection that fails is logged (facility `FAIL`) and also sent as an error event with
//! the same text; rdkafka hands a consumer's error event to the client context's `error`
//! callback and then returns it from `poll`; and its producer calls `error` twice for one event.
//! [`ClientLog`] keeps one of each: the error event, through the context's `error` callback,
//! with repeats held back ([`LogThrottle`]). `run` and `produce` route their client contexts'
//! `log` and `error` through it, and the sink's poll loop asks [`ClientLog::is_echo`] before it
//! logs a poll error.

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Logs a message that repeats (a broker that is down fails every poll, 10 times a second) once
/// per [`LogThrottle::EVERY`]: a repeat within it is held back, and the first repeat after it is
/// logged with the number held back in between. Several messages are tracked at once (a broker
/// outage alternates two); past [`LogThrottle::KEEP`] of them, the one seen longest ago is
/// forgotten, and a count it still held back is handed to the caller to log.
#[derive(Default)]
pub struct LogThrottle(Mutex<HashMap<String, Seen>>);

struct Seen {
    /// When it was last logged.
    logged: Instant,
    /// When it last came.
    last: Instant,
    /// Repeats held back since it was last logged.
    held: u64,
}

impl LogThrottle {
    pub const EVERY: Duration = Duration::from_secs(30);
    /// Distinct messages remembered.
    const KEEP: usize = 64;

    /// `Some(held back)` when `msg` is to be logged now; and the message forgotten to make room
    /// for it with the count it still held back, if any (for the caller to log at that message's
    /// level).
    pub fn admit(&self, msg: &str) -> (Option<u64>, Option<(String, u64)>) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(s) = seen.get_mut(msg) {
            s.last = now;
            if now.duration_since(s.logged) < Self::EVERY {
                s.held += 1;
                return (None, None);
            }
            s.logged = now;
            return (Some(std::mem::take(&mut s.held)), None);
        }
        let mut forgotten = None;
        if seen.len() >= Self::KEEP {
            let oldest = seen
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(m, _)| m.clone());
            if let Some((m, s)) = oldest.and_then(|m| seen.remove_entry(&m)) {
                forgotten = (s.held > 0).then_some((m, s.held));
            }
        }
        let s = Seen {
            logged: now,
            last: now,
            held: 0,
        };
        seen.insert(msg.to_owned(), s);
        (Some(0), forgotten)
    }
}

/// One client's librdkafka reports (see the module documentation).
#[derive(Default)]
pub struct ClientLog {
    throttle: LogThrottle,
    /// The last `error` callback's message and when it came: rdkafka's producer makes the same
    /// call twice in a row for one event.
    last_call: Mutex<Option<(String, Instant)>>,
    /// The code of the last error event, until the poll that delivered it returns it.
    last_event: Mutex<Option<RDKafkaErrorCode>>,
}

/// A second `error` call with the same message this soon is the same event again.
const ECHO: Duration = Duration::from_millis(20);

impl ClientLog {
    /// The client context's `log`: as rdkafka's default, at the matching level under target
    /// `librdkafka`, except a `FAIL` or `FATAL` at error level or above, whose text the error
    /// event that librdkafka sends with it carries: those are logged at debug.
    pub fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        use RDKafkaLogLevel::*;
        match level {
            Emerg | Alert | Critical | Error if fac == "FAIL" || fac == "FATAL" => {
                tracing::debug!(target: "librdkafka", "librdkafka: {fac} {msg}")
            }
            Emerg | Alert | Critical | Error => {
                tracing::error!(target: "librdkafka", "librdkafka: {fac} {msg}")
            }
            Warning => tracing::warn!(target: "librdkafka", "librdkafka: {fac} {msg}"),
            Notice | Info => tracing::info!(target: "librdkafka", "librdkafka: {fac} {msg}"),
            Debug => tracing::debug!(target: "librdkafka", "librdkafka: {fac} {msg}"),
        }
    }

    /// The client context's `error`: logged at error level, repeats held back. The end of a
    /// partition (only with `-X enable.partition.eof=true`) is news, logged at debug.
    pub fn error(&self, error: &KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        if code == Some(RDKafkaErrorCode::PartitionEOF)
            || matches!(error, KafkaError::PartitionEOF(_))
        {
            tracing::debug!("librdkafka: {error}: {reason}");
            return;
        }
        *lock(&self.last_event) = code;
        let msg = format!("{error}: {reason}");
        {
            let mut last = lock(&self.last_call);
            if matches!(&*last, Some((m, at)) if *m == msg && at.elapsed() < ECHO) {
                return;
            }
            *last = Some((msg.clone(), Instant::now()));
        }
        let (now, forgotten) = self.throttle.admit(&msg);
        if let Some((m, held_back)) = forgotten {
            tracing::error!(held_back, "repeats no longer tracked of: {m}");
        }
        match now {
            Some(0) => tracing::error!("librdkafka: {msg}"),
            Some(held_back) => tracing::error!(held_back, "librdkafka: {msg}"),
            None => {}
        }
    }

    /// Whether a consumer's poll error is the error event [`ClientLog::error`] has just logged
    /// (rdkafka returns it from `poll` after the callback). Errors of a fetched record (an
    /// unknown topic, an offset out of range) come only from `poll`: not echoes.
    pub fn is_echo(&self, error: &KafkaError) -> bool {
        let event = match error {
            KafkaError::MessageConsumption(c) | KafkaError::MessageConsumptionFatal(c) => *c,
            _ => return false,
        };
        let mut last = lock(&self.last_event);
        if *last == Some(event) {
            *last = None;
            return true;
        }
        false
    }

    /// Logs a warning unless the same one was logged within [`LogThrottle::EVERY`].
    pub fn warn(&self, msg: &str) {
        let (now, forgotten) = self.throttle.admit(msg);
        if let Some((m, held_back)) = forgotten {
            tracing::warn!(held_back, "repeats no longer tracked of: {m}");
        }
        match now {
            Some(0) => tracing::warn!("{msg}"),
            Some(held_back) => tracing::warn!(held_back, "{msg}"),
            None => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(t: &LogThrottle, msg: &str) {
        let mut seen = t.0.lock().unwrap();
        let s = seen.get_mut(msg).unwrap();
        s.logged = s.logged.checked_sub(LogThrottle::EVERY).unwrap_or(s.logged);
    }

    #[test]
    fn repeated_errors_are_held_back_and_counted() {
        let t = LogThrottle::default();
        assert_eq!(t.admit("down").0, Some(0));
        assert_eq!(t.admit("down").0, None);
        assert_eq!(t.admit("down").0, None);
        // A different message is logged at once, and does not reset the first one's count:
        // an outage alternates two messages.
        assert_eq!(t.admit("other").0, Some(0));
        assert_eq!(t.admit("down").0, None);
        assert_eq!(t.admit("other").0, None);
        // Once the interval has passed, the next repeat is logged with the count held back.
        age(&t, "other");
        assert_eq!(t.admit("other").0, Some(1));
        assert_eq!(t.admit("other").0, None);
        age(&t, "down");
        assert_eq!(t.admit("down").0, Some(3));
    }

    #[test]
    fn the_throttle_forgets_the_message_seen_longest_ago() {
        let t = LogThrottle::default();
        // A message that keeps coming, held back, logged first of all.
        assert_eq!(t.admit("hot").0, Some(0));
        for i in 0..LogThrottle::KEEP + 10 {
            assert_eq!(t.admit(&format!("m{i}")).0, Some(0));
            assert_eq!(t.admit("hot").0, None);
        }
        assert!(t.0.lock().unwrap().len() <= LogThrottle::KEEP);
        // Still tracked (it came last of all), with every repeat counted.
        assert_eq!(
            t.0.lock().unwrap()["hot"].held,
            LogThrottle::KEEP as u64 + 10
        );
        // The newest of the others are still held back; the first ones were forgotten.
        assert_eq!(t.admit(&format!("m{}", LogThrottle::KEEP + 9)).0, None);
        assert_eq!(t.admit("m0").0, Some(0));
        // A message forgotten while it held repeats back hands its count over.
        let t = LogThrottle::default();
        t.admit("held");
        t.admit("held");
        let mut forgotten = None;
        for i in 0..LogThrottle::KEEP {
            let (_, f) = t.admit(&format!("n{i}"));
            forgotten = forgotten.or(f);
        }
        assert_eq!(forgotten, Some(("held".to_string(), 1)));
    }

    #[test]
    fn a_poll_error_is_an_echo_only_of_the_error_event_just_reported() {
        let log = ClientLog::default();
        let down = RDKafkaErrorCode::AllBrokersDown;
        log.error(&KafkaError::Global(down), "1/1 brokers are down");
        assert!(log.is_echo(&KafkaError::MessageConsumption(down)));
        // Once: the same error from a later poll, with no event before it, is not an echo.
        assert!(!log.is_echo(&KafkaError::MessageConsumption(down)));
        // An error of a fetched record (no event) is not one.
        let unknown = RDKafkaErrorCode::UnknownTopicOrPartition;
        assert!(!log.is_echo(&KafkaError::MessageConsumption(unknown)));
        log.error(&KafkaError::Global(down), "1/1 brokers are down");
        assert!(!log.is_echo(&KafkaError::MessageConsumption(unknown)));
        // A fatal event is echoed too.
        let fenced = RDKafkaErrorCode::FencedInstanceId;
        log.error(&KafkaError::Global(fenced), "fenced");
        assert!(log.is_echo(&KafkaError::MessageConsumptionFatal(fenced)));
    }

    #[test]
    fn the_producers_double_error_call_is_counted_once() {
        let log = ClientLog::default();
        let e = KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure);
        log.error(&e, "b/bootstrap: Connect failed");
        log.error(&e, "b/bootstrap: Connect failed");
        let seen = log.throttle.0.lock().unwrap();
        let held = seen.values().map(|s| s.held).sum::<u64>();
        assert_eq!(
            held, 0,
            "the second call is the same event: not a repeat held back"
        );
    }
}
