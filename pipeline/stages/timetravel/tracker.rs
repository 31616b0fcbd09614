//! The Debian security tracker's lists (`data/DSA/list`, `data/DLA/list`, `data/CVE/list`) and
//! the as-of rule that turns them into the advisories known at a date.
//!
//! The rules mirror trivy-db's `pkg/vulnsrc/debian/debian.go` (which reads the same lists
//! through vuln-list-update's `debian/tracker` parser):
//! - an annotation `[RELEASE] - PKG VERSION` is a fix; `[RELEASE] - PKG <STATE>` is a state.
//!   `<not-affected>` and `<undetermined>` are skipped (trivy-db's `skipStatuses`); a
//!   `<not-affected>` of sid (a line without `[RELEASE]`) hides the package for every release.
//! - a state is kept only without a fixed version and becomes trivy-db's status through its
//!   `newStatus`: `no-dsa`/`unfixed` → affected (2), `ignored` → will_not_fix (5),
//!   `postponed` → fix_deferred (6), `end-of-life` → end_of_life (7), anything else (`removed`,
//!   `itp`) → unknown (0, which Trivy reports as affected).
//! - lists are applied CVE, then DLA, then DSA, into one map keyed by (release, source
//!   package, vulnerability id); a DSA/DLA is keyed by each CVE id of its `{…}` line (its own
//!   id when it has none); when several fix one key the highest version wins and clears the
//!   state (`compareVersions(ann.Version, adv.FixedVersion) > 0`), and every advisory id is
//!   kept in `VendorIDs`.
//! - severity comes from the urgency of the sid line of `data/CVE/list` (`unimportant`/`low`
//!   → LOW, `medium` → MEDIUM, `high` → HIGH), else it is unknown; DSA/DLA carry none.
//!
//! Where this differs from trivy-db, because the inputs differ:
//! - **as of a date**: only DSA/DLA entries dated on or before D count, and only the CVE
//!   entries of `data/CVE/list` as it stood at D exist at all, so a CVE first published later is
//!   not counted and a fix released later leaves the finding unfixed.
//! - trivy-db drops a release fix the release's `Sources` index does not carry yet, and
//!   turns a sid-only fix into a release fix when the release's `Sources` already has that
//!   version. Without the dated `Sources` indexes, a fixed version written in `data/CVE/list` at
//!   D counts as released, and a sid-only line gives the release no advisory.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::debver;

/// Debian release code names and their major versions (trivy-db reads the same from the
/// tracker's `distributions.json`). Annotations of other names are dropped, as trivy-db
/// drops stale code names.
pub const RELEASES: &[(&str, &str)] = &[
    ("squeeze", "6"),
    ("wheezy", "7"),
    ("jessie", "8"),
    ("stretch", "9"),
    ("buster", "10"),
    ("bullseye", "11"),
    ("bookworm", "12"),
    ("trixie", "13"),
];

/// The major version of a code name.
pub fn major_of(codename: &str) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|(c, _)| *c == codename)
        .map(|(_, m)| *m)
}

/// What an annotation says for a release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fix {
    /// Fixed in this version.
    Version(String),
    /// A state without a version (`no-dsa`, `not-affected`, `end-of-life`, …).
    State(String),
}

impl Fix {
    /// How the lists write it: the version, or `<state>`.
    pub fn text(&self) -> String {
        match self {
            Fix::Version(v) => v.clone(),
            Fix::State(s) => format!("<{s}>"),
        }
    }

    /// Reads what [`Fix::text`] writes.
    pub fn parse(text: &str) -> Option<Fix> {
        if let Some(s) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
            return (!s.is_empty()).then(|| Fix::State(s.to_string()));
        }
        (!text.is_empty() && !text.contains(char::is_whitespace))
            .then(|| Fix::Version(text.to_string()))
    }
}

/// `[RELEASE] - PKG FIX (note)` (release None: sid).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Annotation {
    pub release: Option<String>,
    pub package: String,
    pub fix: Fix,
    /// Urgency of a sid line (`low`, `medium`, `high`, `unimportant`).
    pub urgency: Option<String>,
}

/// Which list an advisory is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum List {
    Dsa,
    Dla,
}

impl List {
    /// `DSA`, `DLA`: the list's folder.
    pub fn as_str(self) -> &'static str {
        match self {
            List::Dsa => "DSA",
            List::Dla => "DLA",
        }
    }
}

/// One entry of `data/DSA/list` or `data/DLA/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    pub list: List,
    /// `DSA-4963-1`.
    pub id: String,
    pub date: NaiveDate,
    /// The CVE ids of its `{…}` line.
    pub cves: Vec<String>,
    pub annotations: Vec<Annotation>,
}

/// One entry of `data/CVE/list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CveEntry {
    pub id: String,
    pub annotations: Vec<Annotation>,
}

fn parse_annotation(body: &str) -> Option<Annotation> {
    // body: "[buster] - openssl 1.1.1d-0+deb10u7 (note)" or "- openssl 1.1.1l-1 (low; bug #1)"
    let (release, rest) = match body.strip_prefix('[') {
        Some(r) => {
            let (rel, rest) = r.split_once(']')?;
            (Some(rel.trim().to_string()), rest.trim_start())
        }
        None => (None, body),
    };
    let rest = rest.strip_prefix("- ")?.trim();
    let (head, note) = match rest.split_once(" (") {
        Some((h, n)) => (h.trim(), Some(n.trim_end_matches(')'))),
        None => (rest, None),
    };
    let mut words = head.split_whitespace();
    let package = words.next()?.to_string();
    let fix = match words.next() {
        Some(w) => Fix::parse(w)?,
        None => Fix::State("unfixed".into()),
    };
    let urgency = note.and_then(|n| {
        n.split([';', ' ', ','])
            .map(|w| w.trim_end_matches('*'))
            .find(|w| matches!(*w, "unimportant" | "low" | "medium" | "high"))
            .map(String::from)
    });
    Some(Annotation {
        release,
        package,
        fix,
        urgency,
    })
}

fn parse_heading_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%d %b %Y").ok()
}

/// Parses `data/DSA/list` or `data/DLA/list`. Lines that are not a heading, a `{…}` line, an
/// annotation or a `NOTE:` are errors naming the line (a damaged file is never half read).
pub fn parse_list(list: List, text: &str, context: &str) -> Result<Vec<Advisory>, String> {
    let mut out: Vec<Advisory> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let err = |what: &str| format!("{context}:{}: {what}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let (date, rest) = rest
                .split_once(']')
                .ok_or_else(|| err("heading without `]`"))?;
            let date =
                parse_heading_date(date).ok_or_else(|| err("heading date is not DD Mon YYYY"))?;
            let id = rest
                .split_whitespace()
                .next()
                .filter(|id| id.starts_with(list.as_str()))
                .ok_or_else(|| err(&format!("heading without a {}- id", list.as_str())))?;
            out.push(Advisory {
                list,
                id: id.to_string(),
                date,
                cves: Vec::new(),
                annotations: Vec::new(),
            });
            continue;
        }
        let body = line.trim();
        if body.starts_with("NOTE:") {
            continue;
        }
        let Some(current) = out.last_mut() else {
            return Err(err("a line before the first advisory heading"));
        };
        if let Some(ids) = body.strip_prefix('{').and_then(|b| b.strip_suffix('}')) {
            current
                .cves
                .extend(ids.split_whitespace().map(String::from));
        } else if body.starts_with('[') || body.starts_with("- ") {
            current
                .annotations
                .push(parse_annotation(body).ok_or_else(|| err("unreadable annotation"))?);
        } else {
            return Err(err("not a heading, {…} line, annotation or NOTE"));
        }
    }
    Ok(out)
}

/// Parses `data/CVE/list`: `CVE-…` headings, then annotations; `{…}`, `NOTE:`, `RESERVED`,
/// `REJECTED`, `NOT-FOR-US:`, `TODO:` lines carry nothing the as-of rule uses. Rejected
/// entries are dropped (vuln-list-update stores no REJECTED or NOT-FOR-US bug).
pub fn parse_cve_list(text: &str, context: &str) -> Result<Vec<CveEntry>, String> {
    let mut out: Vec<CveEntry> = Vec::new();
    let mut rejected = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            let id = line.split_whitespace().next().unwrap_or_default();
            if !id.starts_with("CVE-") && !id.starts_with("TEMP-") {
                return Err(format!("{context}:{}: not a CVE heading: {line:?}", n + 1));
            }
            if rejected {
                out.pop();
            }
            rejected = false;
            out.push(CveEntry {
                id: id.to_string(),
                annotations: Vec::new(),
            });
            continue;
        }
        let body = line.trim();
        let Some(current) = out.last_mut() else {
            return Err(format!("{context}:{}: a line before the first CVE", n + 1));
        };
        if body.starts_with("REJECTED") || body.starts_with("NOT-FOR-US:") {
            rejected = true;
        } else if body.starts_with('[') || body.starts_with("- ") {
            if let Some(a) = parse_annotation(body) {
                current.annotations.push(a);
            }
        }
    }
    if rejected {
        out.pop();
    }
    Ok(out)
}

/// What is known at D for one (release, source package, vulnerability id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    pub fixed_version: Option<String>,
    /// The tracker state when there is no fixed version (`no-dsa`, `end-of-life`, …).
    pub state: Option<String>,
    /// The DSA/DLA ids that name it, in the order applied.
    pub vendor_ids: Vec<String>,
    /// Date of the DSA/DLA whose version was kept (None: the version came from CVE/list).
    pub fix_date: Option<NaiveDate>,
    /// `LOW`, `MEDIUM`, `HIGH` from the sid urgency.
    pub severity: Option<&'static str>,
}

/// Key of [`as_of`]: (release major, source package, vulnerability id).
pub type Key = (String, String, String);

/// trivy-db's `newStatus`: the status code of a state.
pub fn status_code(state: &str) -> u8 {
    match state {
        "no-dsa" | "unfixed" => 2,
        "ignored" => 5,
        "postponed" => 6,
        "end-of-life" => 7,
        _ => 0,
    }
}

fn severity_of(urgency: &str) -> Option<&'static str> {
    match urgency {
        "unimportant" | "low" => Some("LOW"),
        "medium" => Some("MEDIUM"),
        "high" => Some("HIGH"),
        _ => None,
    }
}

fn apply(
    map: &mut BTreeMap<Key, Known>,
    major: &str,
    a: &Annotation,
    id: &str,
    vendor: Option<(&str, NaiveDate)>,
) {
    let key = (major.to_string(), a.package.clone(), id.to_string());
    let known = map.entry(key).or_default();
    if let Some((vendor_id, _)) = vendor {
        known.vendor_ids.push(vendor_id.to_string());
    }
    match &a.fix {
        Fix::Version(v) => {
            let higher = known
                .fixed_version
                .as_deref()
                .is_none_or(|old| debver::compare(v, old).is_gt());
            if higher {
                known.fixed_version = Some(v.clone());
                known.state = None;
                known.fix_date = vendor.map(|(_, d)| d);
            }
        }
        Fix::State(s) => {
            if known.fixed_version.is_none() && known.state.is_none() {
                known.state = Some(s.clone());
            }
        }
    }
}

/// The advisories known at `date`: `cve` is `data/CVE/list` as it stood at D (None when
/// only DSA/DLA lists are available); DSA/DLA entries dated after D are left out.
pub fn as_of(
    date: NaiveDate,
    cve: Option<&[CveEntry]>,
    dla: &[Advisory],
    dsa: &[Advisory],
) -> BTreeMap<Key, Known> {
    let skip = |a: &Annotation| matches!(&a.fix, Fix::State(s) if s == "not-affected" || s == "undetermined");
    let mut map: BTreeMap<Key, Known> = BTreeMap::new();
    // sid-level not-affected hides a (package, id) for every release
    let mut hidden: std::collections::BTreeSet<(String, String)> = Default::default();
    for entry in cve.unwrap_or_default() {
        let sid_urgency: BTreeMap<&str, &str> = entry
            .annotations
            .iter()
            .filter(|a| a.release.is_none())
            .filter_map(|a| Some((a.package.as_str(), a.urgency.as_deref()?)))
            .collect();
        for a in &entry.annotations {
            if skip(a) {
                if a.release.is_none() {
                    hidden.insert((a.package.clone(), entry.id.clone()));
                }
                continue;
            }
            let Some(major) = a.release.as_deref().and_then(major_of) else {
                continue; // sid-only lines: see the module comment
            };
            apply(&mut map, major, a, &entry.id, None);
            if let Some(sev) = sid_urgency
                .get(a.package.as_str())
                .and_then(|u| severity_of(u))
            {
                if let Some(k) =
                    map.get_mut(&(major.to_string(), a.package.clone(), entry.id.clone()))
                {
                    k.severity = Some(sev);
                }
            }
        }
    }
    for advisory in dla.iter().chain(dsa).filter(|a| a.date <= date) {
        let ids: Vec<&str> = if advisory.cves.is_empty() {
            vec![advisory.id.as_str()]
        } else {
            advisory.cves.iter().map(String::as_str).collect()
        };
        for a in advisory.annotations.iter().filter(|a| !skip(a)) {
            let Some(major) = a.release.as_deref().and_then(major_of) else {
                continue;
            };
            for id in &ids {
                apply(&mut map, major, a, id, Some((&advisory.id, advisory.date)));
            }
        }
    }
    map.retain(|(_, pkg, id), _| !hidden.contains(&(pkg.clone(), id.clone())));
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSA: &str = "[24 Aug 2021] DSA-4963-1 openssl - security update\n\t{CVE-2021-3711 CVE-2021-3712}\n\t[buster] - openssl 1.1.1d-0+deb10u7\n\t[bullseye] - openssl 1.1.1k-1+deb11u1\n[10 Jun 2021] DSA-4900-1 openssl - security update\n\t{CVE-2021-3711}\n\t[buster] - openssl 1.1.1d-0+deb10u6\n\tNOTE: a note\n[01 Jan 2021] DSA-4800-1 foo - security update\n\t[buster] - foo <not-affected> (Vulnerable code not present)\n\t[stretch] - foo 1.0-1\n";

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dsa_entries_parse_with_dates_cves_and_annotations() {
        let list = parse_list(List::Dsa, DSA, "DSA/list").unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].id, "DSA-4963-1");
        assert_eq!(list[0].date, day("2021-08-24"));
        assert_eq!(list[0].cves, ["CVE-2021-3711", "CVE-2021-3712"]);
        assert_eq!(
            list[0].annotations[0],
            Annotation {
                release: Some("buster".into()),
                package: "openssl".into(),
                fix: Fix::Version("1.1.1d-0+deb10u7".into()),
                urgency: None
            }
        );
        assert_eq!(
            list[2].annotations[0].fix,
            Fix::State("not-affected".into())
        );
        let bad = "[24 Aug 2021] DSA-1-1 x\n\tgarbage here\n";
        assert!(parse_list(List::Dsa, bad, "DSA/list")
            .unwrap_err()
            .starts_with("DSA/list:2:"));
        assert!(parse_list(List::Dsa, "[99 Foo 2021] DSA-1-1 x\n", "L").is_err());
    }

    #[test]
    fn the_highest_fix_dated_by_d_wins_and_later_advisories_are_not_known() {
        let list = parse_list(List::Dsa, DSA, "DSA/list").unwrap();
        let k = |m: &BTreeMap<Key, Known>, id: &str| {
            m.get(&("10".to_string(), "openssl".to_string(), id.to_string()))
                .cloned()
        };
        // before DSA-4963-1: CVE-2021-3711 fixed in deb10u6 only, CVE-2021-3712 unknown
        let before = as_of(day("2021-08-23"), None, &[], &list);
        assert_eq!(
            k(&before, "CVE-2021-3711")
                .unwrap()
                .fixed_version
                .as_deref(),
            Some("1.1.1d-0+deb10u6")
        );
        assert!(k(&before, "CVE-2021-3712").is_none());
        // on D both, the higher version kept, both advisories named
        let on = as_of(day("2021-08-24"), None, &[], &list);
        let known = k(&on, "CVE-2021-3711").unwrap();
        assert_eq!(known.fixed_version.as_deref(), Some("1.1.1d-0+deb10u7"));
        assert_eq!(known.fix_date, Some(day("2021-08-24")));
        assert_eq!(
            known.vendor_ids,
            ["DSA-4963-1", "DSA-4900-1"],
            "in the order of the list"
        );
        // not-affected is skipped; an advisory without CVEs is keyed by its own id
        assert!(!on.keys().any(|(r, p, _)| r == "10" && p == "foo"));
        assert!(on.contains_key(&("9".into(), "foo".into(), "DSA-4800-1".into())));
    }

    #[test]
    fn cve_list_states_severity_and_rejections_follow_trivy_db() {
        let cve = "CVE-2021-1 (desc)\n\t- bar 2.0-1 (low; bug #1)\n\t[buster] - bar <no-dsa> (Minor issue)\nCVE-2021-2 (desc)\n\t- bar 2.0-1 (high)\n\t[buster] - bar 1.0-1+deb10u1\nCVE-2021-3\n\tREJECTED\nCVE-2021-4 (x)\n\t- bar <not-affected> (code not present)\n\t[buster] - bar 1.0-2\nCVE-2021-5 (x)\n\t- bar 2.0-1\n\t[buster] - bar <ignored> (Minor)\n";
        let entries = parse_cve_list(cve, "CVE/list").unwrap();
        assert_eq!(entries.len(), 4, "the rejected entry is dropped");
        let dsa = parse_list(
            List::Dsa,
            "[01 Aug 2021] DSA-5-1 bar - update\n\t{CVE-2021-1}\n\t[buster] - bar 1.0-1+deb10u2\n",
            "L",
        )
        .unwrap();
        let m = as_of(day("2021-08-24"), Some(&entries), &[], &dsa);
        let get = |id: &str| m.get(&("10".into(), "bar".into(), id.into())).cloned();
        let one = get("CVE-2021-1").unwrap();
        assert_eq!(
            one.fixed_version.as_deref(),
            Some("1.0-1+deb10u2"),
            "a DSA version replaces no-dsa"
        );
        assert_eq!((one.state, one.severity), (None, Some("LOW")));
        assert_eq!(get("CVE-2021-2").unwrap().severity, Some("HIGH"));
        assert!(get("CVE-2021-4").is_none(), "sid not-affected hides it");
        let five = get("CVE-2021-5").unwrap();
        assert_eq!(
            (five.fixed_version, five.state.as_deref()),
            (None, Some("ignored"))
        );
        assert_eq!(status_code("ignored"), 5);
        assert_eq!(status_code("removed"), 0);
    }
}
