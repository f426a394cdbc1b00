//! A bounded memo for the enrichment lookups (GeoIP by address, bot flag by user agent).
//!
//! Two generations of a hash map with a fast non-cryptographic hash (`rustc-hash`): lookups go to
//! the young generation, then to the old one (a hit there is promoted); when the young generation
//! reaches half the capacity it becomes the old one, and the previous old one is emptied and reused
//! as the young one (its table already sized, so no generation grows one by rehashing). Entries
//! used within the last half-capacity insertions always survive, as with an LRU, at the cost of
//! one or two hash probes and no per-hit bookkeeping (an LRU's list update dominated `ingest`'s
//! profile). At most `capacity` entries are held.

use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// A bounded two-generation memo.
pub struct Memo<K, V> {
    young: FxHashMap<K, V>,
    old: FxHashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq, V> Memo<K, V> {
    /// A memo holding at most `capacity` (at least 2) entries.
    pub fn new(capacity: usize) -> Memo<K, V> {
        Memo {
            young: FxHashMap::default(),
            old: FxHashMap::default(),
            half: (capacity / 2).max(1),
        }
    }

    /// The value for `key`, computed by `make` when it is not held; also whether it was
    /// computed. One hash and one probe of the young generation, hit or miss. When the young
    /// generation is full it is retired first, so a key it held is found in the old one and
    /// promoted; at most `capacity` entries are held.
    pub fn get_or_insert_owned(&mut self, key: K, make: impl FnOnce() -> V) -> (&V, bool) {
        if self.young.len() >= self.half {
            self.retire_young();
        }
        match self.young.entry(key) {
            Entry::Occupied(e) => (e.into_mut(), false),
            Entry::Vacant(e) => {
                let (v, made) = match self.old.remove(e.key()) {
                    Some(v) => (v, false),
                    None => (make(), true),
                };
                (e.insert(v), made)
            }
        }
    }

    /// As [`Memo::get_or_insert_owned`] for a key looked up by a borrowed form (a user agent as
    /// `&str` for a `Box<str>` key) and a `Copy` value, returned by value: a hit costs one hash
    /// and no allocation; `to_key` makes the owned key only when the young generation misses.
    pub fn get_copied_or_insert_with<Q>(
        &mut self,
        key: &Q,
        to_key: impl FnOnce(&Q) -> K,
        make: impl FnOnce() -> V,
    ) -> (V, bool)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Copy,
    {
        if let Some(v) = self.young.get(key) {
            return (*v, false);
        }
        let (v, made) = self.get_or_insert_owned(to_key(key), make);
        (*v, made)
    }

    /// The young generation becomes the old one; the old one's table, emptied, is the new young
    /// one, so the memo does not grow a table from nothing (rehashing as it doubles) every
    /// generation.
    fn retire_young(&mut self) {
        std::mem::swap(&mut self.young, &mut self.old);
        self.young.clear();
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_while_held_and_stays_bounded() {
        let mut m: Memo<u32, u32> = Memo::new(8);
        let mut made = 0;
        for round in 0..3 {
            for k in 0..4u32 {
                let (v, new) = m.get_or_insert_owned(k, || k * 10);
                assert_eq!(*v, k * 10);
                made += usize::from(new);
                assert!(round == 0 || !new, "key {k} recomputed in round {round}");
            }
        }
        assert_eq!(made, 4);
        for k in 100..200u32 {
            m.get_or_insert_owned(k, || k);
            assert!(m.len() <= 8);
        }
        // The most recent half-capacity keys are still held.
        for k in 196..200u32 {
            assert!(!m.get_or_insert_owned(k, || 0).1);
        }
        // A key of a full young generation survives its retirement.
        let mut m: Memo<u32, u32> = Memo::new(4);
        m.get_or_insert_owned(1, || 1);
        m.get_or_insert_owned(2, || 2);
        assert_eq!(m.get_or_insert_owned(1, || 0), (&1, false));
    }

    #[test]
    fn borrowed_lookups_stay_bounded_and_forget_the_oldest() {
        let mut m: Memo<Box<str>, bool> = Memo::new(4);
        assert_eq!(m.get_copied_or_insert_with("a", bx, || true), (true, true));
        assert_eq!(
            m.get_copied_or_insert_with("a", bx, || false),
            (true, false)
        );
        m.get_copied_or_insert_with("b", bx, || false);
        m.get_copied_or_insert_with("c", bx, || false); // "a", "b" now old
        assert_eq!(
            m.get_copied_or_insert_with("a", bx, || false),
            (true, false)
        );
        for k in ["d", "e", "f", "g"] {
            m.get_copied_or_insert_with(k, bx, || false);
            assert!(m.len() <= 4);
        }
        assert_eq!(
            m.get_copied_or_insert_with("a", bx, || false),
            (false, true)
        );
    }

    fn bx(s: &str) -> Box<str> {
        Box::from(s)
    }

    #[test]
    fn a_hit_in_the_old_generation_is_promoted() {
        let mut m: Memo<Box<str>, bool> = Memo::new(4);
        m.get_copied_or_insert_with("a", bx, || true);
        m.get_copied_or_insert_with("b", bx, || false);
        m.get_copied_or_insert_with("c", bx, || false); // "a", "b" now old
        assert_eq!(
            m.get_copied_or_insert_with("a", bx, || false),
            (true, false)
        );
        m.get_copied_or_insert_with("d", bx, || false); // young {"c","a"} -> old; "b" dropped
        assert!(!m.get_copied_or_insert_with("a", bx, || false).1);
        assert!(m.get_copied_or_insert_with("b", bx, || false).1);
    }
}
