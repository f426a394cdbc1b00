//! The GeoIP databases: opening local MaxMind-format files (memory-mapped, checked to be a city
//! or an ASN database), detecting a city database's record layout from its metadata (and a
//! record's from its keys when it does not fit), and decoding the records an address leads to
//! into a [`GeoInfo`]. The memo in front of this is [`crate::enrich::Enricher`]'s.
//!
//! City databases come in two layouts, told apart by `database_type`: the GeoIP2/GeoLite2 City
//! schema (`country.iso_code`, `country.names.en`, `subdivisions[0].names.en`, `city.names.en`,
//! `location.latitude/longitude`), and the flat layout of DB-IP Lite / ip-location-db
//! (`country_code`, `state1`, `city`, `latitude`, `longitude`; no country name). A lookup or
//! decoding problem is logged and gives nulls, never an error.

use crate::search_tree::{self, Mapped, SearchTree, Walk};
pub(crate) use crate::search_tree::{RecordKey, Walked};
use maxminddb::Reader;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors opening a GeoIP database (lookups themselves never fail).
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    #[error("cannot open GeoIP database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    #[error("cannot open GeoIP database {path}: it is a directory, not a database file")]
    Directory { path: PathBuf },
    #[error("{path}: database type {kind:?} has no {wanted} data")]
    WrongKind {
        path: PathBuf,
        kind: String,
        wanted: &'static str,
    },
}

/// What the databases say about one address. Strings are shared: every address of one
/// database record gets the same ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoInfo {
    pub country_code: Option<Arc<str>>,
    pub country: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    pub city: Option<Arc<str>>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub asn: Option<u32>,
    pub as_org: Option<Arc<str>>,
}

/// The record layout of a city database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CityLayout {
    /// GeoIP2 / GeoLite2 City (or Country) schema.
    GeoIp2,
    /// Flat DB-IP Lite / ip-location-db layout.
    Flat,
}

impl CityLayout {
    /// Detects the layout from a database's `database_type` metadata.
    pub fn detect(database_type: &str) -> CityLayout {
        let t = database_type.to_ascii_lowercase();
        let geoip2 = ["geoip2", "geolite2", "geoip-", "dbip-"];
        if geoip2.iter().any(|p| t.starts_with(p)) {
            CityLayout::GeoIp2
        } else {
            CityLayout::Flat
        }
    }

    /// The other layout.
    fn other(self) -> CityLayout {
        match self {
            CityLayout::GeoIp2 => CityLayout::Flat,
            CityLayout::Flat => CityLayout::GeoIp2,
        }
    }

    /// The layout a record's top-level keys belong to, if any (`city` is in both).
    fn of_keys<'k>(keys: impl IntoIterator<Item = &'k str>) -> Option<CityLayout> {
        const GEOIP2: [&str; 8] = [
            "continent",
            "country",
            "registered_country",
            "represented_country",
            "subdivisions",
            "location",
            "postal",
            "traits",
        ];
        const FLAT: [&str; 7] = [
            "country_code",
            "state1",
            "state2",
            "latitude",
            "longitude",
            "postcode",
            "timezone",
        ];
        let (mut geoip2, mut flat) = (0, 0);
        for k in keys {
            geoip2 += usize::from(GEOIP2.contains(&k));
            flat += usize::from(FLAT.contains(&k));
        }
        match geoip2.cmp(&flat) {
            std::cmp::Ordering::Greater => Some(CityLayout::GeoIp2),
            std::cmp::Ordering::Less => Some(CityLayout::Flat),
            std::cmp::Ordering::Equal => None,
        }
    }
}

struct CityDb {
    reader: Reader<Mapped>,
    tree: SearchTree,
    layout: CityLayout,
    /// Set once a problem with this database was logged as a warning (later ones go to debug).
    warned: Warned,
    /// Set once an IPv6 client met this database holding IPv4 only (logged once).
    ipv4_only_noted: Warned,
}

struct AsnDb {
    reader: Reader<Mapped>,
    tree: SearchTree,
    /// As [`CityDb`]'s.
    warned: Warned,
    ipv4_only_noted: Warned,
}

/// Database types that hold no location: refused as `--geoip-city` unless the name also says
/// city, country or location (DB-IP's `dbip-location-isp` has both).
const NOT_LOCATION: [&str; 7] = [
    "asn",
    "isp",
    "anonymous",
    "connection-type",
    "domain",
    "user-count",
    "static-ip",
];

/// Whether a database's first problem was logged: one warning per database and run, the rest at
/// debug level, so a damaged or misread database is visible without flooding the log.
#[derive(Default)]
struct Warned(std::sync::atomic::AtomicBool);

impl Warned {
    /// True the first time only.
    fn first(&self) -> bool {
        !self.0.swap(true, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Logs a lookup or decoding problem: a warning the first time for a database, then debug.
macro_rules! problem {
    ($warned:expr, $($arg:tt)+) => {
        if $warned.first() {
            tracing::warn!($($arg)+);
        } else {
            tracing::debug!($($arg)+);
        }
    };
}

/// The opened databases, shared by every fork of an [`Enricher`](crate::enrich::Enricher).
pub(crate) struct Databases {
    city: Option<CityDb>,
    asn: Option<AsnDb>,
}

impl Databases {
    /// Opens the given databases (either may be absent).
    pub(crate) fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Databases, GeoIpError> {
        let open = |p: &Path| {
            // Mapping a directory fails with a puzzling "No such device".
            if p.is_dir() {
                return Err(GeoIpError::Directory { path: p.into() });
            }
            let error = |source| GeoIpError::Open {
                path: p.to_path_buf(),
                source,
            };
            let file = std::fs::File::open(p).map_err(|e| error(e.into()))?;
            // SAFETY: the file is mapped read-only and must not be modified in place while it is
            // mapped. Database updaters (`geoipupdate`, DB-IP's downloads) replace the file by
            // renaming a new one over it, which leaves this mapping on the old inode.
            let map = unsafe { maxminddb::Mmap::map(&file) }
                .map_err(|e| error(maxminddb::MaxMindDbError::Mmap(e)))?;
            let mapped = Mapped(Arc::new(map));
            let reader = Reader::from_source(mapped.clone()).map_err(error)?;
            let tree = SearchTree::new(mapped, reader.metadata());
            Ok((reader, tree))
        };
        let city = match city {
            Some(p) => {
                let (reader, tree) = open(p)?;
                let kind = reader.metadata().database_type.clone();
                let lower = kind.to_ascii_lowercase();
                let located = ["city", "country", "location"]
                    .iter()
                    .any(|w| lower.contains(w));
                if !located && NOT_LOCATION.iter().any(|w| lower.contains(w)) {
                    return Err(GeoIpError::WrongKind {
                        path: p.into(),
                        kind,
                        wanted: "city",
                    });
                }
                let layout = CityLayout::detect(&kind);
                tracing::info!(path = %p.display(), database_type = %kind, ?layout, "GeoIP city database");
                Some(CityDb {
                    reader,
                    tree,
                    layout,
                    warned: Warned::default(),
                    ipv4_only_noted: Warned::default(),
                })
            }
            None => None,
        };
        let asn = match asn {
            Some(p) => {
                let (reader, tree) = open(p)?;
                let kind = reader.metadata().database_type.clone();
                if !kind.to_ascii_lowercase().contains("asn") && !kind.contains("ISP") {
                    return Err(GeoIpError::WrongKind {
                        path: p.into(),
                        kind,
                        wanted: "ASN",
                    });
                }
                Some(AsnDb {
                    reader,
                    tree,
                    warned: Warned::default(),
                    ipv4_only_noted: Warned::default(),
                })
            }
            None => None,
        };
        Ok(Databases { city, asn })
    }

    /// Whether there is no database at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.city.is_none() && self.asn.is_none()
    }
}

#[derive(Deserialize)]
struct En<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}
#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<En<'a>>,
}
#[derive(Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<Coord>,
    #[serde(default)]
    longitude: Option<Coord>,
}
/// Only the GeoIP2 City fields the lake keeps (serde skips the rest).
#[derive(Deserialize)]
struct GeoIp2City<'a> {
    #[serde(borrow, default)]
    country: Option<Named<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Named<'a>>>,
    #[serde(borrow, default)]
    city: Option<Named<'a>>,
    #[serde(default)]
    location: Option<Location>,
}
/// A coordinate: a `double` in GeoIP2 databases, a `float` in DB-IP Lite. The MaxMind decoder
/// is strict about the stored type, so read whichever it is.
#[derive(Clone, Copy)]
struct Coord(f64);

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FloatOrDouble;
        impl serde::de::Visitor<'_> for FloatOrDouble {
            type Value = Coord;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a float or a double")
            }
            fn visit_f32<E>(self, v: f32) -> Result<Coord, E> {
                Ok(Coord(shortest_decimal(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coord, E> {
                Ok(Coord(v))
            }
        }
        d.deserialize_any(FloatOrDouble)
    }
}

/// The double nearest a float's shortest decimal form: 55.7569, where widening gives
/// 55.756900787353516, so the figure the database holds. The fewest decimal places that read back
/// as the same float: `v × 10^d` is exact in a double for d ≤ 8 (24 + 19 bits), and rounding it
/// and dividing by `10^d` gives the double nearest that decimal, as parsing its text would. Tiny
/// values that need more places, and values from 2^24 up (whose shortest form may end in zeros
/// before the point), take the formatter's path; a test checks both agree.
fn shortest_decimal(v: f32) -> f64 {
    let wide = f64::from(v);
    if wide.abs() < 16_777_216.0 {
        let mut scale = 1.0;
        for _ in 0..=8 {
            let x = (wide * scale).round() / scale;
            if x as f32 == v {
                return x;
            }
            scale *= 10.0;
        }
    }
    v.to_string().parse().unwrap_or(wide)
}

/// An AS number: a `uint32` in MaxMind's databases; other writers store the smallest unsigned
/// type that holds it, which MaxMind's decoder refuses where a `u32` is asked for, so read any
/// integer type (one that does not fit 32 bits is a decoding error).
struct AsNumber(u32);

impl<'de> Deserialize<'de> for AsNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AnyUnsigned;
        impl serde::de::Visitor<'_> for AnyUnsigned {
            type Value = AsNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an AS number (an unsigned integer under 2^32)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<AsNumber, E> {
                u32::try_from(v)
                    .map(AsNumber)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<AsNumber, E> {
                u32::try_from(v).map(AsNumber).map_err(|_| {
                    E::invalid_value(serde::de::Unexpected::Other("a 128-bit integer"), &self)
                })
            }
        }
        d.deserialize_any(AnyUnsigned)
    }
}

/// The flat DB-IP / ip-location-db city layout.
#[derive(Deserialize)]
struct FlatCity<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Coord>,
    #[serde(default)]
    longitude: Option<Coord>,
}
#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<AsNumber>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

fn boxed(s: Option<&str>) -> Option<Arc<str>> {
    s.filter(|s| !s.is_empty()).map(Arc::from)
}

/// The records an address leads to in the city and ASN databases.
pub(crate) struct Found<'a> {
    city: Option<(&'a CityDb, maxminddb::LookupResult<'a, Mapped>)>,
    asn: Option<(&'a AsnDb, maxminddb::LookupResult<'a, Mapped>)>,
}

/// Walks both databases' search trees for every address of `addrs`, many at a time (see
/// [`crate::search_tree`]), appending what each leads to to `out` in order. `walks` is scratch.
pub(crate) fn walk_v4(db: &Databases, addrs: &[u32], walks: &mut Vec<Walk>, out: &mut Vec<Walked>) {
    let city = db.city.as_ref().map(|c| &c.tree);
    search_tree::walk_both(city, db.asn.as_ref().map(|a| &a.tree), addrs, walks, out);
}

/// Which records an address leads to: their data-section offsets (city, ASN), which identify
/// them, and the records themselves for [`decode`]; `None` when neither database has one. A
/// lookup problem is logged and counts as no record.
pub(crate) fn locate(db: &Databases, addr: IpAddr) -> Option<(RecordKey, Found<'_>)> {
    fn found<'a>(
        r: Result<maxminddb::LookupResult<'a, Mapped>, maxminddb::MaxMindDbError>,
        what: &str,
        addr: IpAddr,
        warned: &Warned,
    ) -> Option<maxminddb::LookupResult<'a, Mapped>> {
        match r {
            Ok(r) if r.has_data() => Some(r),
            Ok(_) => None,
            Err(e) => {
                problem!(warned, %addr, error = %e, "GeoIP {what} lookup failed (is the database damaged?); its columns are null for such addresses");
                None
            }
        }
    }
    let city = db.city.as_ref().and_then(|c| {
        if !covers(&c.reader, addr, &c.ipv4_only_noted, "city") {
            return None;
        }
        let r = found(c.reader.lookup(addr), "city", addr, &c.warned)?;
        Some((c, r))
    });
    let asn = db.asn.as_ref().and_then(|a| {
        if !covers(&a.reader, addr, &a.ipv4_only_noted, "ASN") {
            return None;
        }
        Some((a, found(a.reader.lookup(addr), "ASN", addr, &a.warned)?))
    });
    let key = (
        city.as_ref().and_then(|(_, r)| r.offset()),
        asn.as_ref().and_then(|(_, r)| r.offset()),
    );
    (key != (None, None)).then_some((key, Found { city, asn }))
}

/// Whether `reader` can hold `addr`: an IPv6 address in an IPv4-only database (DB-IP's IPv4
/// edition) has no record, which is logged once, not as a damaged database.
fn covers(reader: &Reader<Mapped>, addr: IpAddr, noted: &Warned, what: &str) -> bool {
    if addr.is_ipv6() && reader.metadata().ip_version == 4 {
        if noted.first() {
            tracing::warn!(%addr, "the GeoIP {what} database holds IPv4 addresses only: IPv6 clients get null {what} columns");
        }
        return false;
    }
    true
}

/// Decodes the records an address led to. A city record that does not decode in the layout
/// detected from the database's type is tried in the other one (a database may be named unlike
/// its layout); one that decodes in neither is logged (a warning the first time) and gives nulls.
pub(crate) fn decode(Found { city, asn }: Found<'_>, addr: IpAddr) -> GeoInfo {
    let mut g = GeoInfo::default();
    if let Some((db, r)) = city {
        decode_city_record(db, &r, &mut g, addr);
    }
    if let Some((AsnDb { warned, .. }, r)) = asn {
        match r.decode::<AsnRecord>() {
            Ok(Some(a)) => {
                g.asn = a.autonomous_system_number.map(|n| n.0);
                g.as_org = boxed(a.autonomous_system_organization);
            }
            Ok(None) => {}
            Err(e) => {
                problem!(warned, %addr, error = %e, "GeoIP ASN record not decoded (is the database damaged?); its columns are null for such addresses")
            }
        }
    }
    g
}

/// Decodes a city record into `g` in the database's layout, and when that fails or finds none
/// of the fields the lake keeps, in the other (a database may be named unlike its layout). A
/// record whose keys are a layout's but that has none of the kept fields (a network known only
/// by its registered country) gives nulls quietly; one that decodes in neither layout, or holds
/// the keys of neither, is logged and gives nulls.
fn decode_city_record(
    db: &CityDb,
    r: &maxminddb::LookupResult<'_, Mapped>,
    g: &mut GeoInfo,
    addr: IpAddr,
) {
    let first = decode_city(db.layout, r, g);
    if first.is_ok() && *g != GeoInfo::default() {
        return;
    }
    let mut found = GeoInfo::default();
    let second = decode_city(db.layout.other(), r, &mut found);
    if second.is_ok() && found != GeoInfo::default() {
        *g = found;
        return;
    }
    // Only now, for the warning: which layout the record's keys are.
    let keys = match r.decode::<std::collections::BTreeMap<&str, serde::de::IgnoredAny>>() {
        Ok(keys) => keys.unwrap_or_default(),
        Err(e) => {
            problem!(db.warned, %addr, error = %e, layout = ?db.layout, "GeoIP city record not decoded (is the database damaged?); its columns are null for such addresses");
            return;
        }
    };
    let shape = CityLayout::of_keys(keys.keys().copied());
    // Nothing found either way: quiet when the record is of a layout that decoded (it merely
    // holds none of the kept fields), logged otherwise.
    let decoded_as = |l: CityLayout| match l == db.layout {
        true => first.is_ok(),
        false => second.is_ok(),
    };
    let quiet = shape.is_some_and(decoded_as);
    match (quiet, first.err().or(second.err())) {
        (true, _) => {}
        (_, Some(e)) => {
            problem!(db.warned, %addr, error = %e, layout = ?db.layout, "GeoIP city record not decoded in either layout (is the database damaged, or not a city database?); its columns are null for such addresses");
        }
        (_, None) => {
            problem!(db.warned, %addr, keys = ?keys.keys().collect::<Vec<_>>(), "GeoIP city record holds none of the fields of a city database (is it one?); its columns are null for such addresses");
        }
    }
}

/// Decodes a city record in `layout` into `g` (untouched on error).
fn decode_city(
    layout: CityLayout,
    r: &maxminddb::LookupResult<'_, Mapped>,
    g: &mut GeoInfo,
) -> Result<(), maxminddb::MaxMindDbError> {
    match layout {
        CityLayout::GeoIp2 => {
            if let Some(c) = r.decode::<GeoIp2City>()? {
                let en = |n: &Option<Named>| boxed(n.as_ref().and_then(|n| n.names.as_ref()?.en));
                g.country_code = boxed(c.country.as_ref().and_then(|c| c.iso_code));
                g.country = en(&c.country);
                g.region = c
                    .subdivisions
                    .as_ref()
                    .and_then(|s| boxed(s.first()?.names.as_ref()?.en));
                g.city = en(&c.city);
                g.latitude = c.location.as_ref().and_then(|l| Some(l.latitude?.0));
                g.longitude = c.location.as_ref().and_then(|l| Some(l.longitude?.0));
            }
        }
        CityLayout::Flat => {
            if let Some(c) = r.decode::<FlatCity>()? {
                g.country_code = boxed(c.country_code);
                g.region = boxed(c.state1);
                g.city = boxed(c.city);
                g.latitude = c.latitude.map(|c| c.0);
                g.longitude = c.longitude.map(|c| c.0);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_detected_from_database_type() {
        assert_eq!(CityLayout::detect("GeoIP2-City"), CityLayout::GeoIp2);
        assert_eq!(CityLayout::detect("GeoLite2-City"), CityLayout::GeoIp2);
        assert_eq!(CityLayout::detect("DBIP-City-Lite"), CityLayout::GeoIp2);
        assert_eq!(CityLayout::detect("city ipv4"), CityLayout::Flat);
    }

    #[test]
    fn layout_is_read_from_a_records_keys() {
        let of = |k: &[&str]| CityLayout::of_keys(k.iter().copied());
        assert_eq!(of(&["country", "location"]), Some(CityLayout::GeoIp2));
        assert_eq!(of(&["registered_country"]), Some(CityLayout::GeoIp2));
        assert_eq!(of(&["country_code", "city"]), Some(CityLayout::Flat));
        assert_eq!(of(&["autonomous_system_number"]), None);
        assert_eq!(of(&["city"]), None);
        assert_eq!(of(&[]), None);
    }

    #[test]
    fn coordinates_read_as_their_shortest_decimal() {
        let text = |v: f32| -> f64 { v.to_string().parse().unwrap() };
        assert_eq!(shortest_decimal(55.7569), 55.7569);
        // Every float in the coordinates' range on a fine grid, random bit patterns (tiny and
        // huge values included) and the edges: the same double as parsing the shortest text.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let grid = (-1_800_000..=1_800_000)
            .step_by(7)
            .map(|i| i as f32 / 10_000.0);
        let bits = (0..200_000).map(|_| f32::from_bits(random() as u32));
        let edges = [
            0.0,
            -0.0,
            1e-7,
            1.5e-38,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            179.99998,
        ];
        for v in grid.chain(bits).chain(edges).filter(|v| v.is_finite()) {
            assert_eq!(shortest_decimal(v).to_bits(), text(v).to_bits(), "{v:e}");
        }
        assert!(shortest_decimal(f32::NAN).is_nan());
        assert_eq!(shortest_decimal(f32::INFINITY), f64::INFINITY);
    }
}
