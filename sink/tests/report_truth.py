"""Independent answers for the report tests, in plain Python over pyarrow (no DuckDB):
every section's numbers computed row by row from the lake's Parquet files, the statuses counted
straight from the raw log lines, and each address's ASN looked up in GeoLite2-ASN-Test.json.

Usage: report_truth.py LAKE FROM_US|- TO_US|- ASN_JSON LOG...   (prints one JSON object)"""
import collections, datetime, ipaddress, json, re, sys

import pyarrow.dataset as ds

lake, lo, hi, asn_json, logs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
lo = None if lo == "-" else int(lo)
hi = None if hi == "-" else int(hi)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
HOUR = 3_600_000_000

cols = ["time", "client_ip", "status", "bytes", "path", "referrer", "country_code", "country",
        "region", "city", "asn", "as_org", "is_bot"]
rows = ds.dataset(lake, format="parquet").to_table(columns=cols).to_pylist()


def us(t):
    d = t - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


for r in rows:
    r["us"] = us(r["time"])
rows = [r for r in rows if (lo is None or r["us"] >= lo) and (hi is None or r["us"] < hi)]

out = {"requests": len(rows), "bytes": sum(r["bytes"] or 0 for r in rows),
       "clients": len({r["client_ip"] for r in rows}),
       "first": min((r["us"] for r in rows), default=None), "last": max((r["us"] for r in rows), default=None)}

c = collections.Counter()
b = collections.Counter()
for r in rows:
    c[(r["country_code"], r["country"])] += 1
    b[(r["country_code"], r["country"])] += r["bytes"] or 0
out["countries"] = [[k[0], k[1], n, b[k]] for k, n in c.items()]

c = collections.Counter((r["country_code"], r["region"], r["city"]) for r in rows)
out["cities"] = [[k[0], k[1], k[2], n] for k, n in c.items()]

out["status"] = [[k, n] for k, n in collections.Counter(r["status"] for r in rows).items()]


def cls(s):
    return s // 100 - 1 if s is not None and 100 <= s <= 599 else 5


hourly = {}
for r in rows:
    h = hourly.setdefault(r["us"] // HOUR * HOUR, [0, 0, [0] * 6])
    h[0] += 1
    h[1] += r["bytes"] or 0
    h[2][cls(r["status"])] += 1
out["hourly"] = sorted([k, v[0], v[1], v[2]] for k, v in hourly.items())

nets = []
for entry in json.load(open(asn_json)):
    for net, v in entry.items():
        nets.append((ipaddress.ip_network(net), v.get("autonomous_system_number"), v.get("autonomous_system_organization")))


def asn_of(ip):
    a = ipaddress.ip_address(ip)
    best = None
    for net, num, org in nets:
        if a.version == net.version and a in net and (best is None or net.prefixlen > best[0].prefixlen):
            best = (net, num, org)
    return [best[1], best[2]] if best else [None, None]


non200 = {}
for r in rows:
    if r["status"] != 200:
        e = non200.setdefault(r["client_ip"], {"n": 0, "asn": set(), "as_org": set(), "cc": set(),
                                                "country": set(), "statuses": set()})
        e["n"] += 1
        e["asn"].add(r["asn"])
        e["as_org"].add(r["as_org"])
        e["cc"].add(r["country_code"])
        e["country"].add(r["country"])
        e["statuses"].add(r["status"])
out["non200"] = {ip: {"n": e["n"], "asn": list(e["asn"]), "as_org": list(e["as_org"]), "cc": list(e["cc"]),
                      "country": list(e["country"]),
                      "statuses": sorted(e["statuses"], key=lambda s: (s is None, s or 0)),
                      "asn_db": asn_of(ip)}
                 for ip, e in non200.items()}

for key in ("path", "referrer"):
    c = collections.Counter()
    b = collections.Counter()
    for r in rows:
        c[r[key]] += 1
        b[r[key]] += r["bytes"] or 0
    out[key] = [[k, n, b[k]] for k, n in c.items()]

c = collections.Counter()
b = collections.Counter()
for r in rows:
    c[r["is_bot"]] += 1
    b[r["is_bot"]] += r["bytes"] or 0
out["traffic"] = [[k, n, b[k]] for k, n in c.items()]

hod = [[h, 0, 0] for h in range(24)]
for r in rows:
    h = r["time"].astimezone(datetime.timezone.utc).hour
    hod[h][1] += 1
    hod[h][2] += r["bytes"] or 0
out["hour_of_day"] = hod

# From the raw log lines: line count and status counts (the last `" STATUS BYTES` on a line).
status_re = re.compile(rb'" (\d{3}|-) (\d+|-)')
raw = collections.Counter()
lines = 0
for path in logs:
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            m = status_re.findall(line)
            raw[m[-1][0].decode() if m else "?"] += 1
out["raw_lines"] = lines
out["raw_status"] = dict(raw)
print(json.dumps(out))
