//! Enrichment of a parsed record: GeoIP city and ASN lookups (local MaxMind-format databases)
//! and the `is_bot` flag from the user agent.
//!
//! API: [`Enricher::open`] with optional city / ASN database paths, then
//! [`Enricher::enrich`]`(client_ip, user_agent)` → an [`Enrichment`] borrowing the enricher's
//! cache, or [`Enricher::enrich_group`] for many records at once. The enrichment columns are declared once, with `accesslake_transform::schema!`, so the
//! lake schema derives from that declaration ([`Enrichment::FIELDS`]).
//!
//! The databases themselves (opening, layouts, decoding) are [`crate::geoip`]'s. Private,
//! loopback, link-local and unparseable addresses give nulls without a lookup. A bounded memo
//! keyed by address ([`crate::cache::AddrMemo`]) makes repeated lookups (client addresses are
//! heavily skewed) cheap. On a miss the databases' search trees are walked for the records the
//! address leads to ([`crate::search_tree`]: a group's new IPv4 addresses together, so their
//! cache misses overlap), and a record is decoded only when no address held in the memo led to
//! it before.
//!
//! `is_bot` matches the user agent case-insensitively against the substrings in `bots.txt`
//! (crawlers, spiders, well-known bots, HTTP libraries and scanners), one Aho-Corasick pass per
//! distinct agent (memoised too: a log has few distinct agents).
//!
//! The databases are memory-mapped once (pages load as lookups touch them, so opening costs
//! nothing) and shared ([`Enricher::fork`] gives another thread its own caches over the same
//! databases).

use crate::cache::{AddrMemo, Memo};
use crate::geoip::{decode, locate, walk_v4, Databases, RecordKey, Walked};
pub use crate::geoip::{CityLayout, GeoInfo, GeoIpError};
use crate::search_tree::Walk;
use aho_corasick::AhoCorasick;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, LazyLock};

accesslake_transform::schema! {
    /// The columns the sink adds to each record. Unknown values are `None` (null).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct Enrichment<'a> {
        /// ISO 3166-1 alpha-2 country code.
        pub country_code: Option<Cow<'a, str>>,
        /// Country name in English (GeoIP2 layout only).
        pub country: Option<Cow<'a, str>>,
        /// First subdivision (state, province, region), in English.
        pub region: Option<Cow<'a, str>>,
        /// City name, in English.
        pub city: Option<Cow<'a, str>>,
        /// Approximate latitude.
        pub latitude: Option<f64>,
        /// Approximate longitude.
        pub longitude: Option<f64>,
        /// Autonomous system number.
        pub asn: Option<i64>,
        /// Autonomous system organisation.
        pub as_org: Option<Cow<'a, str>>,
        /// Whether the user agent looks like a bot, crawler, HTTP library or scanner.
        pub is_bot: bool,
    }
}

/// Distinct user agents whose bot flag is memoised.
const AGENT_CACHE: usize = 16_384;

/// Agents longer than this are classified afresh each time, not memoised: the memo holds at most
/// [`AGENT_CACHE`] × this many bytes (16 MiB), whatever a stream of huge agents brings.
const AGENT_MEMO_BYTES: usize = 1024;

/// GeoIP + bot enrichment with per-address and per-agent memos.
pub struct Enricher {
    db: Arc<Databases>,
    /// Results by address, decoded once per pair of database records (their data-section
    /// offsets, city and ASN): many addresses share one record, and decoding, not the tree
    /// lookup, is the cost of a miss.
    cache: AddrMemo<RecordKey, GeoInfo>,
    /// Scratch for a group's lookups: the parsed addresses, the IPv4 ones the memo misses,
    /// and what the trees say about those.
    addrs: Vec<Option<IpAddr>>,
    pending: Vec<u32>,
    walks: Vec<Walk>,
    walked: Vec<Walked>,
    cache_size: usize,
    agents: Memo<Box<str>, bool>,
    empty: GeoInfo,
    lookups: u64,
    misses: u64,
}

impl Enricher {
    /// Opens the given databases (either may be absent: its columns are then null).
    pub fn open(
        city: Option<&Path>,
        asn: Option<&Path>,
        cache_size: usize,
    ) -> Result<Enricher, GeoIpError> {
        Ok(Enricher::with_databases(
            Arc::new(Databases::open(city, asn)?),
            cache_size,
        ))
    }

    fn with_databases(db: Arc<Databases>, cache_size: usize) -> Enricher {
        Enricher {
            db,
            cache: AddrMemo::new(cache_size),
            addrs: Vec::new(),
            pending: Vec::new(),
            walks: Vec::new(),
            walked: Vec::new(),
            cache_size,
            agents: Memo::new(AGENT_CACHE),
            empty: GeoInfo::default(),
            lookups: 0,
            misses: 0,
        }
    }

    /// Another enricher over the same (shared, read-only) databases, with empty caches of the
    /// same size: one per worker thread.
    pub fn fork(&self) -> Enricher {
        Enricher::with_databases(self.db.clone(), self.cache_size)
    }

    /// An enricher with no databases (only `is_bot`).
    pub fn without_geoip() -> Enricher {
        Enricher::open(None, None, 1).expect("no files to open")
    }

    /// The enrichment of one record.
    pub fn enrich(&mut self, client_ip: &str, user_agent: Option<&str>) -> Enrichment<'_> {
        let addr = self.address(client_ip);
        self.enrich_addr(addr, user_agent)
    }

    /// The enrichment of each record of a group, `(client_ip, user_agent)`, handed to
    /// `each(index, enrichment)` in order. The group's IPv4 addresses not memoised yet are
    /// looked up together, their tree walks in lockstep (see [`crate::search_tree`]): `ingest`
    /// enriches its lines a group at a time.
    pub fn enrich_group(
        &mut self,
        records: &[(&str, Option<&str>)],
        mut each: impl FnMut(usize, Enrichment<'_>),
    ) {
        let mut addrs = std::mem::take(&mut self.addrs);
        addrs.clear();
        addrs.extend(records.iter().map(|(ip, _)| self.address(ip)));
        self.pending.clear();
        for addr in addrs.iter().flatten() {
            if let IpAddr::V4(v4) = *addr {
                if self.cache.get(*addr).is_none() {
                    self.pending.push(u32::from(v4));
                }
            }
        }
        self.look_ahead();
        for (i, (&(_, agent), &addr)) in records.iter().zip(&addrs).enumerate() {
            each(i, self.enrich_addr(addr, agent));
        }
        self.addrs = addrs;
    }

    /// The address to look up for a logged client: `None` without databases, or when it does
    /// not parse or is not public.
    fn address(&self, client_ip: &str) -> Option<IpAddr> {
        if self.db.is_empty() {
            return None;
        }
        parse_addr(client_ip).filter(|&a| is_public(a))
    }

    fn enrich_addr(&mut self, addr: Option<IpAddr>, user_agent: Option<&str>) -> Enrichment<'_> {
        let is_bot = user_agent.is_some_and(|ua| {
            if ua.len() > AGENT_MEMO_BYTES {
                return is_bot(ua);
            }
            self.agents
                .get_copied_or_insert_with(ua, |s: &str| Box::from(s), || is_bot(ua))
                .0
        });
        let g = match addr {
            Some(addr) => self.geo_of(addr),
            None => &self.empty,
        };
        Enrichment {
            country_code: s(&g.country_code),
            country: s(&g.country),
            region: s(&g.region),
            city: s(&g.city),
            latitude: g.latitude,
            longitude: g.longitude,
            asn: g.asn.map(i64::from),
            as_org: s(&g.as_org),
            is_bot,
        }
    }

    /// What the databases say about `ip` (all `None` when nothing is known).
    pub fn geo(&mut self, ip: &str) -> &GeoInfo {
        match self.address(ip) {
            Some(addr) => self.geo_of(addr),
            None => &self.empty,
        }
    }

    /// What the databases say about a public address, memoised; on a miss maxminddb looks it
    /// up, and decodes its records unless another address led to them before.
    fn geo_of(&mut self, addr: IpAddr) -> &GeoInfo {
        self.lookups += 1;
        let db = &self.db;
        let (g, missed) =
            self.cache
                .get_or_insert_with(addr, || locate(db, addr), |found| decode(found, addr));
        self.misses += u64::from(missed);
        g
    }

    /// A group's lookahead: walks the trees for the IPv4 addresses of `pending` together and
    /// memoises those that lead to no record or to records already decoded. The others (a
    /// new record, a damaged tree) are left to [`Enricher::geo_of`], so decoding and the
    /// warnings it may log happen line by line, in the log's order.
    fn look_ahead(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.walked.clear();
        walk_v4(&self.db, &self.pending, &mut self.walks, &mut self.walked);
        for (&a, &walked) in self.pending.iter().zip(&self.walked) {
            let addr = IpAddr::V4(Ipv4Addr::from(a));
            let held = match walked {
                Walked::Nothing => {
                    self.cache.insert_with(addr, None, |()| GeoInfo::default());
                    true
                }
                Walked::Records(key) => self.cache.insert_known(addr, &key),
                Walked::Damaged => false,
            };
            self.misses += u64::from(held);
        }
    }

    /// (lookups of public addresses, cache misses) so far.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.lookups, self.misses)
    }
}

fn s(v: &Option<Arc<str>>) -> Option<Cow<'_, str>> {
    v.as_deref().map(Cow::Borrowed)
}

/// Parses an address as logged: plain IPv4/IPv6, an IPv4-mapped IPv6, `[v6]`, `[v4]`, or any of
/// them with a port (`192.0.2.1:443`, `[2001:db8::1]:443`: the parser accepts clients written
/// so). An IPv6 address that carries an IPv4 one (`::ffff:a.b.c.d`, the deprecated IPv4-compatible
/// `::a.b.c.d`, NAT64's `64:ff9b::a.b.c.d`) is that IPv4 address.
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Some(v4) = parse_ipv4(s.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    let ip = match s.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match s.strip_prefix('[') {
            Some(bracketed) => {
                let (bare, port) = bracketed.split_once(']')?;
                if !(port.is_empty() || port.strip_prefix(':')?.parse::<u16>().is_ok()) {
                    return None;
                }
                bare.parse().ok()?
            }
            None => s.parse::<SocketAddr>().ok()?.ip(),
        },
    };
    Some(embedded_ipv4(ip))
}

/// The IPv4 address an IPv6 one carries in its last 32 bits, when its prefix says it does.
fn embedded_ipv4(ip: IpAddr) -> IpAddr {
    let v6 = match ip.to_canonical() {
        IpAddr::V6(v6) => v6,
        v4 => return v4,
    };
    let seg = v6.segments();
    let compatible = seg[..6] == [0; 6] && !(v6.is_unspecified() || v6.is_loopback());
    let nat64 = seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible || nat64 {
        let [.., a, b, c, d] = v6.octets();
        return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    }
    IpAddr::V6(v6)
}

/// A plain dotted quad (`d.d.d.d`, each 0–255 in one to three digits, no leading zero), the
/// common case, in one pass; `None` for anything else, which the standard parser then decides.
/// It accepts exactly what the standard parser accepts as IPv4 (a test compares them).
fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v = 0u32;
        while let Some(&d @ b'0'..=b'9') = s.get(i) {
            if i - start == 3 {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || v > 255 || (len > 1 && s[start] == b'0') {
            return None;
        }
        *octet = v as u8;
    }
    (i == s.len()).then(|| Ipv4Addr::from(octets))
}

/// False for the special-use ranges no GeoIP database places (RFC 6890 and its successors):
/// private, shared (CGNAT), loopback, link-local, unspecified, "this network", IETF protocol
/// assignments, documentation, benchmarking, reserved, broadcast and multicast; for IPv6 also
/// unique-local, site-local, discard-only, the dummy prefix, local-use NAT64 and segment-routing
/// (SRv6) SIDs. In the IETF block `2001::/23`, only the globally reachable assignments are looked
/// up: Teredo (which databases alias to IPv4), the PCP, TURN and DNS-SD SRP anycast addresses,
/// AMT, AS112, ORCHIDv2 and drone remote ID.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || a >= 240 // reserved, and the broadcast address
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 0 && c == 2)
                || (a == 198 && (b & 0xfe) == 18)
                || (a == 198 && b == 51 && c == 100)
                || (a == 203 && b == 0 && c == 113))
        }
        IpAddr::V6(v6) => {
            let [seg0, seg1, seg2, seg3, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                || (seg0 & 0xffc0) == 0xfec0
                || (seg0 == 0x2001 && seg1 == 0x0db8)
                || (seg0 == 0x3fff && seg1 < 0x1000) // documentation, 3fff::/20
                || ((seg0, seg1, seg2) == (0x0100, 0, 0) && seg3 <= 1) // discard, dummy: 100::/63
                || (seg0, seg1, seg2) == (0x0064, 0xff9b, 1) // local-use NAT64, 64:ff9b:1::/48
                || seg0 == 0x5f00 // SRv6 SIDs, 5f00::/16
                || (seg0 == 0x2001 && seg1 < 0x0200 && !ietf_reachable(v6)))
        }
    }
}

/// The globally reachable assignments of the IETF block `2001::/23` (IANA's IPv6 special-purpose
/// registry): Teredo `2001::/32`, the PCP, TURN and DNS-SD SRP anycast addresses `2001:1::1` to
/// `2001:1::3`, AMT `2001:3::/32`, AS112 `2001:4:112::/48`, ORCHIDv2 `2001:20::/28` and drone
/// remote ID `2001:30::/28`.
fn ietf_reachable(v6: std::net::Ipv6Addr) -> bool {
    let s = v6.segments();
    s[1] == 0
        || (s[1] == 1 && s[2..7].iter().all(|&x| x == 0) && (1..=3).contains(&s[7]))
        || s[1] == 3
        || (s[1] == 4 && s[2] == 0x0112)
        || (s[1] & 0xfff0) == 0x0020
        || (s[1] & 0xfff0) == 0x0030
}

/// The bot substrings, one per line of `bots.txt` (comments and blanks skipped).
pub fn bot_patterns() -> impl Iterator<Item = &'static str> {
    include_str!("bots.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

static BOTS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(bot_patterns())
        .expect("bots.txt patterns build an automaton")
});

/// Whether a user agent looks like a bot, crawler, HTTP library or scanner.
pub fn is_bot(user_agent: &str) -> bool {
    BOTS.is_match(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_and_browsers() {
        assert!(is_bot(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        ));
        assert!(is_bot("curl/7.68.0"));
        assert!(is_bot("python-requests/2.31"));
        assert!(is_bot("Go-http-client/1.1"));
        assert!(is_bot("Mozilla/5.0 zgrab/0.x"));
        assert!(is_bot("MASSCAN/1.3"));
        assert!(!is_bot(
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:27.0) Gecko/20100101 Firefox/27.0"
        ));
        assert!(!is_bot(""));
        // Sogou's browser, not its crawler ("Sogou web spider", caught by `spider`).
        assert!(!is_bot(
            "Mozilla/5.0 (Linux; Android 8.1.0; vivo Y85A Build/OPM1.171019.011; wv) \
             AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/57.0.2987.132 Mobile \
             Safari/537.36 SogouMSE,SogouMobileBrowser/5.22.8"
        ));
        assert!(is_bot(
            "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)"
        ));
        assert!(is_bot(
            "Sogou web sprider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)"
        ));
        assert!(is_bot("Sogou blog"));
    }

    #[test]
    fn private_addresses_are_not_looked_up() {
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "0.1.2.3",
            "192.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "255.255.255.255",
            "2001:db8::1",
            "[2001:db8::1]:443",
            "fec0::1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "::ffff:192.0.2.1",
            "2001:2::1",
            "3fff::1",
            "3fff:fff::1",
            "100::1",
            "100:0:0:1::1",
            "2001:1::4",
            "2001:5::1",
            "2001:1ff::1",
            "64:ff9b:1::1",
            "5f00::1",
        ] {
            assert!(!is_public(parse_addr(ip).unwrap()), "{ip}");
        }
        // Globally reachable: Teredo, the anycast assignments of 2001::/23, and what is just
        // outside the special ranges.
        for ip in [
            "2001:0:4136:e378::1",
            "2001:1::1",
            "2001:1::3",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:3f::1",
            "2001:200::1",
            "2002:5102:458e::1",
            "3ffe::1",
            "100:0:0:2::1",
            "64:ff9b:2::1",
            "5f01::1",
        ] {
            assert!(is_public(parse_addr(ip).unwrap()), "{ip}");
        }
        for ip in [
            "198.17.255.255",
            "198.20.0.1",
            "192.0.1.1",
            "239.255.255.255",
        ] {
            assert_eq!(
                is_public(parse_addr(ip).unwrap()),
                ip != "239.255.255.255",
                "{ip}"
            );
        }
        let v4 = |s: &str| Some(IpAddr::V4(s.parse().unwrap()));
        assert_eq!(parse_addr("::81.2.69.142"), v4("81.2.69.142"));
        assert_eq!(parse_addr("64:ff9b::5102:458e"), v4("81.2.69.142"));
        assert_eq!(parse_addr("::1"), Some("::1".parse().unwrap()));
        assert_eq!(parse_addr("::"), Some("::".parse().unwrap()));
        assert!(is_public(parse_addr("81.2.69.142").unwrap()));
        assert!(is_public(parse_addr("::ffff:81.2.69.142").unwrap()));
        assert_eq!(parse_addr("not-an-ip"), None);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for logged in [
            "[2001:db8::1]",
            "[2001:db8::1]:443",
            "2001:db8::1",
            "[2001:db8::1]:0",
        ] {
            assert_eq!(parse_addr(logged), Some(v6), "{logged}");
        }
        let v4 = Some(IpAddr::V4(Ipv4Addr::new(81, 2, 69, 142)));
        for logged in [
            "81.2.69.142:8080",
            "[::ffff:81.2.69.142]:1",
            "[81.2.69.142]",
            "[81.2.69.142]:80",
        ] {
            assert_eq!(parse_addr(logged), v4, "{logged}");
        }
        for bad in [
            "[2001:db8::1]:",
            "[2001:db8::1]:x",
            "81.2.69.142:",
            "[2001:db8::1",
            "81.2.69.142:99999",
            "[81.2.69.142]:99999",
            "[81.2.69.142]x",
            "[81.2.69.142",
        ] {
            assert_eq!(parse_addr(bad), None, "{bad}");
        }
    }

    #[test]
    fn dotted_quad_parser_agrees_with_the_standard_one() {
        let std_v4 = |s: &str| s.parse::<Ipv4Addr>().ok();
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "81.2.69.142",
            "1.2.3.4",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "1.2.3.4 ",
            "1.2.3.4x",
            "1000.1.1.1",
            "0.00.0.0",
            "",
            "::1",
            "::ffff:1.2.3.4",
            "1.2.3.-4",
            "+1.2.3.4",
            "99.999.9.9",
        ] {
            assert_eq!(parse_ipv4(s.as_bytes()), std_v4(s), "{s:?}");
        }
        // Random near-quads (3 to 5 groups of 0 to 4 digits, mostly joined by dots, sometimes
        // by another character), against the standard parser.
        let (mut x, mut accepted) = (0x2545_f491_4f6c_dd1du64, 0);
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200_000 {
            let mut s = String::new();
            for g in 0..3 + next(3) {
                if g > 0 {
                    s.push(match next(10) {
                        0 => ":a- x".as_bytes()[next(5) as usize] as char,
                        _ => '.',
                    });
                }
                for _ in 0..next(5) {
                    s.push((b'0' + next(10) as u8) as char);
                }
            }
            if let Some(v4) = parse_ipv4(s.as_bytes()) {
                assert_eq!(Some(v4), std_v4(&s), "{s:?}");
                accepted += 1;
            } else if let Some(v4) = std_v4(&s) {
                panic!("{s:?}: the standard parser gives {v4}, the dotted-quad one nothing");
            }
        }
        assert!(
            accepted > 1_000,
            "only {accepted} random quads: the test checks too little"
        );
    }

    #[test]
    fn long_agents_are_classified_but_not_memoised() {
        let mut e = Enricher::without_geoip();
        let long = format!(
            "Mozilla/5.0 (compatible; Googlebot/2.1) {}",
            "x".repeat(2000)
        );
        assert!(e.enrich("1.2.3.4", Some(&long)).is_bot);
        assert!(
            !e.enrich("1.2.3.4", Some(&long.replace("Googlebot", "Firefox")))
                .is_bot
        );
        assert!(e.agents.is_empty());
        assert!(e.enrich("1.2.3.4", Some("curl/8.0")).is_bot);
        assert_eq!(e.agents.len(), 1);
    }
}
