//! Hostile input, end to end. A *hostile world* is a capture folder written here (the layout
//! of `sample::replay`) whose repository names, tags, digests, descriptions, READMEs with
//! deprecation notices and server label carry markup and script, Markdown tricks, control and
//! bidi characters, 1 MB strings, spreadsheet formulas, and path, URL and argv tricks. The
//! replay Hub serves it; extract-hub, join and report run on it through the library, and the
//! tests check that every output stayed inert: names outside Docker's grammar never reach a
//! URL or a path, HTML and Markdown show values escaped and shortened, CSV fields cannot
//! become formulas, headless Chromium runs nothing. The scan stage's plan and the
//! content-addressed paths get the same values directly. Each class of input is recorded
//! with `reliability::record`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use hubaudit::catalog::{self, REPOSITORIES, TAGS};
use hubaudit::dag::Stage;
use hubaudit::io::{parquet as pq, partition};
use hubaudit::names;
use hubaudit::reliability::record;
use hubaudit::sample::replay::{Capture, Knobs, ReplayHub};
use hubaudit::sample::CaptureToml;
use hubaudit::stages::{extract_hub, join, report, scan};
use hubaudit::tables::{self, RepoRow, TagRow};
use serde_json::{json, Value};

use crate::util::{date, fast_hub, repo};

const DATE: &str = "2021-08-24";
const MB: usize = 1 << 20;

/// The label the hostile server declares (`X-Hubaudit-Replay`): it becomes every row's
/// `source`, so it reaches every table. HTTP headers carry printable ASCII only.
const SOURCE: &str = "=HYPERLINK(\"https://evil.example\",\"x\")<script>window.__hubaudit_pwned=1</script>\"'><svg onload=window.__hubaudit_pwned=2></textarea>[x](javascript:alert(1))|pipe|`tick`";

/// Deprecated repositories (valid names) and the link their notice recommends: the notice
/// parser keeps any link without spaces, parentheses or angle brackets, so these reach the
/// report's `recommended_link` column.
fn notice_links() -> Vec<(&'static str, String)> {
    vec![
        ("dep-js", "javascript:window.__hubaudit_pwned=1//\"'/onmouseover=alert`1`".into()),
        ("dep-attr", "\"'/onfocus=window.__hubaudit_pwned=1/autofocus/x=\"".into()),
        (
            "dep-md",
            "x|y|z`tick`**b**_i_~~s~~$m$[ref]:![img]:https://evil.example/a|www.evil.example|a@evil.example"
                .into(),
        ),
        (
            "dep-ctl",
            "https://evil.example/\u{0}nul\u{1b}[31mred\u{1b}[0m\u{7}bell\u{8}\u{7f}".into(),
        ),
        (
            "dep-bidi",
            "https://evil.example/\u{202E}gpj.exe\u{202C}\u{2066}\u{2067}\u{2068}\u{2069}\u{200F}"
                .into(),
        ),
        ("dep-long", format!("https://evil.example/{}", "A".repeat(MB))),
        ("dep-eq", "=cmd|'/Ccalc'!A0".into()),
        ("dep-plus", "+cmd|'/Ccalc'!A0".into()),
        ("dep-minus", "-2+3+cmd|'/Ccalc'!A0".into()),
        ("dep-at", "@cmd|'/Ccalc'!A0".into()),
        ("dep-entity", "&lt;script&gt;window.__hubaudit_pwned=1&lt;/script&gt;".into()),
    ]
}

/// Repository names the Hub lists that must never reach a URL, a row or a path. `token`
/// makes the traversal targets unique to this test's folder.
fn hostile_names(token: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "../../etc/passwd",
        "a/../../b",
        "/etc/passwd",
        "%2e%2e",
        "..%2f..%2fetc",
        "..",
        ".",
        "a\\..\\b",
        "-rf",
        "--help",
        "a?b=1",
        "a#frag",
        "a%20b",
        "a b",
        "<script>window.__hubaudit_pwned=1</script>",
        "\"'><svg onload=alert(1)>",
        "Nginx",
        "a/b",
        "x/tags",
        "a\u{202E}b",
        "a\u{2066}b\u{2069}",
        "a\u{0}b",
        "a\u{1b}[31mb",
        "a\rb",
        "=cmd|' /C calc'!A0",
        "`tick`",
        "[x](javascript:alert(1))",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("../../../{token}-escape"));
    v.push(format!("/tmp/{token}-abs"));
    v.push("n".repeat(MB));
    v
}

/// Tags of the repository `tagged` that must be dropped.
fn hostile_tags(token: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "../x",
        "..",
        "/abs",
        "-x",
        "--output=/tmp/x",
        "a/b",
        "a?b",
        "a#b",
        "%2e%2e",
        "a b",
        ".hidden",
        "<img src=x onerror=alert(1)>",
        "x\u{202E}",
        "x\u{0}",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("../../{token}-escape"));
    v.push("t".repeat(129));
    v.push("t".repeat(MB));
    v
}

/// Valid but unusual tags that must be kept.
const ODD_TAGS: [&str; 4] = ["a..b", "_x", "UPPER", "1.0-rc.1"];
/// Valid but unusual names that must be kept.
const ODD_NAMES: [&str; 3] = ["0", "a__b", "x-----y"];

fn good_digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

fn hostile_digests(token: &str) -> Vec<String> {
    vec![
        format!("sha256:../../../{token}-digest"),
        format!("SHA256:{}", "AB".repeat(32)),
        format!("sha256:{}", "a".repeat(63)),
    ]
}

/// A temporary folder holding the hostile capture (`capture/`) and the datasets the stages
/// write (`datasets/`).
struct World {
    dir: tempfile::TempDir,
    /// Unique to this folder; part of every traversal target.
    token: String,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let suffix: String = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let w = World {
            dir,
            token: format!("hubaudit-hostile-{suffix}"),
        };
        w.write_capture();
        w
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn datasets(&self) -> PathBuf {
        self.path().join("datasets")
    }

    /// Writes `capture/` directly in the replay layout (no sample spec).
    fn write_capture(&self) {
        let base = self.path().join("capture");
        let day = base.join(DATE);
        std::fs::create_dir_all(day.join("detail")).unwrap();
        std::fs::create_dir_all(day.join("tags")).unwrap();
        let meta = CaptureToml {
            source: SOURCE.into(),
            namespace: "library".into(),
            dates: vec![date(DATE)],
            capture_hour: 12,
        };
        std::fs::write(base.join("capture.toml"), toml::to_string(&meta).unwrap()).unwrap();
        let item = |name: &str, description: &str| {
            json!({"name": name, "namespace": "library", "description": description,
                "star_count": 1, "pull_count": 10, "last_updated": "2021-08-20T00:00:00Z",
                "date_registered": "2015-01-01T00:00:00Z", "status_description": "active"})
        };
        let tag = |name: &str, digests: &[String]| {
            json!({"name": name, "full_size": 5, "last_updated": "2021-08-20T00:00:00Z",
                "tag_status": "active",
                "images": digests.iter().zip(["amd64", "arm64"]).map(|(d, arch)| json!(
                    {"architecture": arch, "os": "linux", "digest": d, "size": 5})).collect::<Vec<_>>()})
        };
        let mut list = Vec::new();
        let mut valid: Vec<(String, String, String, Vec<Value>)> = Vec::new();
        for (i, (name, link)) in notice_links().into_iter().enumerate() {
            let readme = format!(
                "# **DEPRECATION NOTICE**\n\nThis image is deprecated in favor of [the docs]({link}).\n\n# Quick reference\n"
            );
            let description = format!("<script>window.__hubaudit_pwned=1</script> {name}");
            valid.push((
                name.into(),
                description,
                readme,
                vec![tag("latest", &[good_digest(i as u8)])],
            ));
        }
        let digests = hostile_digests(&self.token);
        let mut tagged = vec![tag("latest", &[good_digest(100), digests[0].clone()])];
        tagged.push(tag(ODD_TAGS[0], std::slice::from_ref(&digests[1])));
        tagged.push(tag(ODD_TAGS[1], std::slice::from_ref(&digests[2])));
        for t in &ODD_TAGS[2..] {
            tagged.push(tag(t, &[good_digest(101)]));
        }
        for t in hostile_tags(&self.token) {
            tagged.push(tag(&t, &[good_digest(102)]));
        }
        valid.push((
            "tagged".into(),
            "\"'><svg onload=window.__hubaudit_pwned=1>".into(),
            "# Quick reference\n\n<script>window.__hubaudit_pwned=1</script>\n".into(),
            tagged,
        ));
        valid.push((
            "big-readme".into(),
            "D".repeat(MB),
            format!("# Quick reference\n\n{}\n", "B".repeat(MB)),
            vec![tag("latest", &[good_digest(103)])],
        ));
        for (i, name) in ODD_NAMES.iter().enumerate() {
            valid.push((
                name.to_string(),
                "\u{202E}txt.exe \u{0}\u{1b}[2J".into(),
                "# Quick reference\n".into(),
                vec![tag("latest", &[good_digest(110 + i as u8)])],
            ));
        }
        for (name, description, readme, tags) in &valid {
            list.push(item(name, description));
            let detail =
                json!({"name": name, "description": description, "full_description": readme});
            std::fs::write(
                day.join("detail").join(format!("{name}.json")),
                detail.to_string(),
            )
            .unwrap();
            std::fs::write(
                day.join("tags").join(format!("{name}.json")),
                Value::Array(tags.clone()).to_string(),
            )
            .unwrap();
        }
        // the hostile names are only listed: no detail or tags file exists for them, so a
        // request for one would fail the crawl
        for name in hostile_names(&self.token) {
            list.push(item(&name, "hostile name"));
        }
        std::fs::write(
            day.join("repositories.json"),
            Value::Array(list).to_string(),
        )
        .unwrap();
    }

    fn replay(&self) -> ReplayHub {
        ReplayHub::start(
            Capture::load(&self.path().join("capture")).unwrap(),
            Knobs::default(),
            0,
        )
        .unwrap()
    }

    fn extract(&self, hub: &ReplayHub) -> extract_hub::Summary {
        extract_hub::run(&extract_hub::Options {
            datasets: self.datasets(),
            snapshot: date(DATE),
            hub: fast_hub(&hub.url_for(date(DATE))),
            token: None,
            full: false,
        })
        .unwrap()
    }

    /// join then report for the snapshot.
    fn join_and_report(&self) -> report::Summary {
        join::run(&join::Options {
            datasets: self.datasets(),
            snapshot: date(DATE),
            reference: None,
        })
        .unwrap();
        report::run(&report::Options {
            datasets: self.datasets(),
            date: date(DATE),
            reference: None,
            threshold: 50,
            window: None,
            tolerance_days: 2,
        })
        .unwrap()
    }

    /// Every file under the folder, relative, with its size.
    fn files(&self) -> BTreeMap<PathBuf, u64> {
        walk(self.path())
            .into_iter()
            .map(|(p, n)| (p.strip_prefix(self.path()).unwrap().to_path_buf(), n))
            .collect()
    }

    /// Entries of the temporary folder's parent (and /tmp) named after this world's token:
    /// what a traversal out of the work folder would have created.
    fn escaped(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in [self.path().parent().unwrap(), Path::new("/tmp")] {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                if e.file_name().to_string_lossy().contains(&self.token) {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

fn walk(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        if meta.is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push((e.path(), meta.len()));
        }
    }
    out
}

/// The files created or changed between two listings.
fn changed(before: &BTreeMap<PathBuf, u64>, after: &BTreeMap<PathBuf, u64>) -> Vec<PathBuf> {
    after
        .iter()
        .filter(|(p, n)| before.get(*p) != Some(n))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Request targets the crawl may make: list pages, and detail and tags of a Hub name.
fn allowed_request(target: &str) -> bool {
    let re = regex::Regex::new(
        r"^/2021-08-24/v2/namespaces/library/repositories(?:/[a-z0-9._-]+(?:/tags)?)?(?:\?page_size=[0-9]+&page=[0-9]+)?$",
    )
    .unwrap();
    re.is_match(target)
}

#[test]
fn extract_hub_drops_names_tags_and_digests_outside_the_grammar_and_never_requests_them() {
    let w = World::new();
    let before = w.files();
    let hub = w.replay();
    let s = w.extract(&hub);
    let names_bad = hostile_names(&w.token);
    let tags_bad = hostile_tags(&w.token);
    let digests_bad = hostile_digests(&w.token);
    let valid = notice_links().len() + 2 + ODD_NAMES.len();

    // what was kept
    assert_eq!(s.repositories, valid);
    let repos = tables::read_repositories(&w.datasets(), date(DATE)).unwrap();
    assert!(repos.iter().all(|r| names::hub_name(&r.name).is_ok()));
    let tags = tables::read_tags(&w.datasets(), date(DATE)).unwrap();
    assert!(tags.iter().all(|t| names::tag(&t.tag).is_ok()));
    assert!(tags
        .iter()
        .all(|t| t.digest.as_deref().is_none_or(|d| names::digest(d).is_ok())));
    let tagged: Vec<&str> = {
        let mut v: Vec<&str> = tags
            .iter()
            .filter(|t| t.repository == "tagged")
            .map(|t| t.tag.as_str())
            .collect();
        v.dedup();
        v
    };
    let mut expected: Vec<&str> = ODD_TAGS.to_vec();
    expected.push("latest");
    expected.sort();
    assert_eq!(tagged, expected, "odd but valid tags are kept");
    let arm = tags
        .iter()
        .find(|t| {
            t.repository == "tagged"
                && t.tag == "latest"
                && t.architecture.as_deref() == Some("arm64")
        })
        .expect("the image with a bad digest stays");
    assert_eq!(arm.digest, None);
    for odd in ODD_NAMES {
        assert!(repos.iter().any(|r| r.name == odd), "{odd} kept");
    }

    // what was refused, and how it was said
    let count = |k: names::Kind| s.rejected.iter().filter(|r| r.refused.kind == k).count();
    assert_eq!(count(names::Kind::Repository), names_bad.len());
    assert_eq!(count(names::Kind::Tag), tags_bad.len());
    assert_eq!(count(names::Kind::Digest), digests_bad.len());
    for bad in names_bad.iter().chain(&tags_bad).chain(&digests_bad) {
        let shown = names::quote(bad);
        assert!(
            s.warnings.iter().any(|l| l.contains(&shown)),
            "no warning names {shown}"
        );
    }
    for line in &s.warnings {
        assert!(
            line.chars().count() < 400,
            "a warning is {} characters",
            line.len()
        );
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || hubaudit::svg::is_hidden(c)),
            "a raw control or bidi character in {line:?}"
        );
    }
    let traversal = s
        .rejected
        .iter()
        .find(|r| r.repository == "../../etc/passwd")
        .unwrap();
    assert_eq!(
        traversal.warning().split(';').next().unwrap(),
        "dropped from the snapshot: repository \"../../etc/passwd\" refused: path traversal ('..', a leading '/', a backslash, NUL or a percent-encoded dot or slash)"
    );

    // no request for a refused name; nothing written outside the datasets folder
    let requests = hub.requests();
    let stray: Vec<&String> = requests.iter().filter(|t| !allowed_request(t)).collect();
    assert!(stray.is_empty(), "requests outside the grammar: {stray:?}");
    assert_eq!(requests.len() as u64, s.requests);
    let outside: Vec<PathBuf> = changed(&before, &w.files())
        .into_iter()
        .filter(|p| !p.starts_with("datasets"))
        .collect();
    assert!(outside.is_empty(), "files outside datasets/: {outside:?}");
    assert!(w.escaped().is_empty(), "{:?}", w.escaped());

    // the data keeps every value whole
    let big = repos.iter().find(|r| r.name == "big-readme").unwrap();
    assert_eq!(big.description.as_deref().map(str::len), Some(MB));
    assert!(big.full_description.as_deref().unwrap().len() > MB);
    let long = repos.iter().find(|r| r.name == "dep-long").unwrap();
    assert_eq!(
        long.deprecation_link.as_deref().map(str::len),
        Some("https://evil.example/".len() + MB)
    );

    record(
        "hostile input",
        "extract-hub and hub::HubClient: repository names, tags and digests from the Hub",
        (names_bad.len() + tags_bad.len() + digests_bad.len()) as u64,
        &format!(
            "{} repository names (traversal, absolute, percent-encoded, option-like, URL syntax, markup, uppercase, '/', bidi, NUL, ESC, CR, 1 MB), {} tags and {} digests refused, each dropped with a warning naming it escaped and listed in the summary; {} repositories and {} tag rows staged, all in the grammar; {} requests, none for a refused name; 0 files outside the datasets folder; 1 MB description and README kept whole in the staged table",
            names_bad.len(),
            tags_bad.len(),
            digests_bad.len(),
            s.repositories,
            s.tags,
            requests.len()
        ),
    );
}

/// Element names the report emits; anything else in the page came from data.
const REPORT_ELEMENTS: [&str; 31] = [
    "!doctype", "html", "head", "meta", "title", "style", "body", "p", "h1", "h2", "ul", "li",
    "section", "div", "table", "thead", "tbody", "tr", "th", "td", "footer", "svg", "g", "rect",
    "text", "tspan", "line", "polyline", "path", "circle", "desc",
];

/// Every start or end tag of `html` as (name, attribute names). Values from data are escaped,
/// so every `<` and every quoted attribute value is the report's own.
fn tags_of(html: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        let end = i + html[i..].find(['>', ' ', '\n']).unwrap_or(html.len() - i);
        let name = html[i..end].trim_start_matches('/').to_ascii_lowercase();
        let mut attrs = Vec::new();
        let mut j = end;
        while j < bytes.len() && bytes[j] != b'>' {
            if bytes[j].is_ascii_whitespace() || bytes[j] == b'/' {
                j += 1;
                continue;
            }
            let start = j;
            while j < bytes.len() && !b"= >/\n".contains(&bytes[j]) {
                j += 1;
            }
            attrs.push(html[start..j].to_ascii_lowercase());
            if j < bytes.len() && bytes[j] == b'=' {
                j += 1;
                if bytes[j] == b'"' {
                    j += 1 + html[j + 1..].find('"').unwrap() + 1;
                }
            }
        }
        out.push((name, attrs));
        i = j;
    }
    out
}

/// Whether `pattern` occurs in `md` with its first character not backslash-escaped.
fn live(md: &str, pattern: &str) -> bool {
    md.match_indices(pattern).any(|(i, _)| {
        let backslashes = md[..i].bytes().rev().take_while(|&b| b == b'\\').count();
        backslashes % 2 == 0
    })
}

/// Cells of a Markdown table row: pipes not escaped by a backslash, minus one.
fn md_cells(row: &str) -> usize {
    let mut pipes = 0;
    let mut backslashes = 0;
    for c in row.chars() {
        if c == '|' && backslashes % 2 == 0 {
            pipes += 1;
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    pipes - 1
}

/// A field a spreadsheet would evaluate.
fn formula(field: &str) -> bool {
    let number = field.trim_start_matches('-').parse::<f64>().is_ok() && !field.starts_with("--");
    field.starts_with(['=', '+', '-', '@', '\t', '\r']) && !number
}

#[test]
fn the_report_of_a_hostile_world_shows_every_value_escaped_shortened_and_inert() {
    let w = World::new();
    let hub = w.replay();
    w.extract(&hub);
    let before = w.files();
    let s = w.join_and_report();
    let outside: Vec<PathBuf> = changed(&before, &w.files())
        .into_iter()
        .filter(|p| !p.starts_with("datasets"))
        .collect();
    assert!(outside.is_empty(), "files outside datasets/: {outside:?}");
    let links = notice_links();

    // ---- HTML
    let html = std::fs::read_to_string(s.dir.join("index.html")).unwrap();
    let tags = tags_of(&html);
    let foreign: Vec<&String> = tags
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !REPORT_ELEMENTS.contains(&n.as_str()))
        .collect();
    assert!(foreign.is_empty(), "elements from data: {foreign:?}");
    let handlers: Vec<&String> = tags
        .iter()
        .flat_map(|(_, a)| a)
        .filter(|a| a.starts_with("on") || a == &"href" || a == &"src")
        .collect();
    assert!(handlers.is_empty(), "attributes from data: {handlers:?}");
    assert!(
        !html.chars().any(hubaudit::svg::is_hidden),
        "a control or bidi character applied"
    );
    for shown in [
        "&lt;script&gt;window.__hubaudit_pwned=1&lt;/script&gt;",
        "&quot;&#39;&gt;&lt;svg onload=window.__hubaudit_pwned=2&gt;&lt;/textarea&gt;",
        "javascript:window.__hubaudit_pwned=1//&quot;&#39;/onmouseover=alert`1`",
        "[U+0000]nul[U+001B][31mred[U+001B][0m[U+0007]bell[U+0008][U+007F]",
        "[U+202E]gpj.exe[U+202C][U+2066][U+2067][U+2068][U+2069][U+200F]",
        // `;` gets a space on screen (list separators), so the entity text reads `&lt; script`
        "&amp;lt; script&amp;gt; window.__hubaudit_pwned=1&amp;lt; /script&amp;gt; ",
        "… [shortened: 1048597 characters in all, the CSV file has the whole value]",
    ] {
        assert!(html.contains(shown), "{shown:?} not shown in the HTML");
    }
    assert!(
        html.len() < MB / 4,
        "the page is {} bytes: a long value was not shortened",
        html.len()
    );

    // ---- Markdown
    let md = std::fs::read_to_string(s.dir.join("report.md")).unwrap();
    assert!(!md.contains('<'), "raw HTML in report.md");
    assert!(!md.chars().any(hubaudit::svg::is_hidden));
    for pattern in [
        "](", "![", "[x", "[ref", "://", "www.", "a@", "`", "**", "~~", "$m", "|y",
    ] {
        assert!(!live(&md, pattern), "{pattern:?} is live in report.md");
    }
    let mut tables = 0;
    let mut rows = 0;
    for block in md.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
        let Some(head) = lines.first() else { continue };
        tables += 1;
        for line in &lines {
            assert_eq!(
                md_cells(line),
                md_cells(head),
                "a row lost its columns: {}",
                &line[..line.len().min(200)]
            );
            assert!(
                line.len() < 20_000,
                "a Markdown row is {} bytes",
                line.len()
            );
            rows += 1;
        }
    }
    assert!(
        tables >= 4 && rows > links.len(),
        "{tables} tables, {rows} rows"
    );
    assert!(md.contains("shortened: 1048597 characters"));
    assert!(
        md.contains("\\[U+202E\\]"),
        "bidi override shown, not applied"
    );

    // ---- CSV
    let mut files = 0;
    let mut fields = 0;
    for entry in std::fs::read_dir(&s.dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        files += 1;
        let mut r = csv::ReaderBuilder::new()
            .flexible(false)
            .from_path(&path)
            .unwrap();
        let width = r.headers().unwrap().len();
        for record in r.records() {
            let record = record.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(record.len(), width);
            for f in record.iter() {
                fields += 1;
                assert!(
                    !formula(f),
                    "{}: a formula field {:?}",
                    path.display(),
                    &f[..f.len().min(80)]
                );
            }
        }
    }
    let deprecated = crate::util::csv_rows(&s.dir.join("deprecated.csv"));
    assert_eq!(deprecated.len(), links.len());
    for (name, link) in &links {
        let row = deprecated.iter().find(|r| r["name"] == *name).unwrap();
        let expected = if link.starts_with(['=', '+', '-', '@']) {
            format!("'{link}")
        } else {
            link.clone()
        };
        assert_eq!(
            row["recommended_link"], expected,
            "{name}: the CSV keeps the value whole"
        );
        assert_eq!(row["source"], format!("'{SOURCE}"));
    }

    record(
        "hostile input",
        "report: index.html",
        links.len() as u64 + 1,
        &format!(
            "{} notice links and 1 server label (script, img onerror, attribute breakers, </textarea>, javascript:, Markdown tricks, NUL/ESC/BEL/DEL, bidi overrides and isolates, 1 MB, formulas, entity text) rendered: {} tags, all of the report's own, 0 event-handler/href/src attributes; control and bidi characters shown as [U+XXXX], 0 applied; the 1 MB value shortened with a marker",
            links.len(),
            tags.len()
        ),
    );
    record(
        "hostile input",
        "report: report.md",
        links.len() as u64 + 1,
        &format!(
            "{tables} tables, {rows} rows, every row with its header's column count; 0 raw '<', 0 live links, images, code spans, emphasis, autolinks or math; URLs defanged; control and bidi characters shown as [U+XXXX]; the 1 MB value shortened with a marker"
        ),
    );
    record(
        "hostile input",
        "report: CSV files",
        fields as u64,
        &format!(
            "{files} files, {fields} fields parsed with a fixed column count; 0 fields a spreadsheet would evaluate ('=', '+', '-', '@' prefixed with '); 1 MB link kept whole in deprecated.csv"
        ),
    );
}

/// Chromium (Debian's, or `$HUBAUDIT_CHROMIUM`) and playwright-core, or None after saying the
/// test is skipped and why, as `public_data::require` does: printed, and appended to the file
/// named by `HUBAUDIT_SKIP_LOG` so `just test` counts it.
fn browser(test: &str) -> Option<PathBuf> {
    let chromium = std::env::var_os("HUBAUDIT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = repo().join("tests/browser/node_modules/playwright-core");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if chromium.exists() && modules.is_dir() && node {
        return Some(chromium);
    }
    let why = format!(
        "skipped: {test}: needs node, Chromium at {} and playwright-core in tests/browser/node_modules (`just browser-tools` installs Chromium and playwright-core)",
        chromium.display()
    );
    eprintln!("{why}");
    if let Some(log) =
        std::env::var_os(hubaudit::public_data::SKIP_LOG_ENV).filter(|v| !v.is_empty())
    {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{why}");
        }
    }
    None
}

#[test]
fn the_hostile_report_runs_nothing_in_headless_chromium() {
    let test = "hostile::the_hostile_report_runs_nothing_in_headless_chromium";
    let Some(chromium) = browser(test) else {
        return;
    };
    let w = World::new();
    let hub = w.replay();
    w.extract(&hub);
    let s = w.join_and_report();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-report.png");
    let out = Command::new("node")
        .arg(repo().join("tests/browser/check.mjs"))
        .arg("--report")
        .arg(s.dir.join("index.html"))
        .arg("--screenshot")
        .arg(&shot)
        .args(["--tables", "summary,deprecated,comparison", "--hostile"])
        .args(["--expect-text", "[U+202E]", "--expect-text", "[U+0000]"])
        .args([
            "--expect-text",
            "<script>window.__hubaudit_pwned=1</script>",
        ])
        .args(["--expect-text", "shortened: 1048597 characters"])
        .env("HUBAUDIT_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    assert!(
        out.status.success() && last.ends_with(", 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    record(
        "hostile input",
        "report: index.html in headless Chromium (check.mjs --hostile)",
        notice_links().len() as u64 + 1,
        &format!(
            "{passed} checks passed, 0 failed: canary window.__hubaudit_pwned undefined, 0 dialogs, 0 console errors, 0 CSP violations, 0 page errors, 0 failed requests, only the report's own elements, 0 control or bidi characters applied, [U+202E] and [U+0000] and the script text shown as text"
        ),
    );
}

/// A staged repositories row with defaults.
fn repo_row(name: &str) -> RepoRow {
    RepoRow {
        name: name.into(),
        namespace: "library".into(),
        source: "hostile".into(),
        captured_at: Utc.with_ymd_and_hms(2021, 8, 24, 12, 0, 0).unwrap(),
        ..RepoRow::default()
    }
}

fn tag_row(repository: &str, tag: &str, digest: Option<String>) -> TagRow {
    TagRow {
        repository: repository.into(),
        tag: tag.into(),
        digest,
        os: Some("linux".into()),
        architecture: Some("amd64".into()),
        variant: None,
        size: Some(5),
        full_size: Some(5),
        last_updated: Some(Utc.with_ymd_and_hms(2021, 8, 20, 0, 0, 0).unwrap()),
        last_pulled: None,
        last_pushed: None,
        tag_status: Some("active".into()),
        source: "hostile".into(),
        captured_at: Utc.with_ymd_and_hms(2021, 8, 24, 12, 0, 0).unwrap(),
        carried_forward: false,
    }
}

#[test]
fn the_scan_plan_refuses_bad_names_tags_and_digests_before_any_path_reference_or_argv() {
    let w = tempfile::tempdir().unwrap();
    let root = w.path().join("datasets");
    let archives = w.path().join("archives");
    // sentinels where `..` would lead: DIR/../x.tar and its note; the folders exist, so a
    // path through them would resolve
    std::fs::write(w.path().join("x.tar"), b"not an archive").unwrap();
    std::fs::write(w.path().join("x.note"), "LEAKED-NOTE").unwrap();
    for d in ["r", "s", "t", "v"] {
        std::fs::create_dir_all(archives.join(d)).unwrap();
    }
    // (repository, chosen tag, digest): every one must be refused
    let good = good_digest(7);
    let hostile: Vec<(&str, &str, Option<String>)> = vec![
        ("r", "../../x", Some(good.clone())),
        ("..", "x", Some(good.clone())),
        ("-rf", "latest", Some(good.clone())),
        ("a/../../b", "latest", Some(good.clone())),
        ("s", "latest", Some("sha256:../../../x".into())),
        ("t", "--output=/tmp/x", Some(good.clone())),
        ("v", "x\u{202E}", Some(good.clone())),
    ];
    let mut repos: Vec<RepoRow> = hostile.iter().map(|(n, _, _)| repo_row(n)).collect();
    repos.push(repo_row("u")); // no tags: a no_tag row, as before
    let tags: Vec<TagRow> = hostile
        .iter()
        .map(|(n, t, d)| tag_row(n, t, d.clone()))
        .collect();
    let d = date(DATE);
    partition::write_partition(&root, Stage::ExtractHub, &REPOSITORIES, d, "hostile", |p| {
        pq::write_batch(p, &tables::repositories_batch(&repos)?)
    })
    .unwrap();
    partition::write_partition(&root, Stage::ExtractHub, &TAGS, d, "hostile", |p| {
        pq::write_batch(p, &tables::tags_batch(&tags)?)
    })
    .unwrap();
    // a Trivy cache and a stand-in Trivy that logs its argv: no job may reach it
    let cache = w.path().join("cache");
    std::fs::create_dir_all(cache.join("db")).unwrap();
    std::fs::write(cache.join("db/trivy.db"), b"not a real db").unwrap();
    std::fs::write(
        cache.join("db/metadata.json"),
        r#"{"Version":2,"UpdatedAt":"2021-08-24T00:00:00Z","NextUpdate":"2021-08-25T00:00:00Z"}"#,
    )
    .unwrap();
    let argv = w.path().join("argv.log");
    let trivy = w.path().join("trivy");
    std::fs::write(
        &trivy,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nprintf '{{\"Version\":\"0.0.0-stand-in\"}}'\n",
            argv.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&trivy, std::fs::Permissions::from_mode(0o755)).unwrap();

    let sources = [
        scan::ImageSource::Archive(archives.clone()),
        scan::ImageSource::Registry("127.0.0.1:9".into()),
    ];
    let mut refused_rows = 0;
    for images_from in sources {
        let before: BTreeMap<PathBuf, u64> = walk(w.path()).into_iter().collect();
        let s = scan::run(&scan::Options {
            datasets: root.clone(),
            snapshot: d,
            trivy: trivy.clone(),
            db: scan::DbSource::Cache(cache.clone()),
            images_from: images_from.clone(),
            from_reports: None,
            namespace: "library".into(),
            parallel: 2,
            timeout: std::time::Duration::from_secs(30),
            retries: 0,
            retry_budget: std::time::Duration::from_secs(5),
            backoff_base: std::time::Duration::from_millis(10),
            images: Vec::new(),
            reference: None,
            credentials: None,
            full: false,
            client_memory_mib: 256,
            tags: Default::default(),
            platforms: Default::default(),
            trivy_server: None,
            shard: None,
        })
        .unwrap_or_else(|e| panic!("{images_from:?}: {e}"));
        assert_eq!(
            (s.images, s.ok, s.failed, s.no_tag, s.analyses),
            (hostile.len() + 1, 0, hostile.len(), 1, 0),
            "{images_from:?}"
        );
        let rows = tables::read_scans(&root, d).unwrap();
        for (name, tag, digest) in &hostile {
            let row = rows.iter().find(|r| r.name == *name).unwrap();
            assert_eq!(row.status, hubaudit::tables::ScanStatus::Failed, "{name}");
            let error = row.error.as_deref().unwrap();
            let value = if names::repository(name).is_err() {
                name.to_string()
            } else if names::tag(tag).is_err() {
                tag.to_string()
            } else {
                digest.clone().unwrap()
            };
            assert!(
                error.starts_with("not scanned: ") && error.contains(&names::quote(&value)),
                "{name}: {error}"
            );
            assert_eq!(row.note, None, "{name}: a note was read through the value");
            assert_eq!(row.image_ref, None);
            refused_rows += 1;
        }
        assert!(rows
            .iter()
            .any(|r| r.name == "u" && r.status == hubaudit::tables::ScanStatus::NoTag));
        let outside: Vec<PathBuf> = walk(w.path())
            .into_iter()
            .filter(|(p, n)| before.get(p) != Some(n))
            .map(|(p, _)| p)
            .filter(|p| !p.starts_with(&root) && *p != argv)
            .collect();
        assert!(outside.is_empty(), "files outside datasets/: {outside:?}");
    }
    // the stand-in Trivy ran only to say its version: no hostile value in any argv
    let calls = std::fs::read_to_string(&argv).unwrap();
    assert_eq!(calls.lines().count(), 2);
    for line in calls.lines() {
        let cache_dir = line
            .strip_prefix("version --format json --cache-dir ")
            .unwrap_or_else(|| panic!("unexpected Trivy call: {line}"));
        assert!(
            Path::new(cache_dir).starts_with(root.join(".tmp")),
            "{line}"
        );
    }
    record(
        "hostile input",
        "scan::plan: archive paths DIR/NAME/TAG.tar, registry references and Trivy argv",
        refused_rows as u64,
        &format!(
            "{} staged rows ('..' and '/' in names and tags, a leading '-', a traversal digest, a bidi override) refused as failed rows naming the value, with archives and with a registry: 0 jobs, 0 archive or note read through DIR/../x.tar (the note sentinel never appeared), 0 references built, Trivy run only for its version (2 calls, no hostile argv), 0 files outside the datasets folder",
            hostile.len()
        ),
    );
}

#[test]
fn content_addressed_paths_never_leave_their_store() {
    let root = Path::new("/data/datasets");
    let sbom = root.join("1_raw/sbom");
    let store = catalog::trivy_db_store(root);
    let good = good_digest(9);
    assert_eq!(
        catalog::inventory_path(root, &good),
        sbom.join(format!("{}.trivy.json", good.replace(':', "-")))
    );
    assert_eq!(
        catalog::trivy_db_dir(root, &good),
        store.join(good.replace(':', "-"))
    );
    let bad = [
        "../../etc/passwd",
        "sha256:../../../x",
        "/etc/passwd",
        "sha256:/abs",
        "..",
        "%2e%2e",
        "sha256:abc",
        "SHA256:ABC",
        "-rf",
        "a\u{0}b",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for d in bad {
        for (path, dir) in [
            (catalog::inventory_path(root, d), &sbom),
            (catalog::trivy_db_dir(root, d), &store),
        ] {
            assert_eq!(
                path.parent(),
                Some(dir.as_path()),
                "{d:?} → {}",
                path.display()
            );
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(file.starts_with("refused-"), "{d:?} → {file}");
            assert!(path.components().all(|c| matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::RootDir
            )));
            seen.insert(file);
        }
    }
    assert_eq!(
        seen.len(),
        2 * bad.len(),
        "different refused digests never share a file"
    );

    // `--db ../../evil` with a real stored DB waiting at datasets/evil: refused, not used
    let w = tempfile::tempdir().unwrap();
    let datasets = w.path().join("datasets");
    let db = w.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("trivy.db"), b"decoy").unwrap();
    std::fs::write(
        db.join("metadata.json"),
        r#"{"UpdatedAt":"2021-08-24T00:00:00Z"}"#,
    )
    .unwrap();
    let info = hubaudit::trivy::db::inspect(&db).unwrap();
    let decoy_root = w.path().join("decoy");
    hubaudit::trivy::db::store(&decoy_root, &db, &info).unwrap();
    // the store exists, so `1_raw/trivy-db/../../evil` would resolve to `datasets/evil`
    std::fs::create_dir_all(catalog::trivy_db_store(&datasets)).unwrap();
    std::fs::rename(
        catalog::trivy_db_dir(&decoy_root, &info.digest),
        datasets.join("evil"),
    )
    .unwrap();
    let e =
        hubaudit::trivy::db::restore(&datasets, "../../evil", &w.path().join("into")).unwrap_err();
    assert_eq!(e.exit_code(), 3);
    assert!(
        e.to_string()
            .starts_with("no stored Trivy DB ../../evil in "),
        "{e}"
    );
    assert!(!w.path().join("into/trivy.db").exists());

    record(
        "hostile input",
        "catalog::inventory_path and catalog::trivy_db_dir (content-addressed by digest)",
        bad.len() as u64 * 2 + 1,
        &format!(
            "{} values that are not sha256:<64 hex> (traversal, absolute, short, uppercase, option-like, NUL) map to {} distinct refused-… names inside 1_raw/sbom/ and 1_raw/trivy-db/; a DB restore by --db ../../evil fails with exit 3 naming the value and never reads the decoy DB placed at datasets/evil",
            bad.len(),
            seen.len()
        ),
    );
}
