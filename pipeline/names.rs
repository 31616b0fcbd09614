//! Docker's reference grammar for the repository names, tags and digests the Hub supplies,
//! checked before any of them becomes part of a file path, a URL or a command line.
//!
//! Words (the grammar of `distribution/reference`, ASCII only):
//! - a *repository* is one or more *path components* `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
//!   joined by `/`, at most 255 characters (`nginx`, `opensuse/leap`);
//! - a *Hub name* is a repository of one component: the name within a namespace that the Hub
//!   lists and puts in its URLs (`/v2/namespaces/library/repositories/NAME`), where a `/`
//!   would address another endpoint;
//! - a *tag* is `[\w][\w.-]{0,127}` with `\w` = `[A-Za-z0-9_]`;
//! - a *digest* is `sha256:` and 64 lowercase hex digits.
//!
//! A value that fails is *refused*: [`Refused`] names it, written by [`quote`] (escaped, so a
//! terminal or log never renders its control characters or bidi overrides, and shortened when
//! long), and says why, naming path traversal, option-like values and URL syntax explicitly.
//! Callers decide what a refusal means for their stage; nothing here does I/O.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Longest repository, in characters (Docker's limit for a whole name).
pub const REPOSITORY_MAX: usize = 255;
/// Longest tag, in characters.
pub const TAG_MAX: usize = 128;
/// Characters of a refused value shown in messages; the rest is summarised by its length.
const SHOWN_CHARS: usize = 64;

/// One path component, anchored (`\A…\z`: a trailing newline never slips through).
const COMPONENT: &str = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*";

static REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"\A{COMPONENT}(?:/{COMPONENT})*\z")).expect("constant regex")
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z").expect("constant regex"));
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\Asha256:[a-f0-9]{64}\z").expect("constant regex"));

/// What kind of value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A repository name (or a Hub name).
    Repository,
    /// A tag.
    Tag,
    /// A content digest.
    Digest,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Repository => "repository",
            Kind::Tag => "tag",
            Kind::Digest => "digest",
        })
    }
}

/// Why a value was refused, most specific reason first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The empty string.
    Empty,
    /// `..` or `.` as a path segment, a leading `/`, a backslash, a NUL, or a percent-encoded
    /// dot, slash or backslash: the value would leave the folder or URL path it is put in.
    Traversal,
    /// Starts with `-`: a command would read it as an option.
    OptionLike,
    /// Longer than the grammar allows (the length is in characters).
    TooLong(usize),
    /// `?`, `#`, `%`, `&` or whitespace: the value would change the URL it is put in.
    UrlSyntax,
    /// A Hub name with a `/` (another endpoint of the Hub API).
    NotOneComponent,
    /// Anything else outside the grammar (uppercase, other characters, separators at an end).
    Grammar,
}

/// A value refused by one of the checks below; its `Display` names it (escaped) and says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// What the value was meant to be.
    pub kind: Kind,
    /// The value as [`quote`] writes it: safe to print, at most about 100 characters.
    pub shown: String,
    /// Why it was refused.
    pub why: Why,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grammar = match self.kind {
            Kind::Repository => "a repository is lowercase letters and digits, separated inside a component by '.', '_', '__' or dashes, components joined by '/', at most 255 characters",
            Kind::Tag => "a tag is a letter, digit or '_' followed by up to 127 letters, digits, '_', '.' or '-'",
            Kind::Digest => "a digest is 'sha256:' followed by 64 lowercase hex digits",
        };
        let why = match self.why {
            Why::Empty => "it is empty".to_string(),
            Why::Traversal => "path traversal ('..', a leading '/', a backslash, NUL or a percent-encoded dot or slash)".to_string(),
            Why::OptionLike => "it starts with '-' and would be read as a command-line option".to_string(),
            Why::TooLong(n) => format!("it is {n} characters long"),
            Why::UrlSyntax => "it holds '?', '#', '%', '&' or whitespace, which change a URL".to_string(),
            Why::NotOneComponent => "a Hub name within a namespace is one path component, without '/'".to_string(),
            Why::Grammar => "it is outside Docker's reference grammar".to_string(),
        };
        write!(f, "{} {} refused: {why}; {grammar}", self.kind, self.shown)
    }
}

impl std::error::Error for Refused {}

/// Checks a repository name (components joined by `/`, see the module docs).
pub fn repository(name: &str) -> Result<(), Refused> {
    check(Kind::Repository, name, REPOSITORY_MAX, &REPOSITORY)
}

/// Checks a Hub name: a repository of exactly one component.
pub fn hub_name(name: &str) -> Result<(), Refused> {
    repository(name)?;
    if name.contains('/') {
        return Err(refused(Kind::Repository, name, Why::NotOneComponent));
    }
    Ok(())
}

/// Checks a tag.
pub fn tag(tag: &str) -> Result<(), Refused> {
    check(Kind::Tag, tag, TAG_MAX, &TAG)
}

/// Checks a content digest (`sha256:` and 64 lowercase hex digits).
pub fn digest(digest: &str) -> Result<(), Refused> {
    check(Kind::Digest, digest, 71, &DIGEST)
}

/// A file name standing in for a refused digest in a content-addressed store: `refused-`
/// and 32 hex digits of the sha256 of the value. It never equals a valid digest's name
/// (`sha256-…`), never leaves its folder, and differs between different refused values.
pub fn stand_in(value: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let hash = Sha256::digest(value.as_bytes());
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("refused-{hex}")
}

/// `value` in double quotes, safe to print anywhere: printable ASCII stays, `"` and `\` are
/// backslash-escaped, everything else (control characters, ESC sequences, bidi overrides, any
/// non-ASCII character) is written as `\u{…}`. Values longer than 64 characters are cut,
/// with their length: `"aaaa…"… (1048576 characters)`.
pub fn quote(value: &str) -> String {
    let mut out = String::from('"');
    let mut count = 0;
    for c in value.chars() {
        count += 1;
        if count > SHOWN_CHARS {
            continue;
        }
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out.push('"');
    if count > SHOWN_CHARS {
        out.push_str(&format!("… ({count} characters)"));
    }
    out
}

fn refused(kind: Kind, value: &str, why: Why) -> Refused {
    Refused {
        kind,
        shown: quote(value),
        why,
    }
}

/// The checks shared by every kind, most specific reason first, then the grammar.
fn check(kind: Kind, value: &str, max: usize, grammar: &Regex) -> Result<(), Refused> {
    let why = if value.is_empty() {
        Some(Why::Empty)
    } else if is_traversal(value) {
        Some(Why::Traversal)
    } else if value.starts_with('-') {
        Some(Why::OptionLike)
    } else if value.chars().count() > max {
        Some(Why::TooLong(value.chars().count()))
    } else if value.contains(['?', '#', '%', '&']) || value.contains(char::is_whitespace) {
        Some(Why::UrlSyntax)
    } else if !grammar.is_match(value) {
        Some(Why::Grammar)
    } else {
        None
    };
    match why {
        Some(why) => Err(refused(kind, value, why)),
        None => Ok(()),
    }
}

/// Whether `value` would step out of the folder or URL path it is joined to.
fn is_traversal(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    value.starts_with('/')
        || value.contains(['\\', '\0'])
        || value
            .split('/')
            .any(|segment| segment == ".." || segment == ".")
        || ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|encoded| lower.contains(encoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(result: Result<(), Refused>) -> Why {
        result.expect_err("refused").why
    }

    #[test]
    fn repositories_follow_the_reference_grammar() {
        for ok in [
            "nginx",
            "a",
            "0",
            "node_exporter",
            "a__b",
            "x-----y",
            "a.b_c-d",
            "opensuse/leap",
            "a/b/c",
            "www.example.com",
        ] {
            assert_eq!(repository(ok), Ok(()), "{ok}");
        }
        for (bad, expected) in [
            ("", Why::Empty),
            ("Nginx", Why::Grammar),
            ("a_", Why::Grammar),
            ("_a", Why::Grammar),
            ("a___b", Why::Grammar),
            ("a..b", Why::Grammar),
            ("a//b", Why::Grammar),
            ("a/", Why::Grammar),
            ("nginx\n", Why::UrlSyntax),
            ("a:b", Why::Grammar),
            ("a\u{202e}b", Why::Grammar),
            ("a\u{1b}[31mb", Why::Grammar),
            ("ｎginx", Why::Grammar),
        ] {
            assert_eq!(why(repository(bad)), expected, "{bad:?}");
        }
        assert_eq!(repository(&"a".repeat(255)), Ok(()));
        assert_eq!(why(repository(&"a".repeat(256))), Why::TooLong(256));
    }

    #[test]
    fn traversal_options_and_url_syntax_are_named() {
        for bad in [
            "../../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "..",
            ".",
            "a/./b",
            "%2e%2e",
            "%2E%2E%2Fetc",
            "a%2fb",
            "a\\..\\b",
            "a\0b",
        ] {
            assert_eq!(why(repository(bad)), Why::Traversal, "{bad:?}");
            assert_eq!(why(tag(bad)), Why::Traversal, "{bad:?}");
        }
        for bad in ["-rf", "--help", "--output=/x"] {
            assert_eq!(why(repository(bad)), Why::OptionLike, "{bad}");
            assert_eq!(why(tag(bad)), Why::OptionLike, "{bad}");
        }
        for bad in ["a?b", "a#b", "a%20b", "a b", "a&b", "a\rb", "a\tb"] {
            assert_eq!(why(repository(bad)), Why::UrlSyntax, "{bad:?}");
            assert_eq!(why(tag(bad)), Why::UrlSyntax, "{bad:?}");
        }
        let e = repository("../../etc/passwd").unwrap_err().to_string();
        assert!(
            e.starts_with("repository \"../../etc/passwd\" refused: path traversal"),
            "{e}"
        );
    }

    #[test]
    fn hub_names_are_one_component() {
        assert_eq!(hub_name("nginx"), Ok(()));
        assert_eq!(why(hub_name("x/tags")), Why::NotOneComponent);
        assert_eq!(why(hub_name("../x")), Why::Traversal);
    }

    #[test]
    fn tags_follow_the_reference_grammar() {
        for ok in [
            "latest",
            "1.21.1-alpine",
            "a..b",
            "_",
            "UPPER",
            "v1_2",
            "x.-",
        ] {
            assert_eq!(tag(ok), Ok(()), "{ok}");
        }
        for (bad, expected) in [
            ("", Why::Empty),
            (".hidden", Why::Grammar),
            ("a/b", Why::Grammar),
            ("a:b", Why::Grammar),
            ("<img>", Why::Grammar),
            ("x\u{202e}", Why::Grammar),
            ("é", Why::Grammar),
        ] {
            assert_eq!(why(tag(bad)), expected, "{bad:?}");
        }
        assert_eq!(tag(&"a".repeat(128)), Ok(()));
        assert_eq!(why(tag(&"a".repeat(129))), Why::TooLong(129));
    }

    #[test]
    fn digests_are_sha256_and_64_lowercase_hex() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(digest(&format!("sha256:{hex}")), Ok(()));
        for bad in [
            format!("sha256:{}", hex.to_uppercase()),
            format!("sha256:{}", &hex[1..]),
            format!("sha256:{hex}0"),
            format!("sha512:{hex}"),
            format!("md5:{}", &hex[..32]),
            "sha256:".to_string(),
            format!("sha256:{hex}\n"),
        ] {
            assert!(digest(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(why(digest("sha256:../../x")), Why::Traversal);
        assert_eq!(why(digest("../../etc")), Why::Traversal);
    }

    #[test]
    fn quote_escapes_and_shortens() {
        assert_eq!(quote("nginx"), "\"nginx\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            quote("\u{0}\u{1b}[31m\r\u{202e}é"),
            "\"\\u{0}\\u{1b}[31m\\u{d}\\u{202e}\\u{e9}\""
        );
        let long = quote(&"x".repeat(1 << 20));
        assert_eq!(
            long,
            format!("\"{}\"… (1048576 characters)", "x".repeat(64))
        );
        let e = tag(&"x".repeat(1 << 20)).unwrap_err().to_string();
        assert!(e.len() < 300 && e.contains("1048576 characters"), "{e}");
    }

    #[test]
    fn stand_ins_stay_in_their_folder_and_differ() {
        let a = stand_in("../../etc/passwd");
        assert!(a.starts_with("refused-") && a.len() == 40, "{a}");
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_ne!(a, stand_in("../../etc/shadow"));
        assert_eq!(a, stand_in("../../etc/passwd"));
    }
}
