//! Parser for the `library/NAME` manifest files of docker-library/official-images.
//!
//! A library file is a list of RFC 2822-style blocks separated by blank lines. Each block holds
//! `Key: value` lines; a line starting with whitespace continues the previous value (multi-line
//! `Maintainers`), and lines starting with `#` are comments, ignored wherever they appear (they
//! neither end a block nor break a continuation). Keys are matched case-insensitively and kept
//! under their canonical names (`GitCommit`, `arm64v8-GitCommit`). The first block, when it has no
//! `Tags`/`SharedTags`, holds the global defaults (`GitRepo`, `GitFetch`, `GitCommit`,
//! `Directory`, `File`, `Architectures`, `Constraints` and per-architecture overrides such as
//! `arm64v8-GitCommit`); every later block is an entry and must carry `Tags` and/or `SharedTags`.
//! An entry inherits each default it does not set itself; per-architecture overrides are merged
//! key by key (the entry's value wins). `Directory` defaults to `"."` and `Architectures` to
//! `amd64`. `Maintainers` and keys this parser does not know (e.g. `Builder`) are dropped. A file
//! may hold only the header block (deprecated images), which gives no entries.
//!
//! Values are trimmed; an empty value counts as not given (so it inherits the default). List
//! values (`Tags`, `SharedTags`, `Architectures`, `Constraints`) are split on commas, items
//! trimmed and empty items dropped, and a list left without items (`Architectures: ,`) counts as
//! not given as well; an item containing whitespace (a missing comma) is an error.

use std::collections::BTreeMap;

/// One image entry of a library file (a block with `Tags` and/or `SharedTags`), with the global
/// defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The entry's own `Tags`, in file order.
    pub tags: Vec<String>,
    /// The entry's `SharedTags` (tags shared with other entries, e.g. Windows variants).
    pub shared_tags: Vec<String>,
    /// `Architectures`, from the entry, else the defaults, else `["amd64"]`.
    pub architectures: Vec<String>,
    /// `GitRepo`, from the entry or the defaults.
    pub git_repo: Option<String>,
    /// `GitFetch`, from the entry or the defaults.
    pub git_fetch: Option<String>,
    /// `GitCommit`, from the entry or the defaults.
    pub git_commit: Option<String>,
    /// `Directory`, from the entry, else the defaults, else `"."`.
    pub directory: String,
    /// `File` (the Dockerfile name), from the entry or the defaults.
    pub file: Option<String>,
    /// `Constraints` (e.g. `windowsservercore-1809`), from the entry, else the defaults.
    pub constraints: Vec<String>,
    /// Per-architecture overrides, e.g. ("arm64v8-GitCommit", "abc…"), sorted by key.
    pub arch_overrides: Vec<(String, String)>,
}

/// A parsed library file: its entries in file order (the defaults block is folded into them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LibraryFile {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

impl LibraryFile {
    /// Every tag of every entry in file order: each entry's `Tags`, then its `SharedTags`.
    /// Duplicates are kept as they appear (a shared tag is listed once per entry carrying it).
    pub fn tags(&self) -> Vec<String> {
        self.entries.iter().flat_map(entry_tags).cloned().collect()
    }

    /// Whether some entry carries `latest` (in Tags or SharedTags).
    pub fn has_latest(&self) -> bool {
        self.entries.iter().any(carries_latest)
    }

    /// The entries carrying `latest` (in Tags or SharedTags), in file order.
    pub fn latest_entries(&self) -> Vec<&Entry> {
        self.entries.iter().filter(|e| carries_latest(e)).collect()
    }
}

/// An entry's `Tags` followed by its `SharedTags`.
fn entry_tags(entry: &Entry) -> impl Iterator<Item = &String> {
    entry.tags.iter().chain(&entry.shared_tags)
}

fn carries_latest(entry: &Entry) -> bool {
    entry_tags(entry).any(|t| t == "latest")
}

/// Parses a library file; the error names the line number and what is wrong.
///
/// Errors: a line that is neither blank, a comment, a continuation nor `Key: value`; a
/// continuation line with no key before it in its block; an empty key or a key containing
/// whitespace; a key given twice in one block; a list item containing whitespace; a block after
/// the first with neither `Tags` nor `SharedTags`.
pub fn parse(text: &str) -> Result<LibraryFile, String> {
    let mut defaults = Fields::default();
    let mut entries = Vec::new();
    for (index, block) in split_blocks(text)?.iter().enumerate() {
        let fields = Fields::from_block(block)?;
        if fields.has_tags() {
            entries.push(fields.into_entry(&defaults));
        } else if index == 0 {
            defaults = fields;
        } else {
            return Err(format!(
                "line {}: block has neither Tags nor SharedTags; only the first block may hold \
                 the global defaults",
                block.line
            ));
        }
    }
    Ok(LibraryFile { entries })
}

/// One `Key: value` field, with continuation lines already joined.
struct RawField {
    /// The canonical key (`GitCommit`, `arm64v8-GitCommit`), or the key as written if unknown.
    key: String,
    value: String,
    /// 1-based line number of the `Key:` line.
    line: usize,
}

/// A block of fields; `line` is the line of its first field.
struct RawBlock {
    line: usize,
    fields: Vec<RawField>,
}

/// Splits the text into blocks of fields, dropping comments and blank lines.
fn split_blocks(text: &str) -> Result<Vec<RawBlock>, String> {
    let mut blocks = Vec::new();
    let mut fields: Vec<RawField> = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let number = index + 1;
        let mut line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if index == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.trim().is_empty() {
            if !fields.is_empty() {
                let line = fields[0].line;
                blocks.push(RawBlock {
                    line,
                    fields: std::mem::take(&mut fields),
                });
            }
        } else if line.starts_with('#') {
            // Comment: ignored, without ending the block or a continuation.
        } else if line.starts_with([' ', '\t']) {
            let Some(field) = fields.last_mut() else {
                return Err(format!(
                    "line {number}: continuation line (starts with whitespace) without a \
                     `Key: value` line before it in its block: {:?}",
                    line.trim()
                ));
            };
            if !field.value.is_empty() {
                field.value.push(' ');
            }
            field.value.push_str(line.trim());
        } else {
            let Some((key, value)) = line.split_once(':') else {
                return Err(format!(
                    "line {number}: expected `Key: value` (no colon found): {line:?}"
                ));
            };
            let key = key.trim_end();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(format!(
                    "line {number}: invalid key {key:?} (keys are one word, e.g. `GitCommit`)"
                ));
            }
            let key = canonical_key(key);
            if let Some(first) = fields.iter().find(|f| f.key.eq_ignore_ascii_case(&key)) {
                return Err(format!(
                    "line {number}: duplicate key `{key}` in one block (first given on line {})",
                    first.line
                ));
            }
            fields.push(RawField {
                key,
                value: value.trim().to_string(),
                line: number,
            });
        }
    }
    if !fields.is_empty() {
        let line = fields[0].line;
        blocks.push(RawBlock { line, fields });
    }
    Ok(blocks)
}

/// Keys known to the parser, by canonical name.
pub const KEYS: [&str; 10] = [
    "Tags",
    "SharedTags",
    "Architectures",
    "GitRepo",
    "GitFetch",
    "GitCommit",
    "Directory",
    "File",
    "Constraints",
    "Maintainers",
];

/// Fields that may be overridden per architecture (`ARCH-Field`).
const ARCH_FIELDS: [&str; 5] = ["GitRepo", "GitFetch", "GitCommit", "Directory", "File"];

/// The canonical spelling of a key: a known key in its canonical case; a per-architecture key as
/// `arch-Field` with the architecture lower-cased (`ARM64V8-gitcommit` → `arm64v8-GitCommit`);
/// any other key as written.
fn canonical_key(key: &str) -> String {
    if let Some(known) = KEYS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
        return (*known).to_string();
    }
    if let Some((arch, field)) = key.rsplit_once('-') {
        if let Some(known) = ARCH_FIELDS.iter().find(|k| k.eq_ignore_ascii_case(field)) {
            if !arch.is_empty() {
                return format!("{}-{known}", arch.to_ascii_lowercase());
            }
        }
    }
    key.to_string()
}

/// Whether a canonical key is a per-architecture override.
fn is_arch_key(key: &str) -> bool {
    key.rsplit_once('-')
        .is_some_and(|(arch, field)| !arch.is_empty() && ARCH_FIELDS.contains(&field))
}

/// The fields of one block as given (nothing inherited yet); `None` = not given.
#[derive(Default)]
struct Fields {
    tags: Option<Vec<String>>,
    shared_tags: Option<Vec<String>>,
    architectures: Option<Vec<String>>,
    constraints: Option<Vec<String>>,
    git_repo: Option<String>,
    git_fetch: Option<String>,
    git_commit: Option<String>,
    directory: Option<String>,
    file: Option<String>,
    arch_overrides: BTreeMap<String, String>,
}

impl Fields {
    fn from_block(block: &RawBlock) -> Result<Fields, String> {
        let mut out = Fields::default();
        for field in &block.fields {
            if field.value.is_empty() {
                continue;
            }
            let scalar = Some(field.value.clone());
            match field.key.as_str() {
                "Tags" => out.tags = split_list(field)?,
                "SharedTags" => out.shared_tags = split_list(field)?,
                "Architectures" => out.architectures = split_list(field)?,
                "Constraints" => out.constraints = split_list(field)?,
                "GitRepo" => out.git_repo = scalar,
                "GitFetch" => out.git_fetch = scalar,
                "GitCommit" => out.git_commit = scalar,
                "Directory" => out.directory = scalar,
                "File" => out.file = scalar,
                key if is_arch_key(key) => {
                    out.arch_overrides
                        .insert(key.to_string(), field.value.clone());
                }
                // Maintainers and unknown keys are dropped.
                _ => {}
            }
        }
        Ok(out)
    }

    fn has_tags(&self) -> bool {
        let non_empty = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
        non_empty(&self.tags) || non_empty(&self.shared_tags)
    }

    /// The entry these fields describe, inheriting what they leave out from `defaults`.
    fn into_entry(self, defaults: &Fields) -> Entry {
        let mut arch_overrides = defaults.arch_overrides.clone();
        arch_overrides.extend(self.arch_overrides);
        Entry {
            tags: self.tags.unwrap_or_default(),
            shared_tags: self.shared_tags.unwrap_or_default(),
            architectures: self
                .architectures
                .or_else(|| defaults.architectures.clone())
                .unwrap_or_else(|| vec!["amd64".to_string()]),
            git_repo: self.git_repo.or_else(|| defaults.git_repo.clone()),
            git_fetch: self.git_fetch.or_else(|| defaults.git_fetch.clone()),
            git_commit: self.git_commit.or_else(|| defaults.git_commit.clone()),
            directory: self
                .directory
                .or_else(|| defaults.directory.clone())
                .unwrap_or_else(|| ".".to_string()),
            file: self.file.or_else(|| defaults.file.clone()),
            constraints: self
                .constraints
                .or_else(|| defaults.constraints.clone())
                .unwrap_or_default(),
            arch_overrides: arch_overrides.into_iter().collect(),
        }
    }
}

/// Splits a comma-separated list value: items trimmed, empty items dropped; `None` when no
/// item is left (`Architectures: ,` is an empty value, so the default applies).
fn split_list(field: &RawField) -> Result<Option<Vec<String>>, String> {
    let mut items = Vec::new();
    for item in field.value.split(',').map(str::trim) {
        if item.is_empty() {
            continue;
        }
        if item.contains(char::is_whitespace) {
            return Err(format!(
                "line {}: {} item {item:?} contains whitespace (missing comma?)",
                field.line, field.key
            ));
        }
        items.push(item.to_string());
    }
    Ok((!items.is_empty()).then_some(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse_ok(text: &str) -> LibraryFile {
        parse(text).unwrap_or_else(|e| panic!("parse failed: {e}\n--- input ---\n{text}"))
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(parsed) => panic!("expected an error, parsed {parsed:?}\n--- input ---\n{text}"),
            Err(e) => e,
        }
    }

    fn overrides_json(entry: &Entry) -> Value {
        Value::Object(
            entry
                .arch_overrides
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<Map<_, _>>(),
        )
    }

    /// An entry in the jsonl `entries` shape: `file` only when set, `constraints` and
    /// `arch_overrides` (an object) only when non-empty; `git_*` always present (null if unset).
    fn entry_json(entry: &Entry) -> Value {
        let mut row = json!({
            "tags": entry.tags,
            "shared_tags": entry.shared_tags,
            "architectures": entry.architectures,
            "git_repo": entry.git_repo,
            "git_fetch": entry.git_fetch,
            "git_commit": entry.git_commit,
            "directory": entry.directory,
        });
        let object = row.as_object_mut().expect("json! object");
        if let Some(file) = &entry.file {
            object.insert("file".into(), json!(file));
        }
        if !entry.constraints.is_empty() {
            object.insert("constraints".into(), json!(entry.constraints));
        }
        if !entry.arch_overrides.is_empty() {
            object.insert("arch_overrides".into(), overrides_json(entry));
        }
        row
    }

    /// A `latest` entry in the jsonl shape: no tags, git_fetch, file or constraints;
    /// `arch_overrides` only when non-empty.
    fn latest_json(entry: &Entry) -> Value {
        let mut row = json!({
            "git_repo": entry.git_repo,
            "git_commit": entry.git_commit,
            "directory": entry.directory,
            "architectures": entry.architectures,
        });
        if !entry.arch_overrides.is_empty() {
            row.as_object_mut()
                .expect("json! object")
                .insert("arch_overrides".into(), overrides_json(entry));
        }
        row
    }

    /// A parsed file in the jsonl row shape (without `name` and `oi_commit`).
    fn row_json(file: &LibraryFile) -> Value {
        let latest = file.latest_entries();
        json!({
            "tags": file.tags(),
            "has_latest": file.has_latest(),
            "latest_entry_tags": latest
                .iter()
                .map(|e| entry_tags(e).cloned().collect::<Vec<_>>())
                .collect::<Vec<_>>(),
            "latest": latest.iter().map(|e| latest_json(e)).collect::<Vec<_>>(),
            "entries": file.entries.iter().map(entry_json).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn entries_inherit_defaults_unless_they_override_them() {
        let parsed = parse_ok(
            "Maintainers: A <a@example.org> (@a)\n\
             GitRepo: https://example.org/repo.git\n\
             GitFetch: refs/heads/main\n\
             GitCommit: 1111\n\
             Directory: base\n\
             File: Dockerfile.base\n\
             Architectures: amd64, arm64v8\n\
             Constraints: !aufs\n\
             \n\
             Tags: one\n\
             \n\
             Tags: two\n\
             GitRepo: https://example.org/other.git\n\
             GitFetch: refs/heads/other\n\
             GitCommit: 2222\n\
             Directory: two\n\
             File: Dockerfile.two\n\
             Architectures: s390x\n\
             Constraints: windowsservercore-1809, !aufs\n",
        );
        assert_eq!(
            parsed.entries,
            vec![
                Entry {
                    tags: strings(&["one"]),
                    shared_tags: vec![],
                    architectures: strings(&["amd64", "arm64v8"]),
                    git_repo: Some("https://example.org/repo.git".into()),
                    git_fetch: Some("refs/heads/main".into()),
                    git_commit: Some("1111".into()),
                    directory: "base".into(),
                    file: Some("Dockerfile.base".into()),
                    constraints: strings(&["!aufs"]),
                    arch_overrides: vec![],
                },
                Entry {
                    tags: strings(&["two"]),
                    shared_tags: vec![],
                    architectures: strings(&["s390x"]),
                    git_repo: Some("https://example.org/other.git".into()),
                    git_fetch: Some("refs/heads/other".into()),
                    git_commit: Some("2222".into()),
                    directory: "two".into(),
                    file: Some("Dockerfile.two".into()),
                    constraints: strings(&["windowsservercore-1809", "!aufs"]),
                    arch_overrides: vec![],
                },
            ]
        );
    }

    #[test]
    fn an_entry_override_does_not_leak_into_later_entries() {
        let parsed = parse_ok("GitCommit: 1111\n\nTags: a\nGitCommit: 2222\n\nTags: b\n");
        let commits: Vec<_> = parsed
            .entries
            .iter()
            .map(|e| e.git_commit.clone())
            .collect();
        assert_eq!(commits, vec![Some("2222".into()), Some("1111".into())]);
    }

    #[test]
    fn first_block_with_tags_is_an_entry_and_there_are_no_defaults() {
        let parsed = parse_ok("Tags: a\nGitCommit: 1111\n\nTags: b\n");
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.entries[0].git_commit.as_deref(), Some("1111"));
        assert_eq!(parsed.entries[1].git_commit, None);
        assert_eq!(parsed.entries[1].git_repo, None);
    }

    #[test]
    fn continuation_lines_extend_the_previous_value() {
        let parsed = parse_ok(
            "Maintainers: A <a@example.org> (@a),\n\
             \x20            B <b@example.org> (@b)\n\
             GitRepo: https://example.org/repo.git\n\
             \n\
             Tags: 1.0, 1,\n\
             \x20 latest\n\
             Architectures: amd64,\n\
             \t arm64v8\n\
             \x20 , ppc64le\n\
             GitCommit: abc\n",
        );
        let entry = &parsed.entries[0];
        assert_eq!(entry.tags, strings(&["1.0", "1", "latest"]));
        assert_eq!(
            entry.architectures,
            strings(&["amd64", "arm64v8", "ppc64le"])
        );
        // The multi-line Maintainers value neither leaks into GitRepo nor breaks the header.
        assert_eq!(
            entry.git_repo.as_deref(),
            Some("https://example.org/repo.git")
        );
        assert_eq!(entry.git_commit.as_deref(), Some("abc"));
    }

    #[test]
    fn comments_are_ignored_on_their_own_lines_and_between_keys() {
        let with_comments = "# generated by a script\n\
             # second comment line\n\
             \n\
             Maintainers: A <a@example.org> (@a),\n\
             # a comment inside a continuation\n\
             \x20            B <b@example.org> (@b)\n\
             GitRepo: https://example.org/repo.git\n\
             # https://example.org/tree/dist-arm64v8\n\
             arm64v8-GitCommit: fff\n\
             \n\
             # comment before an entry\n\
             Tags: 1.0, latest\n\
             # comment between keys\n\
             GitCommit: abc\n\
             # trailing comment\n";
        let without = "Maintainers: A <a@example.org> (@a),\n\
             \x20            B <b@example.org> (@b)\n\
             GitRepo: https://example.org/repo.git\n\
             arm64v8-GitCommit: fff\n\
             \n\
             Tags: 1.0, latest\n\
             GitCommit: abc\n";
        let parsed = parse_ok(with_comments);
        assert_eq!(parsed, parse_ok(without));
        assert_eq!(parsed.entries.len(), 1);
        assert_eq!(parsed.entries[0].git_commit.as_deref(), Some("abc"));
        assert_eq!(
            parsed.entries[0].arch_overrides,
            pairs(&[("arm64v8-GitCommit", "fff")])
        );
    }

    #[test]
    fn crlf_line_endings_parse_like_lf() {
        let lf = "Maintainers: A <a@example.org> (@a),\n\
             \x20            B <b@example.org> (@b)\n\
             GitRepo: https://example.org/repo.git\n\
             # comment\n\
             \n\
             Tags: 1.0, latest\n\
             SharedTags: shared\n\
             Architectures: amd64, arm64v8\n\
             GitCommit: abc\n\
             Directory: 1.0\n\
             \n\
             Tags: 2.0\n\
             GitCommit: def\n";
        let crlf = lf.replace('\n', "\r\n");
        assert!(crlf.contains("\r\n\r\n"));
        let parsed = parse_ok(&crlf);
        assert_eq!(parsed, parse_ok(lf));
        assert_eq!(parsed.entries.len(), 2);
        assert_eq!(parsed.entries[1].git_commit.as_deref(), Some("def"));
        // No stray carriage return at the end of the file either.
        let no_final_newline = parse_ok("Tags: a\r\nGitCommit: abc\r");
        assert_eq!(
            no_final_newline.entries[0].git_commit.as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_canonicalised() {
        let parsed = parse_ok(
            "gitrepo: https://example.org/repo.git\n\
             ARM64V8-gitcommit: fff\n\
             \n\
             TAGS: a\n\
             sharedtags: s\n\
             ARCHITECTURES: amd64, arm64v8\n\
             gitCommit: abc\n\
             gitfetch: refs/heads/x\n\
             DIRECTORY: d\n\
             file: F\n\
             constraints: c\n\
             Amd64-Directory: x86_64/\n",
        );
        assert_eq!(
            parsed.entries,
            vec![Entry {
                tags: strings(&["a"]),
                shared_tags: strings(&["s"]),
                architectures: strings(&["amd64", "arm64v8"]),
                git_repo: Some("https://example.org/repo.git".into()),
                git_fetch: Some("refs/heads/x".into()),
                git_commit: Some("abc".into()),
                directory: "d".into(),
                file: Some("F".into()),
                constraints: strings(&["c"]),
                arch_overrides: pairs(&[
                    ("amd64-Directory", "x86_64/"),
                    ("arm64v8-GitCommit", "fff")
                ]),
            }]
        );
        // Keys differing only in case are the same key.
        let err = parse_err("Tags: a\ngitcommit: 1\nGitCommit: 2\n");
        assert!(err.starts_with("line 3:"), "{err}");
    }

    #[test]
    fn shared_tags_only_entry_is_an_entry() {
        let parsed = parse_ok(
            "GitRepo: https://example.org/repo.git\n\
             \n\
             SharedTags: 3.9, latest\n\
             Architectures: windows-amd64\n\
             GitCommit: abc\n",
        );
        assert_eq!(parsed.entries.len(), 1);
        let entry = &parsed.entries[0];
        assert!(entry.tags.is_empty());
        assert_eq!(entry.shared_tags, strings(&["3.9", "latest"]));
        assert!(parsed.has_latest());
        assert_eq!(parsed.latest_entries(), vec![entry]);
        assert_eq!(parsed.tags(), strings(&["3.9", "latest"]));
    }

    #[test]
    fn header_only_file_has_no_entries() {
        let parsed = parse_ok(
            "Maintainers: A <a@example.org> (@a),\n\
             \x20            B <b@example.org> (@b)\n\
             GitRepo: https://example.org/repo.git\n",
        );
        assert_eq!(parsed, LibraryFile::default());
        assert!(parsed.tags().is_empty());
        assert!(!parsed.has_latest());
        assert!(parsed.latest_entries().is_empty());
    }

    #[test]
    fn directory_defaults_to_dot_and_architectures_to_amd64() {
        let parsed = parse_ok("GitRepo: https://example.org/repo.git\n\nTags: a\nGitCommit: abc\n");
        assert_eq!(parsed.entries[0].directory, ".");
        assert_eq!(parsed.entries[0].architectures, strings(&["amd64"]));
        assert_eq!(parsed.entries[0].git_fetch, None);
        assert_eq!(parsed.entries[0].file, None);
        assert!(parsed.entries[0].constraints.is_empty());
        // Architectures from the defaults beat the amd64 fallback.
        let parsed = parse_ok("Architectures: arm64v8\nDirectory: base\n\nTags: a\n");
        assert_eq!(parsed.entries[0].architectures, strings(&["arm64v8"]));
        assert_eq!(parsed.entries[0].directory, "base");
    }

    #[test]
    fn empty_values_count_as_not_given() {
        let parsed = parse_ok(
            "Directory: base\nArchitectures: arm64v8\nGitCommit: 1111\n\n\
             Tags: a\nDirectory:\nArchitectures:  \nGitCommit:\nFile:\n",
        );
        let entry = &parsed.entries[0];
        assert_eq!(entry.directory, "base");
        assert_eq!(entry.architectures, strings(&["arm64v8"]));
        assert_eq!(entry.git_commit.as_deref(), Some("1111"));
        assert_eq!(entry.file, None);
    }

    #[test]
    fn per_arch_overrides_merge_with_defaults_and_are_sorted() {
        let parsed = parse_ok(
            "GitCommit: base\n\
             ppc64le-GitCommit: p-default\n\
             arm64v8-GitCommit: a-default\n\
             arm64v8-GitFetch: refs/heads/a\n\
             \n\
             Tags: a\n\
             Architectures: amd64, arm64v8, windows-amd64\n\
             arm64v8-GitCommit: a-entry\n\
             arm32v7-Directory: armv7/\n\
             windows-amd64-File: Dockerfile.win\n\
             amd64-GitRepo: https://example.org/amd64.git\n\
             \n\
             Tags: b\n",
        );
        assert_eq!(
            parsed.entries[0].arch_overrides,
            pairs(&[
                ("amd64-GitRepo", "https://example.org/amd64.git"),
                ("arm32v7-Directory", "armv7/"),
                ("arm64v8-GitCommit", "a-entry"),
                ("arm64v8-GitFetch", "refs/heads/a"),
                ("ppc64le-GitCommit", "p-default"),
                ("windows-amd64-File", "Dockerfile.win"),
            ])
        );
        // The plain GitCommit is untouched by the overrides.
        assert_eq!(parsed.entries[0].git_commit.as_deref(), Some("base"));
        assert_eq!(
            parsed.entries[1].arch_overrides,
            pairs(&[
                ("arm64v8-GitCommit", "a-default"),
                ("arm64v8-GitFetch", "refs/heads/a"),
                ("ppc64le-GitCommit", "p-default"),
            ])
        );
    }

    #[test]
    fn maintainers_and_unknown_keys_are_dropped() {
        let parsed = parse_ok(
            "Maintainers: A <a@example.org> (@a)\nBuilder: buildkit\n\n\
             Tags: a\nBuilder: classic\narm64v8-Builder: x\nMaintainers: B\n",
        );
        assert_eq!(
            parsed.entries,
            vec![Entry {
                tags: strings(&["a"]),
                architectures: strings(&["amd64"]),
                directory: ".".into(),
                ..Entry::default()
            }]
        );
    }

    #[test]
    fn values_are_trimmed_and_empty_list_items_dropped() {
        let parsed = parse_ok(
            "GitRepo:   https://example.org/repo.git  \n\n\
             Tags:a,b ,, c,\nGitCommit: abc \t\nDirectory : d\n",
        );
        let entry = &parsed.entries[0];
        assert_eq!(entry.tags, strings(&["a", "b", "c"]));
        assert_eq!(entry.git_commit.as_deref(), Some("abc"));
        assert_eq!(entry.directory, "d");
        assert_eq!(
            entry.git_repo.as_deref(),
            Some("https://example.org/repo.git")
        );
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let parsed = parse_ok("\u{feff}GitRepo: https://example.org/repo.git\n\nTags: a\n");
        assert_eq!(
            parsed.entries[0].git_repo.as_deref(),
            Some("https://example.org/repo.git")
        );
    }

    #[test]
    fn tags_keep_file_order_and_duplicates_with_tags_before_shared_tags() {
        let parsed = parse_ok(
            "GitRepo: r\n\n\
             SharedTags: 3.9, latest\n\
             Tags: 3.9-bullseye\n\
             \n\
             Tags: 3.9-slim\n\
             \n\
             Tags: 3.9-windows\n\
             SharedTags: 3.9, latest\n",
        );
        assert_eq!(
            parsed.tags(),
            strings(&[
                "3.9-bullseye",
                "3.9",
                "latest",
                "3.9-slim",
                "3.9-windows",
                "3.9",
                "latest"
            ])
        );
        let latest: Vec<_> = parsed
            .latest_entries()
            .iter()
            .map(|e| e.tags.clone())
            .collect();
        assert_eq!(
            latest,
            vec![strings(&["3.9-bullseye"]), strings(&["3.9-windows"])]
        );
    }

    #[test]
    fn latest_must_match_exactly() {
        let parsed = parse_ok("GitRepo: r\n\nTags: latest-slim, Latest\n\nTags: 1, latest\n");
        assert!(parsed.has_latest());
        let latest = parsed.latest_entries();
        assert_eq!(latest.len(), 1);
        assert_eq!(latest[0].tags, strings(&["1", "latest"]));
        let none = parse_ok("GitRepo: r\n\nTags: latest-slim\nSharedTags: LATEST\n");
        assert!(!none.has_latest());
        assert!(none.latest_entries().is_empty());
    }

    #[test]
    fn line_without_colon_is_an_error_naming_the_line() {
        let err = parse_err("GitRepo: r\n\nTags: a\nGitCommit abc\n");
        assert!(err.starts_with("line 4:"), "{err}");
        assert!(err.contains("GitCommit abc"), "{err}");
        // The same text as a continuation line is accepted.
        assert!(parse("GitRepo: r\n\nTags: a,\n b\n").is_ok());
    }

    #[test]
    fn continuation_without_a_key_is_an_error() {
        let err = parse_err("GitRepo: r\n\n  continued\nTags: a\n");
        assert!(err.starts_with("line 3:"), "{err}");
        assert!(err.contains("continuation"), "{err}");
        let err = parse_err("  leading\n");
        assert!(err.starts_with("line 1:"), "{err}");
    }

    #[test]
    fn bad_keys_are_errors() {
        let err = parse_err("GitRepo: r\n\nTags: a\n: value\n");
        assert!(err.starts_with("line 4:"), "{err}");
        let err = parse_err("GitRepo: r\n\nTags: a\nGit Commit: abc\n");
        assert!(err.starts_with("line 4:"), "{err}");
        assert!(err.contains("Git Commit"), "{err}");
    }

    #[test]
    fn duplicate_key_in_a_block_is_an_error() {
        let err = parse_err("GitRepo: r\n\nTags: a\nGitCommit: 1\nDirectory: d\nGitCommit: 2\n");
        assert!(err.starts_with("line 6:"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        // The same key in different blocks is fine.
        assert!(parse("GitCommit: 0\n\nTags: a\nGitCommit: 1\n\nTags: b\nGitCommit: 2\n").is_ok());
    }

    #[test]
    fn list_item_with_whitespace_is_an_error() {
        let err = parse_err("GitRepo: r\n\nTags: a, b\n  c\n");
        assert!(err.starts_with("line 3:"), "{err}");
        assert!(err.contains("\"b c\""), "{err}");
    }

    #[test]
    fn later_block_without_tags_is_an_error() {
        let err = parse_err("GitRepo: r\n\nTags: a\n\n# comment\nGitCommit: abc\nDirectory: d\n");
        assert!(err.starts_with("line 6:"), "{err}");
        assert!(err.contains("Tags"), "{err}");
        // Tags present but empty do not make an entry either.
        let err = parse_err("GitRepo: r\n\nTags: ,\nGitCommit: abc\n");
        assert!(err.starts_with("line 3:"), "{err}");
    }

    #[test]
    fn a_list_of_only_commas_counts_as_not_given() {
        // Found by the property test (tests/properties.rs): `Architectures:,` in the defaults
        // gave the entry no architecture at all instead of the default amd64.
        let parsed = parse_ok("arm64v8-Builder:a, b\nArchitectures:,\n\nDirectory:a, b\nMaintainers:a, b\nwindows-amd64-File:a, b\nGitFetch:a, b\nSharedTags:https://github.com/docker-library/python.git\nGitCommit:a, b\n\n");
        assert_eq!(parsed.entries[0].architectures, strings(&["amd64"]));
        // In an entry it inherits the defaults, like an empty value.
        let parsed = parse_ok(
            "Architectures: arm64v8\nConstraints: !aufs\n\nTags: a\nArchitectures: , ,\nConstraints: ,\n",
        );
        assert_eq!(parsed.entries[0].architectures, strings(&["arm64v8"]));
        assert_eq!(parsed.entries[0].constraints, strings(&["!aufs"]));
    }

    #[test]
    fn empty_input_has_no_entries() {
        for text in ["", "\n", "\n\n  \n\t\n", "# only a comment\n", "\r\n\r\n"] {
            assert_eq!(parse(text), Ok(LibraryFile::default()), "{text:?}");
        }
    }

    #[test]
    fn row_shape_has_optional_keys_only_when_set() {
        let parsed = parse_ok(
            "GitRepo: r\n\n\
             Tags: plain\nGitCommit: c\n\n\
             Tags: full, latest\nGitCommit: d\nGitFetch: refs/heads/x\nFile: F\n\
             Constraints: k\narm64v8-GitCommit: e\n",
        );
        let row = row_json(&parsed);
        assert_eq!(
            row,
            json!({
                "tags": ["plain", "full", "latest"],
                "has_latest": true,
                "latest_entry_tags": [["full", "latest"]],
                "latest": [{
                    "git_repo": "r", "git_commit": "d", "directory": ".",
                    "architectures": ["amd64"],
                    "arch_overrides": {"arm64v8-GitCommit": "e"},
                }],
                "entries": [
                    {
                        "tags": ["plain"], "shared_tags": [], "architectures": ["amd64"],
                        "git_repo": "r", "git_fetch": null, "git_commit": "c", "directory": ".",
                    },
                    {
                        "tags": ["full", "latest"], "shared_tags": [], "architectures": ["amd64"],
                        "git_repo": "r", "git_fetch": "refs/heads/x", "git_commit": "d",
                        "directory": ".", "file": "F", "constraints": ["k"],
                        "arch_overrides": {"arm64v8-GitCommit": "e"},
                    },
                ],
            })
        );
    }

    /// `official-images/raw-2021-08-24` of the public data, or None when `test` is skipped.
    fn raw_dir(test: &str) -> Option<std::path::PathBuf> {
        crate::public_data::require(test, "official-images/raw-2021-08-24")
    }

    /// The raw files SOURCES.md lists for raw-2021-08-24.
    const RAW_NAMES: [&str; 12] = [
        "adminer",
        "alpine",
        "backdrop",
        "centos",
        "debian",
        "elasticsearch",
        "kaazing-gateway",
        "nuxeo",
        "opensuse",
        "python",
        "sentry",
        "ubuntu",
    ];

    #[test]
    fn real_library_files_match_the_jsonl_rows() {
        let Some(raw_dir) = raw_dir("library_file::real_library_files_match_the_jsonl_rows") else {
            return;
        };
        let raw_dir = raw_dir.as_path();
        let jsonl_path = raw_dir
            .parent()
            .expect("raw dir has a parent")
            .join("library-2021-08-24.jsonl");
        let jsonl = std::fs::read_to_string(&jsonl_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", jsonl_path.display()));
        let mut rows: BTreeMap<String, Value> = BTreeMap::new();
        for (index, line) in jsonl.lines().enumerate() {
            let row: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} line {}: {e}", jsonl_path.display(), index + 1));
            let name = row["name"].as_str().expect("row has a name").to_string();
            rows.insert(name, row);
        }
        let row_keys = [
            "name",
            "tags",
            "has_latest",
            "latest_entry_tags",
            "latest",
            "entries",
            "oi_commit",
        ];

        let listing = std::fs::read_dir(raw_dir)
            .unwrap_or_else(|e| panic!("raw library files missing at {}: {e}", raw_dir.display()));
        let mut compared = Vec::new();
        for dir_entry in listing {
            let path = dir_entry.expect("readable directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name")
                .to_string();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let parsed = parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = rows
                .get(&name)
                .unwrap_or_else(|| panic!("{name}: no row in {}", jsonl_path.display()));
            let mut expected_keys: Vec<_> = expected
                .as_object()
                .expect("row is an object")
                .keys()
                .map(String::as_str)
                .collect();
            expected_keys.sort_unstable();
            let mut known = row_keys.to_vec();
            known.sort_unstable();
            assert_eq!(expected_keys, known, "{name}: unexpected row keys");
            let actual = row_json(&parsed);
            for key in [
                "tags",
                "has_latest",
                "latest_entry_tags",
                "latest",
                "entries",
            ] {
                assert_eq!(
                    actual[key], expected[key],
                    "{name}: `{key}` differs\nparsed:   {}\nexpected: {}",
                    actual[key], expected[key]
                );
            }
            compared.push(name);
        }
        compared.sort();
        assert_eq!(compared, RAW_NAMES.to_vec(), "raw files compared");
    }

    #[test]
    fn real_files_exercise_the_interesting_cases() {
        // Guards the real-data comparison against silently losing its coverage.
        let Some(dir) = raw_dir("library_file::real_files_exercise_the_interesting_cases") else {
            return;
        };
        let read = |name: &str| {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let python = read("python");
        assert!(
            python.latest_entries().len() > 1,
            "python: latest via SharedTags"
        );
        assert!(python.entries.iter().any(|e| !e.constraints.is_empty()));
        let ubuntu = read("ubuntu");
        assert!(ubuntu
            .entries
            .iter()
            .all(|e| e.arch_overrides.len() == 14 && e.git_fetch.is_none()));
        let centos = read("centos");
        assert_eq!(centos.entries[3].architectures, strings(&["amd64"]));
        assert!(centos.entries.iter().all(|e| e.directory == "docker"));
        let kaazing = read("kaazing-gateway");
        assert_eq!(
            kaazing.entries[0].git_commit.as_deref(),
            Some("a40c8da9d2c2925bdd78b9a6d1b6da3fe89322d1")
        );
        assert_eq!(read("opensuse"), LibraryFile::default());
        assert_eq!(read("sentry"), LibraryFile::default());
        assert!(!read("elasticsearch").has_latest());
    }
}
