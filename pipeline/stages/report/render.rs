//! The report page (self-contained HTML with inline SVG, strict CSP, every value escaped) and
//! its Markdown twin, and the one place where text from the data is made safe for each
//! output format.
//!
//! Every value in a table is *untrusted text*: names, links and notices come from the Hub's
//! READMEs, labels from the server. Per format:
//! - HTML: [`escape_html`] (the SVG module's escaper: markup and quotes escaped, hidden
//!   characters such as NUL, ESC, CR and bidi overrides written visibly as `[U+XXXX]`);
//! - Markdown: [`escape_md`] (the same visible hidden characters, no live HTML, links,
//!   images, autolinks or code, and table cells that keep their columns);
//! - CSV: [`csv_field`] (formula prefixes neutralised, OWASP's advice; the value otherwise
//!   whole);
//! - HTML and Markdown cells longer than [`CELL_CHARS`] are [shortened](shorten) with a
//!   visible marker; the CSV files and the marts keep every value whole.

use std::borrow::Cow;

use chrono::NaiveDate;

use super::tables::Table;

/// Shown on every page built from the sample world.
pub const SAMPLE_BANNER: &str = "SAMPLE DATA: this report was built from hubaudit's synthetic sample world (offline replay). Names, deprecation dates and notice targets follow public history; descriptions, pull counts, dates and vulnerabilities are invented. It is not a measurement of Docker Hub.";

/// A table of the page.
pub struct Section {
    /// HTML id.
    pub id: &'static str,
    /// Heading (plain text; escaped when rendered).
    pub title: String,
    /// Which snapshot(s) it used, or why it is empty.
    pub note: String,
    /// The CSV file holding every row of the table.
    pub csv: &'static str,
    pub table: Table,
}

/// Rows of a table shown on the page (HTML and Markdown); a longer table shows its first rows
/// (in the table's order: most relevant first) and says how many more its CSV holds, so the
/// page stays usable with tens of thousands of images.
pub const PAGE_ROWS: usize = 100;

impl Section {
    /// The rows shown on the page, and the sentence saying what was left to the CSV.
    fn shown(&self) -> (&[Vec<String>], Option<String>) {
        let rows = &self.table.1;
        if rows.len() <= PAGE_ROWS {
            return (rows, None);
        }
        let more = format!(
            "Showing the first {PAGE_ROWS} of {} rows; all of them are in {}.",
            rows.len(),
            self.csv
        );
        (&rows[..PAGE_ROWS], Some(more))
    }
}

/// A whole page.
pub struct Page {
    pub date: NaiveDate,
    pub sample: bool,
    pub intro: Vec<String>,
    /// Inline SVG charts (already escaped by the chart module).
    pub charts: Vec<String>,
    pub sections: Vec<Section>,
}

/// Longest value (table cell, intro line, title, note) shown in HTML and Markdown, in
/// characters.
pub const CELL_CHARS: usize = 1000;

/// Escapes text for HTML element content and attribute values (the SVG module's escaping:
/// one implementation for the whole page, hidden characters shown as `[U+XXXX]`).
pub fn escape_html(text: &str) -> String {
    crate::svg::escape(text)
}

/// `text` cut to [`CELL_CHARS`] characters with a visible marker saying how long it was and
/// where the whole value is; shorter text is returned as it is. Counts characters, so a cut
/// never splits one.
pub fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(CELL_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!(
            "{}… [shortened: {} characters in all, the CSV file has the whole value]",
            &text[..cut],
            text.chars().count()
        )),
    }
}

/// Escapes text for Markdown (a table cell, a list item or a paragraph), for CommonMark with
/// GitHub's extensions (tables, autolinks, strikethrough):
/// - hidden characters become `[U+XXXX]`, line breaks and tabs become spaces (a cell is one
///   line);
/// - `&`, `<`, `>` become entities, so no raw HTML, autolink or entity survives;
/// - Markdown punctuation (`` \ ` * _ [ ] | ~ $ ``) is backslash-escaped: no link, image,
///   code span, emphasis or math, and a `|` never splits a table cell;
/// - bare URLs are defanged as security reports do (shown as `https[:]//`, `www[.]`, `[@]`),
///   because GitHub turns `https://…`, `www.…` and `a@b.c` into links even in escaped text;
/// - a leading `#`, `>`, `+`, `-`, `=` or `1.` is escaped, so a value never starts a heading,
///   quote or list.
pub fn escape_md(text: &str) -> String {
    let text = crate::svg::reveal(text);
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text.as_ref();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    // `>` needs nothing: it becomes `&gt;`, which never opens a quote
    if rest.starts_with(['#', '+', '-', '=']) {
        out.push('\\');
    } else if digits > 0 && rest[digits..].starts_with(['.', ')']) {
        out.push_str(&rest[..digits]);
        out.push('\\');
        rest = &rest[digits..];
    }
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        let after = &rest[i + c.len_utf8()..];
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' | '\t' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            // the brackets of a defanged URL are escaped too: literal, never link text
            ':' if after.starts_with("//") => out.push_str("\\[:\\]"),
            '@' => out.push_str("\\[@\\]"),
            'w' | 'W'
                if after
                    .get(..3)
                    .is_some_and(|w| w.eq_ignore_ascii_case("ww.")) =>
            {
                out.push(c);
                out.push_str(&after[..2]);
                out.push_str("\\[.\\]");
                // the "ww." just written
                for _ in 0..3 {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A CSV field safe to open in a spreadsheet (OWASP, "CSV Injection"): a value starting with
/// `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so it is shown as text and
/// never evaluated as a formula. Plain numbers (`-5`, `-0.25`) stay numbers. Quoting of
/// commas, quotes and line breaks is the CSV writer's job.
pub fn csv_field(text: &str) -> Cow<'_, str> {
    let number = {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
        !int.is_empty()
            && !frac.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !number {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

impl Page {
    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut md = format!("# hubaudit report for {}\n\n", self.date);
        if self.sample {
            md.push_str(&format!("> **{SAMPLE_BANNER}**\n\n"));
        }
        for line in &self.intro {
            md.push_str(&format!("- {}\n", escape_md(&shorten(line))));
        }
        if !self.charts.is_empty() {
            md.push_str("\nCharts: see index.html.\n");
        }
        for s in &self.sections {
            let header = &s.table.0;
            let (rows, more) = s.shown();
            md.push_str(&format!(
                "\n## {}\n\n{}\n\n",
                escape_md(&shorten(&s.title)),
                escape_md(&shorten(&s.note))
            ));
            if rows.is_empty() {
                md.push_str("(no rows)\n");
                continue;
            }
            let header: Vec<String> = header.iter().map(|c| escape_md(c)).collect();
            md.push_str(&format!(
                "| {} |\n|{}\n",
                header.join(" | "),
                "---|".repeat(header.len())
            ));
            for r in rows {
                let cells: Vec<String> = r.iter().map(|c| escape_md(&shorten(c))).collect();
                md.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            if let Some(more) = more {
                md.push_str(&format!("\n{}\n", escape_md(&more)));
            }
        }
        md
    }

    /// The HTML report.
    pub fn html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.push_str(&format!("<title>hubaudit report {}</title>\n", self.date));
        h.push_str("<style>body{font-family:system-ui,sans-serif;margin:2rem}.scroll{overflow-x:auto}table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}td{max-width:28rem;overflow-wrap:break-word}th{background:#f0f0f0}.banner{background:#fff3cd;border:2px solid #d39e00;padding:1rem;font-weight:bold}.note{color:#555}.charts{display:grid;gap:1.5rem;max-width:900px}</style>\n</head>\n<body>\n");
        if self.sample {
            h.push_str(&format!(
                "<p class=\"banner\" id=\"sample-banner\">{}</p>\n",
                escape_html(SAMPLE_BANNER)
            ));
        }
        h.push_str(&format!(
            "<h1>hubaudit report for {}</h1>\n<ul>\n",
            self.date
        ));
        for line in &self.intro {
            h.push_str(&format!("<li>{}</li>\n", escape_html(&shorten(line))));
        }
        h.push_str("</ul>\n");
        if !self.charts.is_empty() {
            h.push_str("<section class=\"charts\">\n");
            for c in &self.charts {
                h.push_str(c);
                h.push('\n');
            }
            h.push_str("</section>\n");
        }
        for s in &self.sections {
            let header = &s.table.0;
            let (rows, more) = s.shown();
            let empty = if rows.is_empty() {
                " data-empty=\"true\""
            } else {
                ""
            };
            h.push_str(&format!(
                "<h2>{}</h2>\n<p class=\"note\">{}</p>\n<div class=\"scroll\"><table id=\"{}\"{empty}>\n<thead><tr>",
                escape_html(&shorten(&s.title)),
                escape_html(&shorten(&s.note)),
                s.id
            ));
            for c in header {
                h.push_str(&format!("<th>{}</th>", escape_html(c)));
            }
            h.push_str("</tr></thead>\n<tbody>\n");
            for r in rows {
                h.push_str("<tr>");
                for c in r {
                    // lists wrap at their separators on screen; the CSV keeps them compact
                    let shown = shorten(c).replace(';', "; ");
                    h.push_str(&format!("<td>{}</td>", escape_html(&shown)));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody>\n</table></div>\n");
            if let Some(more) = more {
                h.push_str(&format!(
                    "<p class=\"more\" id=\"{}-more\">{}</p>\n",
                    s.id,
                    escape_html(&more)
                ));
            }
        }
        h.push_str(&format!(
            "<footer><p>Generated by hubaudit {} from dated Parquet snapshots.</p></footer>\n</body>\n</html>\n",
            env!("CARGO_PKG_VERSION")
        ));
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_title_and_note_is_escaped() {
        let evil = "<script>alert('x')</script>";
        let page = Page {
            date: NaiveDate::from_ymd_opt(2021, 8, 24).unwrap(),
            sample: true,
            intro: vec![evil.into()],
            charts: vec![],
            sections: vec![Section {
                id: "t",
                title: evil.into(),
                note: evil.into(),
                csv: "t.csv",
                table: (vec!["name"], vec![vec![evil.into()], vec!["a|b".into()]]),
            }],
        };
        let html = page.html();
        assert!(!html.contains("<script"), "{html}");
        assert_eq!(
            html.matches("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
                .count(),
            4
        );
        assert!(html.contains("id=\"sample-banner\""));
        let md = page.markdown();
        assert!(!md.contains("<script"));
        assert!(md.contains("a\\|b"));
    }

    /// One value per hostile class; each must come out inert in every format.
    fn hostile_values() -> Vec<String> {
        vec![
            "<script>window.__hubaudit_pwned=1</script>".into(),
            "<img src=x onerror=alert(1)>".into(),
            "\"'><svg onload=alert(1)>".into(),
            "</textarea></td></tr></table><b>x".into(),
            "[click](javascript:alert(1))".into(),
            "![img](https://evil.example/x.png)".into(),
            "a|b|c `code` **bold** ~~s~~ $x$".into(),
            "https://evil.example/ www.evil.example a@evil.example <https://evil.example>".into(),
            "nul\u{0}esc\u{1b}[31mred cr\rlf\nbidi\u{202E}gpj.exe\u{2066}\u{2069}".into(),
            "# heading".into(),
            "1. list".into(),
            "&lt;script&gt;".into(),
            "x".repeat(1 << 20),
        ]
    }

    fn hostile_page() -> Page {
        let values = hostile_values();
        Page {
            date: NaiveDate::from_ymd_opt(2021, 8, 24).unwrap(),
            sample: false,
            intro: values.clone(),
            charts: vec![],
            sections: vec![Section {
                id: "t",
                title: values[0].clone(),
                note: values[1].clone(),
                csv: "t.csv",
                table: (
                    vec!["a", "b"],
                    values.iter().map(|v| vec![v.clone(), v.clone()]).collect(),
                ),
            }],
        }
    }

    #[test]
    fn hostile_text_is_inert_in_html() {
        let html = hostile_page().html();
        for tag in ["<script", "<img", "<svg", "</textarea", "<b>", "<a "] {
            assert!(!html.contains(tag), "{tag} in the page");
        }
        assert!(!html.contains("\"'>"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(
            html.contains("&amp;lt;script&amp;gt;"),
            "entities shown as typed"
        );
        assert!(html.contains("nul[U+0000]esc[U+001B][31mred cr[U+000D]lf"));
        assert!(html.contains("bidi[U+202E]gpj.exe[U+2066][U+2069]"));
        assert!(!html.chars().any(crate::svg::is_hidden));
        assert!(html.contains("… [shortened: 1048576 characters in all"));
        assert!(
            html.len() < 100_000,
            "{} bytes: a long value was not shortened",
            html.len()
        );
    }

    #[test]
    fn hostile_text_is_inert_in_markdown_and_tables_keep_their_columns() {
        let md = hostile_page().markdown();
        assert!(!md.contains('<'), "no raw HTML");
        assert!(!md.chars().any(crate::svg::is_hidden));
        for pattern in [
            "](", "![", "[c", "://", "www.", "a@", "`", "**", "~~", "$x", "|c",
        ] {
            assert!(!live(&md, pattern), "{pattern:?} is live in the Markdown");
        }
        assert!(md.contains("https\\[:\\]//evil.example/"));
        assert!(md.contains("\\[U+202E\\]"), "bidi shown, not applied");
        assert!(md.contains("- \\# heading") && md.contains("- 1\\. list"));
        assert!(md.contains("&amp;lt;script&amp;gt;"));
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + hostile_values().len());
        for row in rows {
            // cells are split by pipes not preceded by an odd run of backslashes
            let mut cells = 0;
            let mut backslashes = 0;
            for c in row.chars() {
                if c == '|' && backslashes % 2 == 0 {
                    cells += 1;
                }
                backslashes = if c == '\\' { backslashes + 1 } else { 0 };
            }
            assert_eq!(cells, 3, "{row}");
            assert!(row.len() < 20_000);
        }
        assert!(md.contains("shortened: 1048576 characters"));
    }

    /// Whether `pattern` occurs in `md` with its first character not backslash-escaped.
    fn live(md: &str, pattern: &str) -> bool {
        md.match_indices(pattern).any(|(i, _)| {
            let backslashes = md[..i].bytes().rev().take_while(|&b| b == b'\\').count();
            backslashes % 2 == 0
        })
    }

    #[test]
    fn markdown_escaping_of_ordinary_values_stays_readable() {
        assert_eq!(escape_md("jenkins/jenkins:lts"), "jenkins/jenkins:lts");
        assert_eq!(escape_md("node_exporter"), "node\\_exporter");
        assert_eq!(escape_md("2021-08-24"), "2021-08-24");
        assert_eq!(escape_md("-"), "\\-");
        assert_eq!(escape_md("Www.x"), "Www\\[.\\]x");
        assert_eq!(escape_md("w€w"), "w€w");
    }

    #[test]
    fn csv_formula_prefixes_are_neutralised_and_numbers_kept() {
        for bad in [
            "=1+1",
            "+cmd",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "-",
            "=HYPERLINK(\"x\")",
        ] {
            assert_eq!(csv_field(bad), format!("'{bad}"), "{bad:?}");
        }
        for ok in ["-5", "-0.25", "5", "nginx", "", " =x", "a=b", "'quoted"] {
            assert_eq!(csv_field(ok), ok, "{ok:?}");
        }
    }

    #[test]
    fn long_values_are_shortened_on_character_boundaries() {
        assert_eq!(shorten("short"), "short");
        let exact = "é".repeat(CELL_CHARS);
        assert_eq!(shorten(&exact), exact);
        let long = shorten(&"é".repeat(CELL_CHARS + 1)).into_owned();
        assert!(long.starts_with(&"é".repeat(CELL_CHARS)));
        assert!(
            long.ends_with("[shortened: 1001 characters in all, the CSV file has the whole value]")
        );
    }

    /// A page of one section and nothing else.
    fn one_table(id: &'static str, csv: &'static str, table: Table) -> Page {
        Page {
            date: NaiveDate::from_ymd_opt(2021, 8, 24).unwrap(),
            sample: false,
            intro: vec![],
            charts: vec![],
            sections: vec![Section {
                id,
                title: "t".into(),
                note: "n".into(),
                csv,
                table,
            }],
        }
    }

    #[test]
    fn empty_tables_are_marked_for_readers() {
        let page = one_table("e", "t.csv", (vec!["a"], vec![]));
        assert!(page.html().contains("<table id=\"e\" data-empty=\"true\">"));
        assert!(!page.html().contains("sample-banner"));
        assert!(page.markdown().contains("(no rows)"));
    }

    #[test]
    fn a_long_table_shows_its_first_rows_and_names_the_csv_with_all() {
        let rows: Vec<Vec<String>> = (0..PAGE_ROWS + 7)
            .map(|i| vec![format!("img-{i:05}")])
            .collect();
        let page = one_table("vulnerable", "vulnerable.csv", (vec!["name"], rows));
        let html = page.html();
        assert!(html.contains("img-00099") && !html.contains("img-00100"));
        assert!(html.contains(&format!(
            "<p class=\"more\" id=\"vulnerable-more\">Showing the first {PAGE_ROWS} of {} rows; all of them are in vulnerable.csv.</p>",
            PAGE_ROWS + 7
        )));
        let md = page.markdown();
        assert!(md.contains("img-00099") && !md.contains("img-00100"));
        assert!(md.contains("all of them are in vulnerable.csv"));
    }
}
