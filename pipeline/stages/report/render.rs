//! The report page (self-contained HTML with inline SVG, strict CSP, every value escaped) and
//! its Markdown twin.

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
    pub table: Table,
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

/// Escapes text for HTML element content and attribute values (the SVG module's escaping:
/// one implementation for the whole page).
pub fn escape_html(text: &str) -> String {
    crate::svg::escape(text)
}

/// Escapes text for a Markdown table cell.
pub fn escape_md(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

impl Page {
    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut md = format!("# hubaudit report for {}\n\n", self.date);
        if self.sample {
            md.push_str(&format!("> **{SAMPLE_BANNER}**\n\n"));
        }
        for line in &self.intro {
            md.push_str(&format!("- {}\n", escape_md(line)));
        }
        if !self.charts.is_empty() {
            md.push_str("\nCharts: see index.html.\n");
        }
        for s in &self.sections {
            let (header, rows) = &s.table;
            md.push_str(&format!(
                "\n## {}\n\n{}\n\n",
                escape_md(&s.title),
                escape_md(&s.note)
            ));
            if rows.is_empty() {
                md.push_str("(no rows)\n");
                continue;
            }
            md.push_str(&format!(
                "| {} |\n|{}\n",
                header.join(" | "),
                "---|".repeat(header.len())
            ));
            for r in rows {
                let cells: Vec<String> = r.iter().map(|c| escape_md(c)).collect();
                md.push_str(&format!("| {} |\n", cells.join(" | ")));
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
            h.push_str(&format!("<li>{}</li>\n", escape_html(line)));
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
            let (header, rows) = &s.table;
            let empty = if rows.is_empty() {
                " data-empty=\"true\""
            } else {
                ""
            };
            h.push_str(&format!(
                "<h2>{}</h2>\n<p class=\"note\">{}</p>\n<div class=\"scroll\"><table id=\"{}\"{empty}>\n<thead><tr>",
                escape_html(&s.title),
                escape_html(&s.note),
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
                    h.push_str(&format!("<td>{}</td>", escape_html(&c.replace(';', "; "))));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody>\n</table></div>\n");
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

    #[test]
    fn empty_tables_are_marked_for_readers() {
        let page = Page {
            date: NaiveDate::from_ymd_opt(2021, 8, 24).unwrap(),
            sample: false,
            intro: vec![],
            charts: vec![],
            sections: vec![Section {
                id: "e",
                title: "t".into(),
                note: "n".into(),
                table: (vec!["a"], vec![]),
            }],
        };
        assert!(page.html().contains("<table id=\"e\" data-empty=\"true\">"));
        assert!(!page.html().contains("sample-banner"));
        assert!(page.markdown().contains("(no rows)"));
    }
}
