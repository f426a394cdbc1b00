//! `accesslake report --html FILE` in a real headless Chromium: the page loads with no console
//! error and no blocked request, every section's SVG chart is laid out with visible marks, the
//! hostile strings of the generated log are escaped, and a screenshot is kept in
//! `$CARGO_TARGET_TMPDIR/report_html/report.png`. Chromium is required: without it the test
//! fails and says how to install it.

mod common;
mod query_support;

use query_support::{accesslake, build_lake, ingest_with};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECTIONS: [&str; 10] = [
    "countries",
    "status",
    "status-hourly",
    "non-200",
    "paths",
    "referrers",
    "bots",
    "bandwidth",
    "busiest-hours",
    "rejected",
];

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!("Chromium is required for the HTML report test: `apt-get install -y chromium` (.ci/run installs it)");
}

/// Runs headless Chromium on `page` with extra flags; returns (stdout, stderr).
fn headless(page: &Path, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,4000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "chromium failed: {stderr}");
    (stdout, stderr)
}

/// Console messages and blocked loads Chromium logged for the page.
fn page_errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Content Security Policy")
                || l.contains("Refused to")
                || l.contains("ERR_")
        })
        .collect()
}

const MEASURE: &str = r#"<script>
const res = [...document.querySelectorAll('section')].map(s => ({ id: s.id,
  svgs: [...s.querySelectorAll('svg')].map(v => { const r = v.getBoundingClientRect();
    const marks = [...v.querySelectorAll('rect,polyline,circle')].filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length;
    return { w: r.width, h: r.height, marks: marks, text: v.querySelectorAll('text').length }; }) }));
const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = JSON.stringify(res); document.body.appendChild(pre);
</script>"#;

#[test]
fn html_report_renders_in_chromium() {
    let lake = build_lake();
    // Two rejected lines of two causes, so the dead letters' section has a chart too.
    let bad = "not a log line\n1.2.3.4 - - [31/Foo/2019:01:02:03 +0000] \"GET / HTTP/1.1\" 200 1\n";
    ingest_with(lake.dir.path(), &lake.lake, "rejected.log", bad, None);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_html");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let _ = std::fs::remove_file(&page);
    let out = accesslake(&[
        "report",
        "--lake",
        lake.lake_str(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--html alone prints nothing");
    let html = std::fs::read_to_string(&page).unwrap();
    // `--html -` writes the same page to standard output.
    let out = accesslake(&["report", "--lake", lake.lake_str(), "--html", "-"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), html);
    assert!(!std::path::Path::new("-").exists());

    // Self-contained.
    assert!(!html.contains("<script"), "the report has a script");
    for attr in ["src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(attr), "external reference {attr}");
    }
    assert!(!html.contains('\u{1b}'), "raw control character");

    // Escaped: the generated log's day alone, where its hostile path, referrer and agent rank.
    let hostile = dir.join("hostile.html");
    let out = accesslake(&[
        "report",
        "--lake",
        lake.lake_str(),
        "--from",
        "2020-03-01",
        "--to",
        "2020-03-02",
        "--html",
        hostile.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&hostile).unwrap();
    assert!(
        text.contains("&lt;script&gt;alert(&#39;p&#39;)&lt;/script&gt;"),
        "escaped hostile path missing"
    );
    assert!(
        text.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "escaped hostile referrer missing"
    );
    assert!(
        !text.contains("<script") && !text.contains("<img") && !text.contains('\u{1b}'),
        "unescaped hostile text"
    );
    let (dom, stderr) = headless(&hostile, &["--dump-dom"]);
    assert!(
        page_errors(&stderr).is_empty(),
        "page errors: {:?}",
        page_errors(&stderr)
    );
    assert!(
        !dom.contains("<img") && !dom.contains("<script"),
        "hostile text became elements"
    );
    assert_eq!(dom.matches("<svg").count(), SECTIONS.len() + 1);

    // 1. The page as shipped: loads with no console error and no blocked load; screenshot kept.
    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, stderr) = headless(&page, &[&format!("--screenshot={}", shot.display())]);
    assert!(
        page_errors(&stderr).is_empty(),
        "page errors: {:?}",
        page_errors(&stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot looks empty ({} bytes)",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());

    // 2. Its DOM as Chromium parsed it: every section and chart is there.
    let (dom, stderr) = headless(&page, &["--dump-dom"]);
    assert!(
        page_errors(&stderr).is_empty(),
        "page errors: {:?}",
        page_errors(&stderr)
    );
    assert_eq!(
        dom.matches("<section").count(),
        SECTIONS.len(),
        "sections in the DOM"
    );
    assert_eq!(
        dom.matches("<svg").count(),
        SECTIONS.len() + 1,
        "one chart per section (two for bots vs humans)"
    );

    // 3. A copy with a measuring script (the CSP removed so it may run): each chart has a
    //    laid-out box and visible marks.
    let csp_end = html.find("'unsafe-inline'\">").expect("CSP meta") + "'unsafe-inline'\">".len();
    let csp_start = html[..csp_end].rfind("<meta").unwrap();
    let measured = format!("{}{}", &html[..csp_start], &html[csp_end..])
        .replace("</body>", &format!("{MEASURE}</body>"));
    let probe = dir.join("measure.html");
    std::fs::write(&probe, measured).unwrap();
    let (dom, _) = headless(&probe, &["--dump-dom", "--virtual-time-budget=5000"]);
    let start =
        dom.find("<pre id=\"measure\">").expect("measurement ran") + "<pre id=\"measure\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let sections: Vec<Value> = serde_json::from_str(&json).expect("measure json");
    let ids: Vec<&str> = sections.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, SECTIONS);
    for s in &sections {
        let svgs = s["svgs"].as_array().unwrap();
        assert!(!svgs.is_empty(), "section {} has no chart", s["id"]);
        for v in svgs {
            assert!(
                v["w"].as_f64().unwrap() > 100.0 && v["h"].as_f64().unwrap() > 30.0,
                "chart in {} not laid out: {v}",
                s["id"]
            );
            assert!(
                v["marks"].as_u64().unwrap() > 0,
                "chart in {} draws nothing: {v}",
                s["id"]
            );
        }
    }
}
