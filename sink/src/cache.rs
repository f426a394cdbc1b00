//! The bounded memos of the enrichment lookups: GeoIP results by address ([`AddrMemo`]) and the
//! bot flag by user agent ([`Memo`]).
//!
//! [`Memo`] is two generations of a hash map with a fast non-cryptographic hash (`rustc-hash`):
//! lookups go to the young generation, then to the old one (a hit there is promoted); when the
//! young generation reaches half the capacity it becomes the old one, and the previous old one is
//! emptied and reused as the young one (its table already sized, so no generation grows one by
//! rehashing). Entries used within the last half-capacity insertions always survive, as with an
//! LRU, at the cost of one or two hash probes and no per-hit bookkeeping (an LRU's list update
//! dominated `ingest`'s profile). At most `capacity` entries are held.
//!
//! [`AddrMemo`] is asked once per row, so it is built for the hit: an IPv4 address (nearly every
//! client) is one multiply and one load in a direct-mapped table of 8-byte slots, which stays in
//! the core's cache, where a hash map's control bytes and buckets cost two cache misses per
//! lookup. A slot names the address's value by index; values are kept once per database record,
//! so the many addresses of one record share it.

use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};

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

/// Slots of [`AddrMemo`]'s IPv4 table at most (2 MiB): the table is allocated whole, once per
/// `ingest` worker.
const MAX_V4_SLOTS: usize = 1 << 18;

/// A bounded memo of values by IP address, each value made once per record key `R` (a GeoIP
/// database record's identity) however many addresses lead to it.
///
/// IPv4 addresses go to a direct-mapped table of `capacity` slots (rounded up to a power of two,
/// at most 2^18): slot `hash(address)` holds the last address that hashed there and its value's
/// index, so a collision replaces the older address. IPv6 addresses go to a hash map of at most
/// `capacity` entries (emptied when full). Besides the default value (index 0, for addresses
/// the lookup finds nothing for), at most `capacity` values are held: a new one past that
/// empties the whole memo first.
pub struct AddrMemo<R, V> {
    /// `(address << 32) | (index + 1)`; 0 is an empty slot.
    v4: Box<[u64]>,
    /// 32 minus log2 of the table's length: the hash's top bits pick the slot.
    shift: u32,
    v6: FxHashMap<Ipv6Addr, u32>,
    /// Value index by record key.
    ids: FxHashMap<R, u32>,
    values: Vec<V>,
    capacity: usize,
}

impl<R: Hash + Eq, V: Default> AddrMemo<R, V> {
    /// A memo holding at most `capacity` (at least 2, at most 2^31) values.
    pub fn new(capacity: usize) -> AddrMemo<R, V> {
        let capacity = capacity.clamp(2, 1 << 31);
        let slots = capacity.next_power_of_two().min(MAX_V4_SLOTS);
        AddrMemo {
            v4: vec![0; slots].into_boxed_slice(),
            shift: 32 - slots.trailing_zeros(),
            v6: FxHashMap::default(),
            ids: FxHashMap::default(),
            values: vec![V::default()],
            capacity,
        }
    }

    /// The index of `addr`'s value, when held.
    #[inline]
    fn find(&self, addr: IpAddr) -> Option<u32> {
        match addr {
            IpAddr::V4(v4) => {
                let key = u32::from(v4);
                let s = self.v4[self.slot(key)];
                (s != 0 && (s >> 32) as u32 == key).then(|| s as u32 - 1)
            }
            IpAddr::V6(v6) => self.v6.get(&v6).copied(),
        }
    }

    /// The slot of an IPv4 address: the top bits of a multiplicative hash.
    #[inline]
    fn slot(&self, key: u32) -> usize {
        (key.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// The value held for `addr`.
    pub fn get(&self, addr: IpAddr) -> Option<&V> {
        self.find(addr).map(|id| &self.values[id as usize])
    }

    /// The value for `addr`, and whether it was looked up: on a miss, `locate` finds the
    /// address's record (see [`AddrMemo::insert_with`]).
    pub fn get_or_insert_with<L>(
        &mut self,
        addr: IpAddr,
        locate: impl FnOnce() -> Option<(R, L)>,
        make: impl FnOnce(L) -> V,
    ) -> (&V, bool) {
        match self.find(addr) {
            Some(id) => (&self.values[id as usize], false),
            None => (self.insert_with(addr, locate(), make), true),
        }
    }

    /// Holds `addr` with the value of its `record`: `None` when there is none (the default
    /// value), else the record's key and what `make` turns into the value, called only when no
    /// other address led to that record before.
    pub fn insert_with<L>(
        &mut self,
        addr: IpAddr,
        record: Option<(R, L)>,
        make: impl FnOnce(L) -> V,
    ) -> &V {
        let id = match record {
            None => 0,
            Some((key, found)) => match self.ids.get(&key) {
                Some(&id) => id,
                None => {
                    if self.values.len() > self.capacity {
                        self.clear();
                    }
                    let id = self.values.len() as u32;
                    self.values.push(make(found));
                    self.ids.insert(key, id);
                    id
                }
            },
        };
        self.hold(addr, id);
        &self.values[id as usize]
    }

    /// Holds `addr` with the value of record `key` if one is held (see
    /// [`AddrMemo::insert_with`]); whether it was.
    pub fn insert_known(&mut self, addr: IpAddr, key: &R) -> bool {
        match self.ids.get(key) {
            Some(&id) => {
                self.hold(addr, id);
                true
            }
            None => false,
        }
    }

    /// Points `addr` at value `id`.
    fn hold(&mut self, addr: IpAddr, id: u32) {
        match addr {
            IpAddr::V4(v4) => {
                let key = u32::from(v4);
                let slot = self.slot(key);
                self.v4[slot] = (u64::from(key) << 32) | u64::from(id + 1);
            }
            IpAddr::V6(v6) => {
                if self.v6.len() >= self.capacity {
                    self.v6.clear();
                }
                self.v6.insert(v6, id);
            }
        }
    }

    /// Forgets every address and value but the default.
    fn clear(&mut self) {
        self.v4.fill(0);
        self.v6.clear();
        self.ids.clear();
        self.values.truncate(1);
    }

    /// Values held, the default one included.
    pub fn values(&self) -> usize {
        self.values.len()
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

    /// A memo whose values are their record key (`addr / 10` for IPv4 under 1000, the last
    /// segment for IPv6), counting lookups and decodings.
    fn lookup(
        m: &mut AddrMemo<u32, u32>,
        addr: IpAddr,
        located: &mut u32,
        made: &mut u32,
    ) -> (u32, bool) {
        let record = match addr {
            IpAddr::V4(v4) => Some(u32::from(v4) / 10).filter(|&r| r < 100),
            IpAddr::V6(v6) => Some(u32::from(v6.segments()[7])),
        };
        let (v, missed) = m.get_or_insert_with(
            addr,
            || {
                *located += 1;
                record.map(|r| (r, r))
            },
            |r| {
                *made += 1;
                r + 1
            },
        );
        (*v, missed)
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(n))
    }

    #[test]
    fn addresses_are_located_once_and_records_decoded_once() {
        let mut m = AddrMemo::new(1024);
        let (mut located, mut made) = (0, 0);
        for round in 0..3 {
            for n in 1..50 {
                let (v, missed) = lookup(&mut m, v4(n), &mut located, &mut made);
                assert_eq!(v, n / 10 + 1, "address {n}");
                assert_eq!(missed, round == 0, "address {n} in round {round}");
            }
        }
        // 49 addresses, 5 records (0..=4).
        assert_eq!((located, made), (49, 5));
        // An address with no record gets the default value, also memoised.
        assert_eq!(lookup(&mut m, v4(5000), &mut located, &mut made), (0, true));
        assert_eq!(
            lookup(&mut m, v4(5000), &mut located, &mut made),
            (0, false)
        );
        // IPv6 addresses share records with each other the same way.
        let v6 =
            |last: u16| IpAddr::from(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, last));
        assert_eq!(lookup(&mut m, v6(7), &mut located, &mut made), (8, true));
        assert_eq!(lookup(&mut m, v6(7), &mut located, &mut made), (8, false));
        assert_eq!(m.values(), 7);
    }

    #[test]
    fn colliding_addresses_and_a_full_memo_give_right_values() {
        // Two slots: every third address collides with an earlier one.
        let mut m = AddrMemo::new(2);
        let (mut located, mut made) = (0, 0);
        for round in 0..4 {
            for n in [1u32, 2, 3, 11, 25, 99, 1] {
                let (v, _) = lookup(&mut m, v4(n), &mut located, &mut made);
                assert_eq!(v, n / 10 + 1, "address {n} in round {round}");
                assert!(m.values() <= 3, "{} values held", m.values());
            }
        }
        // The slot an address hashes to is its own or another's, never stale after a clear.
        assert!(located > 7 && made > 3, "located {located}, made {made}");
        // Address 0.0.0.0 in an empty slot is not mistaken for a hit.
        assert_eq!(
            lookup(&mut AddrMemo::new(2), v4(0), &mut 0, &mut 0),
            (1, true)
        );
    }
}
