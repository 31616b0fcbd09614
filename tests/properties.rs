//! Property tests of the parsers that read outside input: Trivy reports and scan answers
//! (`trivy`, `trivy::inventory`), Hub API responses and the staged rows made from them
//! (`hub::types`, `extract_hub::{repo_row, carry_forward, tag_rows}`), deprecation notices in
//! README Markdown (`notice`) and docker-library `library/NAME` files (`library_file`). Each
//! property says that a parser never panics, that an error names what was wrong, and what a
//! parsed value always satisfies.
//!
//! Words: a *seed* is a known-good input: a real file of the public data folder, or a small
//! one embedded here (embedded seeds always run, so a clone without the data still tests
//! something; each test prints which seeds ran). A *mutant* is a seed after one to five
//! byte-level *mutations*: a bit flip, a truncation, a deletion, a slice of the input repeated
//! elsewhere (duplicated keys and blocks), or the insertion of a hostile *fragment* (`"`, `\`,
//! `{`, `[`, NUL, invalid UTF-8, numbers out of range, emoji, bidi controls, CRLF, Markdown and
//! library-file syntax, or a run of thousands of one unit: long strings, deep nesting). A
//! *structured variant* is a JSON seed after one to four *edits* of its value tree (a node
//! replaced by a value of any type, a member removed, a key written twice, a node wrapped in an
//! array, a string or number given another value of its type): valid JSON of the wrong shape, or
//! of the right shape with odd values. A *generated* input is Markdown or a library file
//! built from a grammar of the constructs the parser distinguishes. A *boundary cut* is a seed
//! truncated right before and right after the first, middle and last byte of each kind
//! (brackets, quotes, colons, commas, digits, line ends, bytes inside a multi-byte character…),
//! enumerated rather than drawn. A *case* is one input of any of these; it *keeps* the property
//! or *breaks* it by a panic, an error that names nothing, or a value against the invariant.
//!
//! The engine is proptest (a dev-dependency: adding it changed no feature of any crate already
//! in the build, see the commit), run through a `TestRunner` with a fixed ChaCha seed per stage,
//! fixed case counts, no failure persistence and no result cache, so a run is reproducible and
//! its counts are the same every time. A broken case is shrunk by proptest (fewer mutations,
//! smaller positions, earlier seeds: the embedded ones come first) and reported with its input.
//! After each property the test records what it tried with `reliability::record`.
//!
//! Text parsers take `&str`: their byte mutants are read with `from_utf8_lossy`, as a reader
//! that replaced invalid bytes would; invalid UTF-8 itself reaches only the byte parsers.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use regex::Regex;
use serde_json::{json, Value};

use hubaudit::hub::{self, Page, RepoDetail, RepoItem, Tag};
use hubaudit::notice::{self, Notice};
use hubaudit::stages::extract_hub;
use hubaudit::trivy::{self, inventory};
use hubaudit::{library_file, public_data, reliability};

// ---------------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------------

/// A named input the engine starts from.
#[derive(Clone)]
struct Seed {
    name: String,
    bytes: Vec<u8>,
}

/// The seeds of one property: the embedded ones first (so shrinking prefers them), then the
/// real ones, and how many of each.
struct Seeds {
    all: Vec<Seed>,
    embedded: usize,
    real: usize,
    /// What the real seeds are, for the outcome text, e.g. `real reports (trivy-reports)`.
    real_what: String,
}

impl Seeds {
    fn new(embedded: &[(&str, &str)], real: Vec<Seed>, real_what: &str) -> Seeds {
        let mut all: Vec<Seed> = embedded
            .iter()
            .map(|(name, text)| Seed {
                name: format!("embedded {name}"),
                bytes: text.as_bytes().to_vec(),
            })
            .collect();
        let (embedded, real_count) = (all.len(), real.len());
        all.extend(real);
        Seeds {
            all,
            embedded,
            real: real_count,
            real_what: real_what.to_string(),
        }
    }

    /// Prints which seeds run (cargo shows it with `--nocapture` or on failure).
    fn announce(&self, test: &str) {
        let names: Vec<&str> = self.all.iter().map(|s| s.name.as_str()).collect();
        eprintln!("{test}: seeds: {}", names.join(", "));
    }

    /// The seeds in words, for the outcome.
    fn describe(&self) -> String {
        if self.real == 0 {
            format!(
                "public data missing, so {} embedded seeds only",
                self.embedded
            )
        } else {
            format!(
                "seeded with {} {} and {} embedded",
                self.real, self.real_what, self.embedded
            )
        }
    }
}

/// Every file under `part` of the public data (sorted by path, `SOURCES.md` left out), or none
/// when the test is skipped.
fn real_files(test: &str, part: &str) -> Vec<Seed> {
    let Some(dir) = public_data::require(test, part) else {
        return Vec::new();
    };
    let mut seeds = Vec::new();
    collect_files(&dir, &dir, &mut seeds);
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    seeds
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<Seed>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if path.file_name().is_some_and(|n| n != "SOURCES.md") {
            out.push(Seed {
                name: path.strip_prefix(root).unwrap().display().to_string(),
                bytes: std::fs::read(&path).unwrap(),
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The engine: mutations, edits, boundary cuts, runner
// ---------------------------------------------------------------------------------------------

/// A fragment's bytes, shown as text in failure reports.
#[derive(Clone, Copy)]
struct Bytes(&'static [u8]);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.0))
    }
}

/// Fragments every byte mutant may receive.
const FRAGMENTS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"[",
    b"}",
    b"]",
    b",",
    b":",
    b"\0",
    b"\xff",
    b"\xc3",         // a lead byte without its continuation
    b"\xed\xa0\x80", // a UTF-16 surrogate encoded as UTF-8
    b"\xc0\xaf",     // an overlong '/'
    b"\\u0000",
    b"\\ud800",
    b"\\uZZZZ",
    b"1e999",
    b"-0",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1.5",
    b"null",
    b"true",
    b"\"\"",
    b"\"x\":1,",
    "😀".as_bytes(),
    "👩‍👩‍👧".as_bytes(),
    "\u{202e}".as_bytes(), // right-to-left override
    "\u{2067}".as_bytes(), // right-to-left isolate
    "\u{200d}".as_bytes(), // zero-width joiner
    "\u{feff}".as_bytes(), // byte order mark
    b"\r\n",
    b"\r",
    b"\n\n",
    b"\t",
    b" ",
];

/// Units a long run is made of: long strings, deep nesting, endless lines.
const LONG_UNITS: &[&[u8]] = &[
    b"a",
    b"[",
    b"{\"a\":",
    b"\\\"",
    "😀".as_bytes(),
    "\u{202e}".as_bytes(),
    b"#",
    b">",
    b"`",
    b"- ",
    b"\n",
    b" ",
    b"[x](",
];

/// One byte-level change of an input.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flips bit `.1` of the byte at a position.
    Flip(Index, u8),
    /// Cuts the input at a position.
    Truncate(Index),
    /// Inserts a fragment at a position.
    Insert(Index, Bytes),
    /// Inserts `.2` copies of a unit at a position.
    InsertRun(Index, Bytes, usize),
    /// Deletes up to `.1` bytes from a position.
    Delete(Index, usize),
    /// Copies up to `len` bytes from `from` to `to`.
    Repeat { from: Index, len: usize, to: Index },
}

fn mutation(extra: &'static [&'static [u8]]) -> impl Strategy<Value = Mutation> {
    let fragments: Vec<Bytes> = FRAGMENTS.iter().chain(extra).map(|b| Bytes(b)).collect();
    let units: Vec<Bytes> = LONG_UNITS.iter().map(|b| Bytes(b)).collect();
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        5 => (any::<Index>(), select(fragments)).prop_map(|(at, f)| Mutation::Insert(at, f)),
        1 => (any::<Index>(), select(units), 1_000usize..10_000)
            .prop_map(|(at, u, n)| Mutation::InsertRun(at, u, n)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        2 => (any::<Index>(), 1usize..400, any::<Index>())
            .prop_map(|(from, len, to)| Mutation::Repeat { from, len, to }),
    ]
}

/// `seed` after `mutations`, in order.
fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in mutations {
        let (len, empty) = (b.len(), b.is_empty());
        match m {
            Mutation::Flip(at, bit) if !empty => b[at.index(len)] ^= 1 << bit,
            Mutation::Truncate(at) => b.truncate(at.index(len + 1)),
            Mutation::Insert(at, f) => {
                let i = at.index(len + 1);
                b.splice(i..i, f.0.iter().copied());
            }
            Mutation::InsertRun(at, unit, n) => {
                let i = at.index(len + 1);
                b.splice(i..i, unit.0.repeat(*n));
            }
            Mutation::Delete(at, n) if !empty => {
                let i = at.index(len);
                b.drain(i..(i + n).min(len));
            }
            Mutation::Repeat { from, len: n, to } if !empty => {
                let i = from.index(len);
                let piece = b[i..(i + n).min(len)].to_vec();
                let j = to.index(len + 1);
                b.splice(j..j, piece);
            }
            _ => {}
        }
    }
    b
}

/// Member names of every shape read here, so that generated objects hit real fields.
const KEYS: &[&str] = &[
    "SchemaVersion",
    "Results",
    "Metadata",
    "OS",
    "Family",
    "Name",
    "EOSL",
    "ImageID",
    "DiffIDs",
    "ArtifactType",
    "Target",
    "Class",
    "Type",
    "Packages",
    "Vulnerabilities",
    "VulnerabilityID",
    "PkgName",
    "InstalledVersion",
    "FixedVersion",
    "Status",
    "Severity",
    "Title",
    "os",
    "family",
    "name",
    "eosl",
    "results",
    "target",
    "class",
    "vulnerabilities",
    "vulnerability_id",
    "fixed_version",
    "status",
    "severity",
    "count",
    "next",
    "namespace",
    "description",
    "full_description",
    "star_count",
    "pull_count",
    "last_updated",
    "date_registered",
    "status_description",
    "full_size",
    "tag_status",
    "images",
    "architecture",
    "variant",
    "digest",
    "size",
    "last_pulled",
    "last_pushed",
    "",
    "x",
];

/// Strings a generated value may hold.
const STRINGS: &[&str] = &[
    "",
    "os-pkgs",
    "lang-pkgs",
    "debian",
    "alpine",
    "CVE-2021-3711",
    "fixed",
    "CRITICAL",
    "2021-08-24T06:00:00Z",
    "2021-02-30T25:61:61Z",
    "not a date",
    "https://hub.docker.com/v2/repositories/library/?page=2",
    "https://evil.example/v2/",
    "/tmp/x.tar (debian 10.10)",
    " (",
    "(debian",
    "# DEPRECATION NOTICE\n\nDeprecated in favor of [x](https://hub.docker.com/_/node).",
    "# DEPRECATION NOTICE\r\n\r\nDeprecated in favor of `python:3`.\r\n",
    "😀\u{202e}\u{200d}",
    "\u{0}",
    "a\"b\\c",
    "\u{feff}",
];

/// Any JSON value, nested up to three levels, with the keys and strings above.
fn json_value() -> impl Strategy<Value = Value> {
    let numbers = vec![
        json!(0),
        json!(-1),
        json!(2),
        json!(3),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.5),
        json!(-0.0),
        json!(1e300),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        select(numbers),
        select(STRINGS).prop_map(|s| Value::String(s.to_string())),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((select(KEYS), inner), 0..4).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// One edit of a JSON value tree; the index picks the node (or member) among all of them.
#[derive(Clone, Debug)]
enum Edit {
    /// The node becomes the value (another type, null, a number where a string was…).
    Replace(Index, Value),
    /// The member or element is removed (a missing field).
    Remove(Index),
    /// The object's first member is written twice (a duplicated key).
    DuplicateKey(Index),
    /// The node becomes a one-element array.
    Wrap(Index),
    /// A string node becomes the string, a number the number, a boolean its opposite: the
    /// shape stays right and the values turn odd (dates that are none, names with emoji).
    SameType(Index, String, i64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), json_value()).prop_map(|(at, v)| Edit::Replace(at, v)),
        3 => any::<Index>().prop_map(Edit::Remove),
        1 => any::<Index>().prop_map(Edit::DuplicateKey),
        1 => any::<Index>().prop_map(Edit::Wrap),
        4 => (
            any::<Index>(),
            prop_oneof![select(STRINGS).prop_map(str::to_string), "\\PC{0,12}"],
            prop_oneof![select(vec![0, -1, i64::MAX, i64::MIN, 2_147_483_648]), any::<i64>()],
        )
            .prop_map(|(at, text, number)| Edit::SameType(at, text, number)),
    ]
}

/// A step of a path into a JSON value.
#[derive(Clone)]
enum Step {
    Key(String),
    At(usize),
}

/// Every node's path, in pre-order (the root first).
fn node_paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                prefix.push(Step::At(i));
                node_paths(item, prefix, out);
                prefix.pop();
            }
        }
        Value::Object(members) => {
            for (k, item) in members {
                prefix.push(Step::Key(k.clone()));
                node_paths(item, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(mut v: &'a Value, path: &[Step]) -> &'a Value {
    for step in path {
        v = match step {
            Step::Key(k) => &v[k.as_str()],
            Step::At(i) => &v[*i],
        };
    }
    v
}

fn node_mut<'a>(mut v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    for step in path {
        v = match step {
            Step::Key(k) => &mut v[k.as_str()],
            Step::At(i) => &mut v[*i],
        };
    }
    v
}

/// `seed` (valid JSON) after `edits`, serialized; duplicated keys are spliced into the text
/// because a `Value` cannot hold them.
fn edit_json(seed: &Value, edits: &[Edit]) -> Vec<u8> {
    let mut root = seed.clone();
    let mut duplicates = Vec::new();
    for e in edits {
        let mut paths = Vec::new();
        node_paths(&root, &mut Vec::new(), &mut paths);
        match e {
            Edit::Replace(at, with) => {
                *node_mut(&mut root, &paths[at.index(paths.len())]) = with.clone()
            }
            Edit::SameType(at, text, number) => {
                let node = node_mut(&mut root, &paths[at.index(paths.len())]);
                match node {
                    Value::String(_) => *node = Value::String(text.clone()),
                    Value::Number(_) => *node = json!(number),
                    Value::Bool(b) => *b = !*b,
                    _ => {}
                }
            }
            Edit::Wrap(at) => {
                let node = node_mut(&mut root, &paths[at.index(paths.len())]);
                *node = Value::Array(vec![node.take()]);
            }
            Edit::Remove(at) => {
                if paths.len() > 1 {
                    let path = &paths[1 + at.index(paths.len() - 1)];
                    let (last, parent) = path.split_last().expect("not the root");
                    match (node_mut(&mut root, parent), last) {
                        (Value::Object(m), Step::Key(k)) => {
                            m.remove(k);
                        }
                        (Value::Array(a), Step::At(i)) => {
                            a.remove(*i);
                        }
                        _ => unreachable!("paths follow the tree"),
                    }
                }
            }
            Edit::DuplicateKey(at) => {
                let objects: Vec<&Vec<Step>> = paths
                    .iter()
                    .filter(|p| node(&root, p).as_object().is_some_and(|m| !m.is_empty()))
                    .collect();
                if objects.is_empty() {
                    continue;
                }
                let node = node_mut(&mut root, objects[at.index(objects.len())]);
                let members = node.as_object().expect("filtered on objects");
                let (k, v) = members.iter().next().expect("filtered on non-empty");
                let first = format!("{}:{}", json!(k), v);
                let all = serde_json::to_string(node).unwrap();
                let text = format!("{{{first},{}", &all[1..]);
                let marker = format!("\u{1}duplicate {}\u{1}", duplicates.len());
                duplicates.push((serde_json::to_string(&marker).unwrap(), text));
                *node = Value::String(marker);
            }
        }
    }
    let mut text = serde_json::to_string(&root).unwrap();
    for (marker, replacement) in duplicates {
        text = text.replacen(&marker, &replacement, 1);
    }
    text.into_bytes()
}

/// Byte kinds a boundary cut is made at.
const JSON_BOUNDARIES: &[fn(u8) -> bool] = &[
    |b| b == b'{',
    |b| b == b'}',
    |b| b == b'[',
    |b| b == b']',
    |b| b == b'"',
    |b| b == b':',
    |b| b == b',',
    |b| b == b'\\',
    |b| b == b'\n',
    |b| b.is_ascii_digit(),
    |b| b.is_ascii_alphabetic(),
    |b| (0x80..0xc0).contains(&b), // inside a multi-byte character
];

const TEXT_BOUNDARIES: &[fn(u8) -> bool] = &[
    |b| b == b'\n',
    |b| b == b'\r',
    |b| b == b'#',
    |b| b == b':',
    |b| b == b',',
    |b| b == b'`',
    |b| b == b'[',
    |b| b == b']',
    |b| b == b'(',
    |b| b == b')',
    |b| b == b'*',
    |b| b == b'.',
    |b| b == b'-',
    |b| b == b' ' || b == b'\t',
    |b| (0x80..0xc0).contains(&b),
];

/// Positions to cut `bytes` at: before and after the first, middle and last byte of each kind,
/// plus the empty input and the input less its last byte.
fn boundary_cuts(bytes: &[u8], kinds: &[fn(u8) -> bool]) -> Vec<usize> {
    let mut cuts = vec![0, bytes.len().saturating_sub(1)];
    for kind in kinds {
        let at: Vec<usize> = (0..bytes.len()).filter(|&i| kind(bytes[i])).collect();
        if let (Some(first), Some(last)) = (at.first(), at.last()) {
            for i in [*first, at[at.len() / 2], *last] {
                cuts.extend([i, i + 1]);
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// What a case that kept the property did, by label (`parsed`, `rejected`, `with a target`…).
type Verdict = &'static str;

/// A property: checks one input, returning its verdict or why it broke the property.
type Check<'a> = &'a dyn Fn(&[u8]) -> Result<Verdict, String>;

/// The cases of one property so far.
#[derive(Default)]
struct Tally {
    verdicts: BTreeMap<&'static str, u64>,
    /// Cases by stage (`mutants`, `structured variants`, `generated`, `boundary cuts`).
    stages: Vec<(&'static str, u64)>,
}

impl Tally {
    fn cases(&self) -> u64 {
        self.stages.iter().map(|(_, n)| n).sum()
    }

    fn count(&self, verdict: &str) -> u64 {
        self.verdicts.get(verdict).copied().unwrap_or(0)
    }

    /// `800 mutants, 200 structured variants, 310 boundary cuts`.
    fn stages(&self) -> String {
        let parts: Vec<String> = self
            .stages
            .iter()
            .map(|(stage, n)| format!("{} {stage}", thousands(*n)))
            .collect();
        parts.join(", ")
    }
}

/// `1432` → `1,432`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs `check` on `input`, turning a panic into a broken property.
fn run_case(check: Check, input: &[u8]) -> Result<Verdict, String> {
    catch_unwind(AssertUnwindSafe(|| check(input))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-text panic>".into());
        Err(format!("panicked: {message}"))
    })
}

/// An input as shown in a failure report: whole when short, else its ends.
fn show(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    if input.len() <= 3_000 {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(1_500).collect();
        let tail: String = text
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("({} bytes) {head:?} … {tail:?}", input.len())
    }
}

/// A runner for `cases` cases whose ChaCha seed derives from `stage` (FNV-1a), so every stage
/// of every property draws its own fixed sequence.
fn runner(stage: &str, cases: u32) -> TestRunner {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stage.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&hash.rotate_left(i as u32 * 16).to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        // shrinking only runs on a failure; bounded so a failing run still ends soon
        max_shrink_iters: 4_000,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}

/// Draws `cases` values of `strategy`, renders each to an input and checks it; panics with the
/// shrunk failing input when a case breaks the property.
fn explore<S: Strategy>(
    test: &str,
    stage: &'static str,
    cases: u32,
    strategy: S,
    render: impl Fn(&S::Value) -> Vec<u8>,
    check: Check,
    tally: &mut Tally,
) {
    let counts = RefCell::new(BTreeMap::<&'static str, u64>::new());
    let result = runner(&format!("{test}/{stage}"), cases).run(&strategy, |value| {
        let input = render(&value);
        match run_case(check, &input) {
            Ok(verdict) => {
                *counts.borrow_mut().entry(verdict).or_default() += 1;
                Ok(())
            }
            Err(why) => Err(TestCaseError::fail(format!(
                "{why}\n  input: {}",
                show(&input)
            ))),
        }
    });
    if let Err(e) = result {
        panic!("{test}: a {stage} case breaks the property: {e}");
    }
    for (verdict, n) in counts.into_inner() {
        *tally.verdicts.entry(verdict).or_default() += n;
    }
    tally.stages.push((stage, u64::from(cases)));
}

/// Mutants of every seed.
fn explore_mutants(
    test: &str,
    seeds: &Seeds,
    cases: u32,
    extra: &'static [&'static [u8]],
    check: Check,
    tally: &mut Tally,
) {
    let strategy = (
        0..seeds.all.len(),
        prop::collection::vec(mutation(extra), 1..=5),
    );
    explore(
        test,
        "mutants",
        cases,
        strategy,
        |(seed, mutations)| mutate(&seeds.all[*seed].bytes, mutations),
        check,
        tally,
    );
}

/// Structured variants of the seeds that are JSON.
fn explore_structured(test: &str, seeds: &Seeds, cases: u32, check: Check, tally: &mut Tally) {
    let values: Vec<Value> = seeds
        .all
        .iter()
        .filter_map(|s| serde_json::from_slice(&s.bytes).ok())
        .collect();
    assert!(!values.is_empty(), "{test}: no JSON seed");
    let strategy = (0..values.len(), prop::collection::vec(edit(), 1..=4));
    explore(
        test,
        "structured variants",
        cases,
        strategy,
        |(seed, edits)| edit_json(&values[*seed], edits),
        check,
        tally,
    );
}

/// Every boundary cut of every seed.
fn explore_cuts(
    test: &str,
    seeds: &Seeds,
    kinds: &[fn(u8) -> bool],
    check: Check,
    tally: &mut Tally,
) {
    let mut n = 0;
    for seed in &seeds.all {
        for cut in boundary_cuts(&seed.bytes, kinds) {
            let input = &seed.bytes[..cut.min(seed.bytes.len())];
            match run_case(check, input) {
                Ok(verdict) => *tally.verdicts.entry(verdict).or_default() += 1,
                Err(why) => panic!(
                    "{test}: {} cut at byte {cut} breaks the property: {why}\n  input: {}",
                    seed.name,
                    show(input)
                ),
            }
            n += 1;
        }
    }
    tally.stages.push(("boundary cuts", n));
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why())
    }
}

/// The first byte that is not ASCII whitespace.
fn first_byte(input: &[u8]) -> Option<u8> {
    input.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// serde_json's errors on text name where: `… at line L column C`.
fn names_position(e: &str) -> bool {
    e.contains(" at line ") && e.contains(" column ")
}

/// serde's errors on a value name the field or the expected shape.
fn names_field_or_shape(e: &str) -> bool {
    e.contains("field `") || e.contains("expected")
}

// ---------------------------------------------------------------------------------------------
// Trivy
// ---------------------------------------------------------------------------------------------

/// A SchemaVersion 2 report in the shape Trivy 0.76 prints with `--list-all-pkgs`.
const REPORT_V2: &str = r#"{"SchemaVersion":2,"ReportID":"r-1","CreatedAt":"2026-01-01T00:00:00Z","ArtifactName":"/tmp/work/alpine/3.9.tar","ArtifactType":"container_image","Metadata":{"OS":{"Family":"alpine","Name":"3.9.4","EOSL":true},"ImageID":"sha256:055936d3","DiffIDs":["sha256:f1b5933f"],"RepoTags":["alpine:3.9"]},"Results":[{"Target":"/tmp/work/alpine/3.9.tar (alpine 3.9.4)","Class":"os-pkgs","Type":"alpine","Packages":[{"ID":"musl@1.1.20-r4","Name":"musl","Version":"1.1.20-r4","Epoch":0,"Arch":"x86_64","SrcName":"musl","SrcVersion":"1.1.20-r4","Licenses":["MIT"],"Identifier":{"PURL":"pkg:apk/alpine/musl@1.1.20-r4","UID":"u1"},"Layer":{"DiffID":"sha256:f1b5933f"}}],"Vulnerabilities":[{"VulnerabilityID":"CVE-2019-14697","PkgName":"musl","InstalledVersion":"1.1.20-r4","FixedVersion":"1.1.20-r5","Status":"fixed","Severity":"CRITICAL","Title":"musl libc through 1.1.23 has an x87 floating-point stack adjustment imbalance"},{"VulnerabilityID":"CVE-2020-28928","PkgName":"musl","InstalledVersion":"1.1.20-r4","FixedVersion":"","Status":"affected","Severity":"MEDIUM"}]},{"Target":"opt/app/lib/log4j-1.2.17.jar","Class":"lang-pkgs","Type":"jar","Packages":[{"Name":"log4j:log4j","Version":"1.2.17","FilePath":"opt/app/lib/log4j-1.2.17.jar","Dev":false,"Indirect":true}],"Vulnerabilities":[{"VulnerabilityID":"CVE-2019-17571","PkgName":"log4j:log4j","InstalledVersion":"1.2.17","FixedVersion":"2.0-alpha1","Severity":"CRITICAL"}]}]}"#;

/// A pre-0.20 report: a top-level array of results, no Status, no Metadata.
const REPORT_LEGACY: &str = r#"[{"Target":"alpine:3.9 (alpine 3.9.4)","Type":"alpine","Class":"os-pkgs","Vulnerabilities":[{"VulnerabilityID":"CVE-2019-14697","PkgName":"musl","InstalledVersion":"1.1.20-r4","FixedVersion":"1.1.20-r5","Severity":"CRITICAL","Title":"musl: x87 stack imbalance"},{"VulnerabilityID":"CVE-2019-1549","PkgName":"libcrypto1.1","InstalledVersion":"1.1.1b-r1","Severity":"MEDIUM"}]},{"Target":"node-pkg","Type":"node-pkg","Class":"lang-pkgs","Vulnerabilities":null}]"#;

/// A clean v2 report: no Results at all.
const REPORT_CLEAN: &str = r#"{"SchemaVersion":2,"ArtifactName":"scratch.tar","ArtifactType":"container_image","Metadata":{"ImageID":"sha256:0"}}"#;

/// A `ScanResponse` as the Trivy server answers (Twirp JSON, proto field names).
const SCAN_ANSWER: &str = r#"{"os":{"family":"debian","name":"10.10","eosl":true},"results":[{"target":"library/nuxeo@sha256:d (debian 10.10)","class":"os-pkgs","type":"debian","vulnerabilities":[{"vulnerability_id":"CVE-2021-3711","pkg_name":"libssl1.1","installed_version":"1.1.1d-0+deb10u6","fixed_version":"1.1.1d-0+deb10u7","status":3,"severity":"CRITICAL","title":"openssl: SM2 Decryption Buffer Overflow"},{"vulnerability_id":"CVE-2007-6755","pkg_name":"libssl1.1","installed_version":"1.1.1d-0+deb10u6","status":5,"severity":"LOW"}]},{"target":"opt/nuxeo/server/lib/log4j-1.2.17.jar","class":"lang-pkgs","type":"jar"}]}"#;

const TRIVY_EMBEDDED: &[(&str, &str)] = &[
    ("v2 report", REPORT_V2),
    ("legacy report", REPORT_LEGACY),
    ("clean v2 report", REPORT_CLEAN),
    ("scan answer", SCAN_ANSWER),
];

/// Fragments of Trivy's own JSON.
const TRIVY_FRAGMENTS: &[&[u8]] = &[
    b"\"SchemaVersion\":2,",
    b"\"SchemaVersion\":null,",
    b"\"Results\":null,",
    b"\"Results\":{},",
    b"\"Vulnerabilities\":[{}],",
    b"\"VulnerabilityID\":1,",
    b"\"FixedVersion\":\"\",",
    b"\"status\":\"3\",",
    b"\"vulnerability_id\":\"\",",
    b" (debian 10.10)",
];

fn trivy_seeds(test: &str) -> Seeds {
    Seeds::new(
        TRIVY_EMBEDDED,
        real_files(test, "trivy-reports"),
        "real reports (trivy-reports)",
    )
}

/// Property: `parse_report` parses a report of either schema, or says why not and quotes the
/// start of the output (what a user needs when Trivy printed a usage text or a half report).
/// A parsed report's schema follows its first byte (`[` legacy, `{` 2), and a fixed version is
/// never the empty string (that is "no fix").
fn check_parse_report(input: &[u8]) -> Result<Verdict, String> {
    match trivy::parse_report(input) {
        Ok(report) => {
            let expected = if first_byte(input) == Some(b'[') {
                "legacy"
            } else {
                "2"
            };
            ensure(report.schema == expected, || {
                format!(
                    "schema {:?} for an input starting with {:?}",
                    report.schema,
                    first_byte(input).map(char::from)
                )
            })?;
            for f in &report.findings {
                ensure(f.fixed_version.as_deref() != Some(""), || {
                    format!(
                        "{}: an empty fixed version counts as a fix",
                        f.vulnerability_id
                    )
                })?;
            }
            Ok("parsed")
        }
        Err(e) => {
            let start = format!(
                "{:?}",
                String::from_utf8_lossy(&input[..input.len().min(60)])
            );
            ensure(e.contains(&start), || {
                format!("the error does not quote the start of the output ({start}): {e}")
            })?;
            Ok("rejected")
        }
    }
}

#[test]
fn trivy_parse_report_never_panics_and_quotes_bad_output() {
    let test = "properties::trivy_parse_report_never_panics_and_quotes_bad_output";
    let seeds = trivy_seeds(test);
    seeds.announce(test);
    let mut tally = Tally::default();
    let check: Check = &check_parse_report;
    explore_mutants(test, &seeds, 1_000, TRIVY_FRAGMENTS, check, &mut tally);
    explore_structured(test, &seeds, 400, check, &mut tally);
    explore_cuts(test, &seeds, JSON_BOUNDARIES, check, &mut tally);
    let outcome = format!(
        "no panic; {} inputs parsed, {} rejected with an error quoting the start of the output; {} ({})",
        thousands(tally.count("parsed")),
        thousands(tally.count("rejected")),
        seeds.describe(),
        tally.stages()
    );
    reliability::record("property", "trivy::parse_report", tally.cases(), &outcome);
}

/// Artifact names an inventory is written under, picked by input length.
const ARTIFACTS: &[&str] = &[
    "library/nuxeo@sha256:d",
    "",
    "a\"b\\c\u{0}",
    "😀\u{202e}library/x",
];

/// Property: `from_printed` makes an inventory of a printed report, or says what is wrong with
/// it (serde's position). An inventory is an object named after the artifact, keeps no
/// vulnerabilities, and is accepted by `blob_info` (the rescan reads it back).
fn check_from_printed(input: &[u8]) -> Result<Verdict, String> {
    let artifact = ARTIFACTS[input.len() % ARTIFACTS.len()];
    match inventory::from_printed(input, artifact) {
        Ok(inv) => {
            ensure(first_byte(input) == Some(b'{'), || {
                format!("an input that is not a JSON object became the inventory {inv}")
            })?;
            ensure(inv["ArtifactName"] == artifact, || {
                format!(
                    "ArtifactName {} instead of {artifact:?}",
                    inv["ArtifactName"]
                )
            })?;
            let results = inv["Results"].as_array().cloned().unwrap_or_default();
            ensure(
                results.iter().all(|r| r.get("Vulnerabilities").is_none()),
                || "an inventory keeps vulnerabilities".into(),
            )?;
            let _ = inventory::package_count(&inv);
            inventory::blob_info(&inv)
                .map_err(|e| format!("blob_info rejects an inventory from_printed made: {e}"))?;
            Ok("parsed")
        }
        Err(e) => {
            ensure(
                e.starts_with("the report is not a Trivy JSON report")
                    && (names_position(&e) || e.contains("starts with")),
                || format!("the error names neither the position nor the start: {e}"),
            )?;
            Ok("rejected")
        }
    }
}

#[test]
fn trivy_inventory_from_printed_never_panics_and_names_bad_reports() {
    let test = "properties::trivy_inventory_from_printed_never_panics_and_names_bad_reports";
    let seeds = trivy_seeds(test);
    seeds.announce(test);
    let mut tally = Tally::default();
    let check: Check = &check_from_printed;
    explore_mutants(test, &seeds, 800, TRIVY_FRAGMENTS, check, &mut tally);
    explore_structured(test, &seeds, 300, check, &mut tally);
    explore_cuts(test, &seeds, JSON_BOUNDARIES, check, &mut tally);
    // blob_info reads inventories back from disk (1_raw/sbom): structured variants of the
    // seeds' inventories must not panic it.
    let inventories: Vec<Value> = seeds
        .all
        .iter()
        .filter_map(|s| inventory::from_printed(&s.bytes, "library/x@sha256:0").ok())
        .collect();
    explore(
        test,
        "inventory variants given to blob_info",
        500,
        (0..inventories.len(), prop::collection::vec(edit(), 1..=4)),
        |(i, edits)| edit_json(&inventories[*i], edits),
        &|input| {
            // duplicated keys are still JSON to serde_json (the last one wins)
            let v: Value = serde_json::from_slice(input).expect("edits keep JSON");
            let _ = inventory::package_count(&v);
            match inventory::blob_info(&v) {
                Ok(_) => Ok("blob_info accepted"),
                Err(e) => {
                    ensure(e.contains("Results"), || {
                        format!("blob_info's error names nothing: {e}")
                    })?;
                    Ok("blob_info rejected")
                }
            }
        },
        &mut tally,
    );
    let outcome = format!(
        "no panic; {} reports became inventories (each accepted back by blob_info), {} rejected with an error naming the position or the start; {} inventory variants given to blob_info ({} accepted, {} rejected naming Results); {} ({})",
        thousands(tally.count("parsed")),
        thousands(tally.count("rejected")),
        thousands(tally.count("blob_info accepted") + tally.count("blob_info rejected")),
        thousands(tally.count("blob_info accepted")),
        thousands(tally.count("blob_info rejected")),
        seeds.describe(),
        tally.stages()
    );
    reliability::record(
        "property",
        "trivy::inventory::from_printed",
        tally.cases(),
        &outcome,
    );
}

/// A printed report re-keyed as the server's `ScanResponse` (proto field names, numeric
/// statuses), so that the real reports seed the scan-answer parser too.
fn as_scan_answer(report: &Value) -> Value {
    let results = match report {
        Value::Array(results) => results.clone(),
        _ => report["Results"].as_array().cloned().unwrap_or_default(),
    };
    let status = |s: &Value| match s.as_str() {
        Some("not_affected") => 1,
        Some("affected") => 2,
        Some("fixed") => 3,
        Some("will_not_fix") => 5,
        _ => 0,
    };
    let os = &report["Metadata"]["OS"];
    json!({
        "os": {"family": os["Family"], "name": os["Name"], "eosl": os["EOSL"].as_bool().unwrap_or(false)},
        "results": results.iter().map(|r| json!({
            "target": r["Target"], "class": r["Class"], "type": r["Type"],
            "vulnerabilities": r["Vulnerabilities"].as_array().cloned().unwrap_or_default().iter().map(|v| json!({
                "vulnerability_id": v["VulnerabilityID"], "pkg_name": v["PkgName"],
                "installed_version": v["InstalledVersion"], "fixed_version": v["FixedVersion"].as_str().unwrap_or_default(),
                "status": status(&v["Status"]), "severity": v["Severity"], "title": v["Title"].as_str().unwrap_or_default(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

const STATUS_NAMES: &[&str] = &[
    "not_affected",
    "affected",
    "fixed",
    "under_investigation",
    "will_not_fix",
    "fix_deferred",
    "end_of_life",
    "unknown",
];

/// Property: `report_from_scan` reads the server's answer, or says why not and quotes its
/// start, or names the finding without an id. Only a JSON object is an answer; every finding
/// has an id and a status name.
fn check_report_from_scan(input: &[u8]) -> Result<Verdict, String> {
    match inventory::report_from_scan(input) {
        Ok(report) => {
            ensure(first_byte(input) == Some(b'{'), || {
                format!(
                    "an input that is not a JSON object was read as an answer with {} finding(s)",
                    report.findings.len()
                )
            })?;
            ensure(report.schema == "rpc", || {
                format!("schema {:?}", report.schema)
            })?;
            for f in &report.findings {
                ensure(!f.vulnerability_id.is_empty(), || {
                    "a finding without an id".into()
                })?;
                ensure(STATUS_NAMES.contains(&f.status.as_str()), || {
                    format!("status {:?} is no status name", f.status)
                })?;
            }
            Ok("parsed")
        }
        Err(e) => {
            let start = String::from_utf8_lossy(&input[..input.len().min(200)]);
            ensure(
                e.contains(start.as_ref()) || e.contains("without an id"),
                || {
                    format!("the error neither quotes the start of the answer nor names the finding: {e}")
                },
            )?;
            Ok("rejected")
        }
    }
}

#[test]
fn trivy_report_from_scan_never_panics_and_quotes_bad_answers() {
    let test = "properties::trivy_report_from_scan_never_panics_and_quotes_bad_answers";
    let reports = real_files(test, "trivy-reports");
    let real: Vec<Seed> = reports
        .iter()
        .map(|s| Seed {
            name: format!("{} as a scan answer", s.name),
            bytes: serde_json::to_vec(&as_scan_answer(
                &serde_json::from_slice(&s.bytes).expect("a real report is JSON"),
            ))
            .unwrap(),
        })
        .collect();
    let seeds = Seeds::new(
        TRIVY_EMBEDDED,
        real,
        "real reports (trivy-reports) re-keyed as scan answers",
    );
    seeds.announce(test);
    let mut tally = Tally::default();
    let check: Check = &check_report_from_scan;
    explore_mutants(test, &seeds, 600, TRIVY_FRAGMENTS, check, &mut tally);
    explore_structured(test, &seeds, 300, check, &mut tally);
    explore_cuts(test, &seeds, JSON_BOUNDARIES, check, &mut tally);
    let outcome = format!(
        "no panic; {} answers parsed, {} rejected with an error quoting the start of the answer or naming the finding without an id; {} ({})",
        thousands(tally.count("parsed")),
        thousands(tally.count("rejected")),
        seeds.describe(),
        tally.stages()
    );
    reliability::record(
        "property",
        "trivy::inventory::report_from_scan",
        tally.cases(),
        &outcome,
    );
}

// ---------------------------------------------------------------------------------------------
// Hub API
// ---------------------------------------------------------------------------------------------

const HUB_LIST: &str = r#"{"count":3,"next":"https://hub.docker.com/v2/namespaces/library/repositories?page=2&page_size=2","previous":null,"results":[{"name":"nginx","namespace":"library","repository_type":"image","status":1,"status_description":"active","description":"Official build of Nginx.","is_private":false,"star_count":19000,"pull_count":1000000000,"last_updated":"2021-08-20T05:21:27.541877Z","date_registered":"2014-06-05T19:14:45.387807Z","content_types":["image"]},{"name":"java","namespace":"library","description":null,"star_count":null,"pull_count":2147483647,"last_updated":null,"date_registered":"2014-06-05T19:14:45Z","status_description":"inactive"}]}"#;

const HUB_DETAIL: &str = r#"{"user":"library","name":"java","namespace":"library","status":1,"description":"DEPRECATED; use \"openjdk\" (or other JDK implementations) instead","full_description":"<!--\n\nWARNING:\n\n    DO NOT EDIT\n\n-->\n\n# **DEPRECATION NOTICE**\n\nThis image is officially deprecated in favor of [the `openjdk` image](https://hub.docker.com/_/openjdk/) for all future tag releases. Please adjust your usage accordingly.\n\n# Quick reference\n\n-\t**Maintained by**:  \n\t[the Docker Community](https://github.com/docker-library/openjdk)\n","star_count":1990,"pull_count":2147483647,"last_updated":"2019-03-05T22:12:33.000Z"}"#;

const HUB_TAGS: &str = r#"{"count":2,"next":null,"previous":null,"results":[{"creator":7,"id":1,"name":"latest","full_size":54123456,"last_updated":"2021-08-17T18:29:17.081421Z","tag_status":"active","images":[{"architecture":"amd64","features":"","variant":null,"digest":"sha256:e1c082e3d3c45cccac829840a25941e679c25d438cc8412c2fa221cf1a824e6a","os":"linux","os_features":"","os_version":null,"size":54123456,"status":"active","last_pulled":"2021-08-24T00:00:00Z","last_pushed":"2021-08-17T18:29:15Z"},{"architecture":"arm","os":"linux","variant":"v7","digest":"sha256:2b8e","size":48000000,"last_pulled":null,"last_pushed":"2021-08-17T18:30:00.5+02:00"},{"architecture":"arm64","os":"linux","variant":"","digest":null,"size":null}]},{"name":"old","full_size":null,"last_updated":null,"tag_status":"inactive","images":[]}]}"#;

const HUB_EMBEDDED: &[(&str, &str)] = &[
    ("repository list page", HUB_LIST),
    ("repository detail", HUB_DETAIL),
    ("tag page", HUB_TAGS),
];

/// Fragments of the Hub's JSON.
const HUB_FRAGMENTS: &[&[u8]] = &[
    b"\"name\":null,",
    b"\"name\":7,",
    b"\"results\":null,",
    b"\"results\":[{}],",
    b"\"images\":null,",
    b"\"pull_count\":\"1\",",
    b"\"pull_count\":9223372036854775808,",
    b"\"full_description\":\"# DEPRECATION NOTICE\\r\\n\\r\\nDeprecated in favor of [x](https://hub.docker.com/_/x-).\",",
    b"\"last_updated\":\"2021-13-01T00:00:00Z\",",
];

/// The Hub seeds: the embedded ones, the real list page and the real detail and tag page
/// (one capture holding both, split here).
fn hub_seeds(test: &str) -> Seeds {
    let mut real = Vec::new();
    if let Some(dir) = public_data::require(test, "hub-api") {
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
        real.push(Seed {
            name: "hub-api/list-namespace-repositories.bbot-fixture.json".into(),
            bytes: read("list-namespace-repositories.bbot-fixture.json"),
        });
        let both: Value =
            serde_json::from_slice(&read("repo-detail-and-tags.xmrig2021-r2021.json")).unwrap();
        for key in ["repo_detail", "tags"] {
            real.push(Seed {
                name: format!("hub-api/repo-detail-and-tags.xmrig2021-r2021.json {key}"),
                bytes: serde_json::to_vec_pretty(&both[key]).unwrap(),
            });
        }
    }
    Seeds::new(HUB_EMBEDDED, real, "real Hub responses (hub-api)")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 8, 24, 6, 0, 0).unwrap()
}

static LIST_ITEM: LazyLock<RepoItem> = LazyLock::new(|| {
    serde_json::from_value::<Page<RepoItem>>(serde_json::from_str(HUB_LIST).unwrap())
        .unwrap()
        .results[1]
        .clone()
});

static DETAIL: LazyLock<RepoDetail> = LazyLock::new(|| serde_json::from_str(HUB_DETAIL).unwrap());

/// Reads a body as the client does: text to a JSON value (`io::http`), then the value to the
/// type (`hub::parse`). A text error names the position, a shape error the field or shape.
fn read_hub<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<Result<T, Verdict>, String> {
    let value: Value = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(e) => {
            let e = e.to_string();
            ensure(names_position(&e), || {
                format!("the JSON error names no position: {e}")
            })?;
            return Ok(Err("not JSON"));
        }
    };
    match serde_json::from_value::<T>(value) {
        Ok(t) => Ok(Ok(t)),
        Err(e) => {
            let e = e.to_string();
            ensure(names_field_or_shape(&e), || {
                format!("the shape error names no field nor shape: {e}")
            })?;
            Ok(Err("wrong shape"))
        }
    }
}

/// Property: a list page is read or rejected with a named reason; every item becomes a row
/// with its own name, namespace, counts and dates (`repo_row`), a carried-forward row keeps the
/// old notice and takes the new list fields (`carry_forward`), and `next` is checked for its
/// origin without panicking.
fn check_repo_page(input: &[u8]) -> Result<Verdict, String> {
    let page: Page<RepoItem> = match read_hub(input)? {
        Ok(page) => page,
        Err(verdict) => return Ok(verdict),
    };
    if let Some(next) = &page.next {
        let _ = hub::same_origin("https://hub.docker.com", next);
    }
    for item in &page.results {
        let row = extract_hub::repo_row(item, &DETAIL, "hub", t0(), t0());
        ensure(row.name == item.name, || {
            format!("row {:?} for item {:?}", row.name, item.name)
        })?;
        ensure(
            row.pull_count == item.pull_count && row.star_count == item.star_count,
            || format!("{}: counts changed on the way into the row", item.name),
        )?;
        ensure(
            row.namespace == item.namespace.clone().unwrap_or_default(),
            || {
                format!(
                    "{}: namespace {:?} from {:?}",
                    item.name, row.namespace, item.namespace
                )
            },
        )?;
        let parsed = item
            .last_updated
            .as_deref()
            .and_then(hubaudit::dates::parse_timestamp);
        ensure(row.last_updated == parsed, || {
            format!("{}: last_updated changed", item.name)
        })?;
        let old = extract_hub::repo_row(&LIST_ITEM, &DETAIL, "hub", t0(), t0());
        let carried = extract_hub::carry_forward(&old, item, "hub", t0());
        ensure(
            carried.carried_forward
                && carried.name == item.name
                && carried.notice_text == old.notice_text
                && carried.deprecation_targets == old.deprecation_targets
                && carried.pull_count == item.pull_count,
            || format!("{}: carry_forward mixed old and new fields", item.name),
        )?;
    }
    Ok("parsed")
}

/// Property: a detail is read or rejected with a named reason; its row is deprecated exactly
/// when the README has a notice, and the notice text is part of the README.
fn check_detail(input: &[u8]) -> Result<Verdict, String> {
    let detail: RepoDetail = match read_hub(input)? {
        Ok(detail) => detail,
        Err(verdict) => return Ok(verdict),
    };
    let row = extract_hub::repo_row(&LIST_ITEM, &detail, "hub", t0(), t0());
    let readme = detail.full_description.as_deref();
    ensure(
        row.deprecated == readme.and_then(notice::find_notice).is_some(),
        || "deprecated disagrees with find_notice".into(),
    )?;
    if let (Some(text), Some(readme)) = (&row.notice_text, readme) {
        ensure(readme.contains(text.as_str()), || {
            format!("the notice text {text:?} is not part of the README")
        })?;
    }
    Ok(if row.deprecated {
        "parsed, deprecated"
    } else {
        "parsed"
    })
}

/// Property: a tag page is read or rejected with a named reason; `tag_rows` gives one row per
/// tag × image (one for a tag without images), in order, never an empty variant.
fn check_tags(input: &[u8]) -> Result<Verdict, String> {
    let page: Page<Tag> = match read_hub(input)? {
        Ok(page) => page,
        Err(verdict) => return Ok(verdict),
    };
    let rows = extract_hub::tag_rows("r", &page.results, "hub", t0());
    let expected: Vec<&str> = page
        .results
        .iter()
        .flat_map(|t| std::iter::repeat_n(t.name.as_str(), t.images.len().max(1)))
        .collect();
    let got: Vec<&str> = rows.iter().map(|r| r.tag.as_str()).collect();
    ensure(got == expected, || {
        format!("tag rows {got:?}, expected {expected:?}")
    })?;
    ensure(
        rows.iter().all(|r| r.variant.as_deref() != Some("")),
        || "an empty variant survived".into(),
    )?;
    Ok("parsed")
}

/// Runs one Hub property over all Hub seeds (each input is read as the property's type, so
/// the other types' seeds are wrong shapes for it).
fn hub_property(test: &str, subject: &str, check: Check) {
    let seeds = hub_seeds(test);
    seeds.announce(test);
    let mut tally = Tally::default();
    explore_mutants(test, &seeds, 1_000, HUB_FRAGMENTS, check, &mut tally);
    explore_structured(test, &seeds, 500, check, &mut tally);
    explore_cuts(test, &seeds, JSON_BOUNDARIES, check, &mut tally);
    let parsed = tally.count("parsed") + tally.count("parsed, deprecated");
    let deprecated = match tally.count("parsed, deprecated") {
        0 => String::new(),
        n => format!(" ({} of them deprecated)", thousands(n)),
    };
    let outcome = format!(
        "no panic; {} inputs read and turned into rows that keep their invariants{deprecated}, {} rejected as not JSON with the position named, {} rejected as the wrong shape with the field or expected shape named; {} ({})",
        thousands(parsed),
        thousands(tally.count("not JSON")),
        thousands(tally.count("wrong shape")),
        seeds.describe(),
        tally.stages()
    );
    reliability::record("property", subject, tally.cases(), &outcome);
}

#[test]
fn hub_repository_pages_never_panic_and_make_consistent_rows() {
    hub_property(
        "properties::hub_repository_pages_never_panic_and_make_consistent_rows",
        "hub::Page<RepoItem> → extract_hub::repo_row, carry_forward",
        &check_repo_page,
    );
}

#[test]
fn hub_details_never_panic_and_make_consistent_rows() {
    hub_property(
        "properties::hub_details_never_panic_and_make_consistent_rows",
        "hub::RepoDetail → extract_hub::repo_row",
        &check_detail,
    );
}

#[test]
fn hub_tag_pages_never_panic_and_make_consistent_rows() {
    hub_property(
        "properties::hub_tag_pages_never_panic_and_make_consistent_rows",
        "hub::Page<Tag> → extract_hub::tag_rows",
        &check_tags,
    );
}

// ---------------------------------------------------------------------------------------------
// Deprecation notices
// ---------------------------------------------------------------------------------------------

/// A README with a notice that names a target by a Hub link.
const README_TARGET: &str = "<!--\n\nWARNING:\n\n    DO NOT EDIT\n\n-->\n\n# **DEPRECATION NOTICE**\n\nThis image is officially deprecated in favor of [the `openjdk` image](https://hub.docker.com/_/openjdk/) for all future tag releases.\n\n```console\n# not a heading\n$ docker run openjdk\n```\n\n# Quick reference\n\n-\t**Maintained by**: [the Docker Community](https://github.com/docker-library/openjdk)\n";

/// A README without a notice.
const README_PLAIN: &str = "# Quick reference\n\n-\t**Maintained by**:\n\t[the Docker Community](https://github.com/docker-library/python)\n\n# What is Python?\n\nPython is not deprecated in favor of [node](https://hub.docker.com/_/node).\n";

/// A notice body that lists alternatives (hipache's shape).
const NOTICE_ALTERNATIVES: &str = "This image is deprecated due to upstream inactivity.\n\nThe following is a list of other HTTP proxies which might be suitable replacements:\n\n-\t[`mailgun/vulcand`](https://hub.docker.com/r/mailgun/vulcand/)\n-\t[`traefik`](https://hub.docker.com/_/traefik/)\n1. `haproxy:2`, fast\n";

/// A notice body that recommends a link (sentry's shape).
const NOTICE_LINK: &str = "This image is deprecated in favor of the full installation explained over at [Self-Hosted Sentry Docs](https://develop.sentry.dev/self-hosted/) (last updated July 2019; [getsentry/docker-sentry#189](https://github.com/getsentry/docker-sentry/pull/189)).";

/// A notice body with a tagged target (jenkins' shape).
const NOTICE_TAGGED: &str = "This image has been deprecated in favor of the [`jenkins/jenkins:lts`](https://hub.docker.com/r/jenkins/jenkins) image provided by [Jenkins Community](https://jenkins.io/), e.g. for LTS releases. Use `jenkins/jenkins:lts` instead!";

const NOTICE_EMBEDDED: &[(&str, &str)] = &[
    ("README with a targeted notice", README_TARGET),
    ("README without notice", README_PLAIN),
    ("notice with alternatives", NOTICE_ALTERNATIVES),
    ("notice with a link", NOTICE_LINK),
    ("notice with a tagged target", NOTICE_TAGGED),
];

/// Markdown fragments the notice parser distinguishes.
const MARKDOWN_FRAGMENTS: &[&[u8]] = &[
    b"# DEPRECATION NOTICE\n",
    b"\n## **Deprecation Notice**\n\n",
    b"\n# Next\n",
    b"\n```\n",
    b"\n~~~~\n",
    b"<!--",
    b"-->",
    b"\n> ",
    b"\n- ",
    b"\n1. ",
    b" in favor of ",
    b" replacements:\n\n",
    b"[x](https://hub.docker.com/_/node-)",
    b"[y](https://hub.docker.com/r/org/name/tags)",
    b"`a/b:c`",
    b"`",
    b"](",
    b"e.g. ",
    b". A",
];

/// Docker's reference grammar (distribution/reference) for a repository path with an optional
/// tag, written here independently of the parser's own pattern.
static IMAGE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let component = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
    Regex::new(&format!(
        r"^{component}(?:/{component})*(?::[\w][\w.-]{{0,127}})?$"
    ))
    .unwrap()
});

/// What every notice satisfies, whatever it was parsed from (`input`).
fn notice_invariants(n: &Notice, input: &str) -> Result<Verdict, String> {
    ensure(input.contains(n.text.as_str()), || {
        format!(
            "the notice text {:?} is not a substring of the input",
            n.text
        )
    })?;
    for (what, images) in [("target", &n.targets), ("alternative", &n.alternatives)] {
        for (i, image) in images.iter().enumerate() {
            ensure(IMAGE_REFERENCE.is_match(image), || {
                format!("{what} {image:?} does not look like an image reference")
            })?;
            ensure(n.text.contains(image.as_str()), || {
                format!("{what} {image:?} is not named in the notice")
            })?;
            ensure(!images[..i].contains(image), || {
                format!("{what} {image:?} twice")
            })?;
        }
    }
    if !n.targets.is_empty() {
        ensure(
            n.alternatives.is_empty() && n.recommended_link.is_none(),
            || "targets together with alternatives or a recommended link".into(),
        )?;
    }
    if let Some(link) = &n.recommended_link {
        ensure(
            !link.is_empty()
                && n.text.contains(link.as_str())
                && !link.contains(char::is_whitespace),
            || format!("recommended link {link:?} is not a link of the notice"),
        )?;
    }
    ensure(&notice::parse_notice(&n.text) == n, || {
        "parsing the notice's own text gives another notice".into()
    })?;
    Ok(if !n.targets.is_empty() {
        "with a target"
    } else if !n.alternatives.is_empty() {
        "with alternatives"
    } else if n.recommended_link.is_some() {
        "with a recommended link"
    } else {
        "recommending nothing"
    })
}

/// Property: `find_notice` never panics and what it finds keeps the notice invariants.
fn check_find_notice(input: &[u8]) -> Result<Verdict, String> {
    let readme = String::from_utf8_lossy(input);
    match notice::find_notice(&readme) {
        Some(n) => notice_invariants(&n, &readme),
        None => Ok("no notice"),
    }
}

/// Property: `parse_notice` never panics, keeps the whole (trimmed) input as its text, and
/// keeps the notice invariants.
fn check_parse_notice(input: &[u8]) -> Result<Verdict, String> {
    let text = String::from_utf8_lossy(input);
    let n = notice::parse_notice(&text);
    ensure(n.text == text.trim(), || {
        "the text is not the trimmed input".into()
    })?;
    notice_invariants(&n, &text)
}

/// Hub repository names as a notice may write them, valid or not.
fn repo_name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "node",
            "openjdk",
            "jenkins",
            "eclipse-temurin",
            "a-",
            "a.",
            "a..b",
            "a__b",
            "a___b",
            "Node",
            "x_",
            "9",
            "-a",
            "n\u{e9}e",
            "library",
            "_",
        ])
        .prop_map(str::to_string),
        "[a-z0-9][a-z0-9._-]{0,10}",
    ]
}

fn hub_link() -> impl Strategy<Value = String> {
    let url = prop_oneof![
        repo_name().prop_map(|n| format!("https://hub.docker.com/_/{n}")),
        repo_name().prop_map(|n| format!("https://hub.docker.com/r/library/{n}")),
        (repo_name(), repo_name()).prop_map(|(o, n)| format!("http://hub.docker.com/r/{o}/{n}")),
    ];
    let label = select(vec![
        "the `openjdk` image",
        "`jenkins/jenkins:lts`",
        "node",
        "`traefik`",
        "",
        "`a-`",
        "`Node:1`",
        "`x:y:z`",
        "`a/b`",
    ]);
    let tail = select(vec!["", "/", "/tags", "?tab=tags", "#x", "."]);
    let form = select(vec![
        "[{l}]({u})",
        "[{l}](<{u}>)",
        "[{l}]({u} \"title\")",
        "{u}",
        "<{u}>",
    ]);
    (label, url, tail, form)
        .prop_map(|(l, u, t, form)| form.replace("{l}", l).replace("{u}", &format!("{u}{t}")))
}

fn code_span() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "python:3",
            "org/name:1.0-slim",
            "docker run -it x",
            "Dockerfile",
            "a/b/c",
            "x:",
            ":tag",
            "a-:1",
            "jenkins/jenkins:lts",
        ])
        .prop_map(str::to_string),
        (repo_name(), "(:[A-Za-z0-9_.-]{0,8})?").prop_map(|(n, t)| format!("{n}{t}")),
    ]
    .prop_map(|s| format!("`{s}`"))
}

fn sentence_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec![
            "This image is deprecated", "in favor of", "in favour of", "deprecated in favour of",
            "A good place to look is", "suitable replacements:", "alternatives", "e.g.", "i.e.",
            "etc.", "see", "or", ".", "!", "Gone.", "The", "(", ")", "[", "]", "`", "*", "_",
            "😀", "\u{202e}", "İ", "\t", "Foo.", "and",
        ]).prop_map(str::to_string),
        3 => hub_link(),
        2 => code_span(),
        1 => select(vec![
            "[Self-Hosted Sentry Docs](https://develop.sentry.dev/self-hosted/)",
            "[#12](https://github.com/a/b/pull/12)",
            "[the repo](https://github.com/a/b)",
            "[rel](foo)",
            "https://example.org/x,",
            "[t](https://example.org \"title\")",
        ]).prop_map(str::to_string),
    ]
}

fn paragraph() -> impl Strategy<Value = String> {
    prop::collection::vec(sentence_piece(), 1..10).prop_map(|pieces| pieces.join(" "))
}

/// One Markdown block of the kinds the notice parser tells apart.
fn markdown_block() -> impl Strategy<Value = String> {
    let heading = (
        1usize..=7,
        select(vec![
            "**DEPRECATION NOTICE**",
            "DEPRECATION NOTICE",
            "__Deprecation Notice__",
            "*deprecation* _notice_",
            "Quick reference",
            "What is X?",
            "DEPRECATION NOTICES",
            "",
        ]),
        select(vec!["", " ##", "#"]),
        select(vec!["", "   ", "    "]),
    )
        .prop_map(|(level, title, close, indent)| {
            format!("{indent}{} {title}{close}", "#".repeat(level))
        });
    let item = (
        select(vec![
            "-\t", "- ", "* ", "+ ", "1. ", "2) ", "10. ", "    - ",
        ]),
        paragraph(),
    )
        .prop_map(|(marker, text)| format!("{marker}{text}"));
    let list = prop::collection::vec(item, 1..5).prop_map(|items| items.join("\n"));
    let fence = (
        select(vec!["```", "~~~", "````", "```bash"]),
        paragraph(),
        select(vec!["```", "~~~", "````", ""]),
    )
        .prop_map(|(open, body, close)| format!("{open}\n# {body}\n{close}"));
    let quote = paragraph().prop_map(|p| format!("> {p}"));
    prop_oneof![
        2 => heading,
        4 => paragraph(),
        2 => list,
        1 => fence,
        1 => quote,
    ]
}

/// A Markdown document: an optional leading comment, blocks separated by one or two line ends,
/// LF or CRLF.
fn markdown() -> impl Strategy<Value = String> {
    (
        select(vec![
            "",
            "<!--\n\nDO NOT EDIT\n\n-->\n\n",
            "<!-- never closed\n",
        ]),
        prop::collection::vec((markdown_block(), any::<bool>()), 0..10),
        select(vec!["\n", "\r\n"]),
    )
        .prop_map(|(comment, blocks, eol)| {
            let mut text = comment.to_string();
            for (block, blank) in blocks {
                text.push_str(&block);
                text.push_str(if blank { "\n\n" } else { "\n" });
            }
            text.replace('\n', eol)
        })
}

/// The notices of the docker-library/docs rows (`deprecation_notice`), as seeds.
fn real_notices(test: &str) -> Vec<Seed> {
    let Some(dir) = public_data::require(test, "docker-library-docs") else {
        return Vec::new();
    };
    let mut seeds = Vec::new();
    for file in [
        "catalog-2021-08-24.jsonl",
        "removed-before-2021-08-24.jsonl",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let row: Value = serde_json::from_str(line).unwrap();
            if let Some(notice) = row["deprecation_notice"].as_str() {
                seeds.push(Seed {
                    name: format!("{file} {}", row["name"].as_str().unwrap_or("?")),
                    bytes: notice.as_bytes().to_vec(),
                });
            }
        }
    }
    seeds
}

/// Runs one notice property: mutants of its seeds, generated Markdown, boundary cuts.
fn notice_property(test: &str, subject: &str, seeds: Seeds, check: Check) {
    seeds.announce(test);
    let mut tally = Tally::default();
    explore_mutants(test, &seeds, 800, MARKDOWN_FRAGMENTS, check, &mut tally);
    explore(
        test,
        "generated",
        1_500,
        markdown(),
        |text| text.clone().into_bytes(),
        check,
        &mut tally,
    );
    explore_cuts(test, &seeds, TEXT_BOUNDARIES, check, &mut tally);
    let found: Vec<String> = [
        "with a target",
        "with alternatives",
        "with a recommended link",
        "recommending nothing",
    ]
    .iter()
    .map(|v| format!("{} {v}", thousands(tally.count(v))))
    .collect();
    let none = match tally.count("no notice") {
        0 => String::new(),
        n => format!(", {} without a notice", thousands(n)),
    };
    let outcome = format!(
        "no panic; every notice's text is a substring of the input, its targets and alternatives look like image references named in it, and re-parsing its text gives it back: {}{none}; {} ({})",
        found.join(", "),
        seeds.describe(),
        tally.stages()
    );
    reliability::record("property", subject, tally.cases(), &outcome);
}

#[test]
fn notice_find_notice_never_panics_and_keeps_its_invariants() {
    let test = "properties::notice_find_notice_never_panics_and_keeps_its_invariants";
    let mut real = real_files(test, "docker-library-docs/readme-2021-08-24");
    for seed in &mut real {
        seed.name = format!("readme-2021-08-24/{}", seed.name);
    }
    let seeds = Seeds::new(
        NOTICE_EMBEDDED,
        real,
        "real READMEs (docker-library-docs/readme-2021-08-24)",
    );
    notice_property(test, "notice::find_notice", seeds, &check_find_notice);
}

#[test]
fn notice_parse_notice_never_panics_and_keeps_its_invariants() {
    let test = "properties::notice_parse_notice_never_panics_and_keeps_its_invariants";
    let seeds = Seeds::new(
        NOTICE_EMBEDDED,
        real_notices(test),
        "real notices (docker-library-docs jsonl rows)",
    );
    notice_property(test, "notice::parse_notice", seeds, &check_parse_notice);
}

// ---------------------------------------------------------------------------------------------
// Library files
// ---------------------------------------------------------------------------------------------

/// A library file with defaults, a multi-line value, comments, shared tags, constraints and
/// per-architecture overrides.
const LIBRARY_PYTHON: &str = "# this file is generated via https://github.com/docker-library/python/blob/5b8e4a5/generate-stackbrew-library.sh\n\nMaintainers: Tianon Gravi <admwiggin@gmail.com> (@tianon),\n             Joseph Ferguson <yosifkit@gmail.com> (@yosifkit)\nGitRepo: https://github.com/docker-library/python.git\narm64v8-GitCommit: 1111111111111111111111111111111111111111\n\nTags: 3.9.6-bullseye, 3.9-bullseye, 3-bullseye, bullseye\nSharedTags: 3.9.6, 3.9, 3, latest\n# a comment inside a block\nArchitectures: amd64, arm32v5, arm64v8\nGitCommit: 5b8e4a5b8c9b5c4d7e1f0a2b3c4d5e6f7a8b9c0d\nDirectory: 3.9/bullseye\n\nTags: 3.9.6-windowsservercore-1809, 3.9-windowsservercore-1809\nSharedTags: 3.9.6, 3.9, 3, latest\nArchitectures: windows-amd64\nGitCommit: 5b8e4a5b8c9b5c4d7e1f0a2b3c4d5e6f7a8b9c0d\nDirectory: 3.9/windows/windowsservercore-1809\nConstraints: windowsservercore-1809\n";

/// A deprecated image's file: the header block only.
const LIBRARY_HEADER_ONLY: &str = "Maintainers: Someone <someone@example.org> (@someone)\nGitRepo: https://github.com/docker-library/sentry.git\n";

/// CRLF line ends, a byte order mark and case-insensitive keys.
const LIBRARY_CRLF: &str = "\u{feff}GITREPO: https://github.com/x/y.git\r\n\r\ntags: 1, latest\r\nARM64V8-gitcommit: abc\r\nfile: Dockerfile.slim\r\n";

const LIBRARY_EMBEDDED: &[(&str, &str)] = &[
    ("python-like library file", LIBRARY_PYTHON),
    ("header-only library file", LIBRARY_HEADER_ONLY),
    ("CRLF library file", LIBRARY_CRLF),
];

/// Library-file syntax.
const LIBRARY_FRAGMENTS: &[&[u8]] = &[
    b"\nTags: a, b\n",
    b"\nSharedTags: latest\n",
    b"\nArchitectures: ,\n",
    b"\nConstraints: ,\n",
    b"\nGitCommit: \n",
    b"\n  continued\n",
    b"\n# comment\n",
    b"\n\n",
    b"\narm64v8-Directory: d\n",
    b"\n-GitCommit: x\n",
    b": ",
    b", ",
];

/// Property: `parse` reads a library file or names the line that is wrong. Every entry has a
/// tag; list items are non-empty words without commas; every entry has an architecture and a
/// directory (the documented defaults fill in what is not given); values are trimmed and
/// non-empty; overrides are `ARCH-Field` keys, sorted, with values.
fn check_library_file(input: &[u8]) -> Result<Verdict, String> {
    let text = String::from_utf8_lossy(input);
    match library_file::parse(&text) {
        Ok(file) => {
            for (i, e) in file.entries.iter().enumerate() {
                let at = |what: &str| format!("entry {}: {what}: {e:?}", i + 1);
                ensure(!e.tags.is_empty() || !e.shared_tags.is_empty(), || {
                    at("no tag")
                })?;
                ensure(!e.architectures.is_empty(), || at("no architecture"))?;
                ensure(!e.directory.is_empty(), || at("no directory"))?;
                let lists = [&e.tags, &e.shared_tags, &e.architectures, &e.constraints];
                ensure(
                    lists.iter().flat_map(|l| l.iter()).all(|item| {
                        !item.is_empty()
                            && !item.contains(',')
                            && !item.contains(char::is_whitespace)
                    }),
                    || at("a list item that is empty, has a comma or whitespace"),
                )?;
                let scalars = [&e.git_repo, &e.git_fetch, &e.git_commit, &e.file];
                ensure(
                    scalars
                        .iter()
                        .filter_map(|v| v.as_deref())
                        .chain([e.directory.as_str()])
                        .all(|v| !v.is_empty() && v.trim() == v),
                    || at("a value that is empty or untrimmed"),
                )?;
                ensure(
                    e.arch_overrides.windows(2).all(|w| w[0].0 < w[1].0)
                        && e.arch_overrides.iter().all(|(k, v)| {
                            k.rsplit_once('-').is_some_and(|(arch, _)| !arch.is_empty())
                                && !v.is_empty()
                        }),
                    || at("overrides unsorted, without architecture or empty"),
                )?;
            }
            ensure(
                file.tags().len()
                    == file
                        .entries
                        .iter()
                        .map(|e| e.tags.len() + e.shared_tags.len())
                        .sum::<usize>(),
                || "tags() lost or added tags".into(),
            )?;
            Ok("parsed")
        }
        Err(e) => {
            let lines = text.lines().count();
            let line: Option<usize> = e
                .strip_prefix("line ")
                .and_then(|rest| rest.split_once(':'))
                .and_then(|(n, _)| n.parse().ok());
            ensure(line.is_some_and(|n| (1..=lines).contains(&n)), || {
                format!("the error names no line of the {lines}-line input: {e}")
            })?;
            Ok("rejected")
        }
    }
}

/// A library file from the grammar: blocks of distinct keys (known, case-varied,
/// per-architecture, unknown) with odd values, sometimes a continuation, a comment or a bad
/// line; blank separators, LF or CRLF, maybe a byte order mark.
fn library_text() -> impl Strategy<Value = String> {
    // every key the parser knows, then case and per-architecture variants and unknown ones
    let mut keys = hubaudit::library_file::KEYS.to_vec();
    keys.extend([
        "GITCOMMIT",
        "arm64v8-GitCommit",
        "ARM64V8-directory",
        "-GitCommit",
        "windows-amd64-File",
        "Builder",
        "arm64v8-Builder",
    ]);
    let value = prop_oneof![
        4 => select(vec![
            "a, b", "latest", ",", " , ,", "3.9, 3, latest", "a b", "",
            "https://github.com/docker-library/python.git", "refs/heads/x", "amd64, arm64v8",
            "windowsservercore-1809", "😀", "\u{202e}x", "a,,b,", "\u{feff}",
        ]).prop_map(str::to_string),
        1 => "[ -~]{0,20}",
    ];
    let separator = select(vec![":", ": ", " : ", ":\t", "::"]);
    let odd_line = prop_oneof![
        select(vec!["# comment", "#", "#Tags: x", "  # indented comment"]).prop_map(str::to_string),
        (select(vec![" ", "\t", "             "]), value.clone())
            .prop_map(|(indent, v)| format!("{indent}{v}")),
        select(vec![
            "no colon here",
            "Git Commit: x",
            ": value",
            "Tags x",
            "tags: again"
        ])
        .prop_map(str::to_string),
        "[A-Za-z0-9-]{1,12}: [ -~]{0,12}",
    ];
    let block = (
        prop::sample::subsequence(keys, 1..=6).prop_shuffle(),
        prop::collection::vec((separator, value), 6),
        prop::option::weighted(0.3, (odd_line, any::<Index>())),
    )
        .prop_map(|(keys, values, odd)| {
            let mut lines: Vec<String> = keys
                .iter()
                .zip(values)
                .map(|(k, (sep, v))| format!("{k}{sep}{v}"))
                .collect();
            if let Some((line, at)) = odd {
                lines.insert(at.index(lines.len() + 1), line);
            }
            lines.join("\n")
        });
    (
        any::<bool>(),
        prop::collection::vec((block, select(vec!["", "  ", "\t"])), 0..6),
        select(vec!["\n", "\r\n"]),
    )
        .prop_map(|(bom, blocks, eol)| {
            let joined: Vec<String> = blocks
                .into_iter()
                .map(|(block, blank)| format!("{block}\n{blank}\n"))
                .collect();
            let text = joined.concat().replace('\n', eol);
            if bom {
                format!("\u{feff}{text}")
            } else {
                text
            }
        })
}

#[test]
fn library_file_parse_never_panics_and_names_the_bad_line() {
    let test = "properties::library_file_parse_never_panics_and_names_the_bad_line";
    let mut real = real_files(test, "official-images/raw-2021-08-24");
    for seed in &mut real {
        seed.name = format!("raw-2021-08-24/{}", seed.name);
    }
    let seeds = Seeds::new(
        LIBRARY_EMBEDDED,
        real,
        "real library files (official-images/raw-2021-08-24)",
    );
    seeds.announce(test);
    let mut tally = Tally::default();
    let check: Check = &check_library_file;
    explore_mutants(test, &seeds, 1_500, LIBRARY_FRAGMENTS, check, &mut tally);
    explore(
        test,
        "generated",
        2_000,
        library_text(),
        |text| text.clone().into_bytes(),
        check,
        &mut tally,
    );
    explore_cuts(test, &seeds, TEXT_BOUNDARIES, check, &mut tally);
    let outcome = format!(
        "no panic; {} files parsed into entries that keep their invariants, {} rejected with an error naming a line of the input; {} ({})",
        thousands(tally.count("parsed")),
        thousands(tally.count("rejected")),
        seeds.describe(),
        tally.stages()
    );
    reliability::record("property", "library_file::parse", tally.cases(), &outcome);
}

/// The engine itself: the same stage draws the same inputs on every run, and a mutation list
/// applies in order.
#[test]
fn the_engine_is_deterministic() {
    let draw = || {
        let mut runner = runner("properties::determinism", 1);
        let strategy = prop::collection::vec(mutation(&[]), 1..=5);
        (0..20)
            .map(|_| {
                let tree = strategy.new_tree(&mut runner).unwrap();
                mutate(README_PLAIN.as_bytes(), &tree.current())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(), draw());
    assert_eq!(boundary_cuts(b"{}", JSON_BOUNDARIES), vec![0, 1, 2]);
    assert_eq!(thousands(1_432), "1,432");
}
