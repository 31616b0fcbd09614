//! The DAG as data (issue 10): the README's diagram and stage table and `lib.rs`'s diagram
//! against `dag::STAGES`, so that the docs cannot drift from the table the pipeline runs by
//! (`hubaudit dag` itself: `tests/cli.rs`).
//!
//! Words: a *diagram* is the ```text block of arrows at the top of the README and of `lib.rs`.
//! On each of its lines, `─NAME─▶` (or `─NAME (NOTE)─▶`) is a stage, `LAYER/NAME` or
//! `LAYER/{A,B}` names datasets or stores of the catalog, and the text before the first stage
//! is the outside system it reads. A dataset is *attributed* to the nearest stage to its left.
//! The checks, each failing with the line, stage and dataset that differ:
//! - every stage shown is in the table and does not say "planned"; every stage of the `run`
//!   plan is shown;
//! - what is attributed to a stage is exactly what the table says it writes (datasets and
//!   stores; outside systems are not written);
//! - the group just left of a stage shares at least one node with what the table says it
//!   reads (a diagram's arrows are coarse: the marts flow into report, which reads two of them);
//! - the text before a line's first stage names an outside system that stage reads.
//!
//! In the README's "## The stages" table, a row whose command is `hubaudit STAGE` must name
//! STAGE in its first cell, and the backticked datasets of its reads and writes cells (a bare
//! `name` continues the layer before it) must equal the table's reads and writes under the
//! dataset root. Every stage has a row.

use std::collections::BTreeSet;

use hubaudit::catalog;
use hubaudit::dag::{Node, Plan, Stage};
use regex::Regex;

use crate::util::repo;

/// A dataset or store of the catalog by its layer folder and name, as the docs write it.
fn local_node(layer: &str, name: &str) -> Option<Node> {
    let name = name.trim_end_matches('/');
    catalog::ALL
        .iter()
        .find(|d| d.layer.dir() == layer && d.name == name)
        .map(Node::Dataset)
        .or_else(|| {
            catalog::STORES
                .iter()
                .find(|s| s.layer.dir() == layer && s.name == name)
                .map(Node::Store)
        })
}

/// `LAYER/NAME`, `LAYER/NAME/` or `LAYER/{A,B}`: the nodes, or a problem naming the text.
fn group(layer: &str, names: &str, whence: &str) -> Result<Vec<Node>, String> {
    let names = names.trim_end_matches('/');
    let list: Vec<&str> = match names.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
        Some(inner) => inner.split(',').map(str::trim).collect(),
        None => vec![names],
    };
    list.iter()
        .map(|n| {
            local_node(layer, n).ok_or_else(|| {
                format!("{whence}: `{layer}/{n}` is not a dataset or store of the catalog")
            })
        })
        .collect()
}

/// The local (dataset and store) labels of `nodes`, sorted.
fn local_labels<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> BTreeSet<String> {
    nodes
        .into_iter()
        .filter(|n| n.is_local())
        .map(|n| n.label())
        .collect()
}

/// What one stage appearance on a diagram line says.
struct Shown {
    stage: Stage,
    /// The group just to its left, if any.
    input: Vec<Node>,
    /// Everything attributed to it on the line.
    output: Vec<Node>,
}

/// The lines of the first ```text block of `doc` (with `prefix` stripped from each line).
fn diagram(doc: &str, prefix: &str) -> Vec<String> {
    let lines: Vec<&str> = doc
        .lines()
        .map(|l| {
            l.strip_prefix(prefix)
                .unwrap_or(l.trim_start_matches(prefix.trim_end()))
        })
        .collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == "```text")
        .expect("a ```text diagram");
    lines[start + 1..]
        .iter()
        .take_while(|l| l.trim() != "```")
        .map(|l| l.to_string())
        .collect()
}

/// Checks a diagram (`name` for messages) against the table; returns every problem.
fn check_diagram(name: &str, lines: &[String]) -> Vec<String> {
    let label = Regex::new(r"─([a-z][a-z-]*)(?: \(([^)]*)\))?─*▶").unwrap();
    let dataset = Regex::new(r"\b([1-4]_[a-z]+)/(\{[^}]*\}|[A-Za-z_-]+/?)").unwrap();
    let mut problems = Vec::new();
    let mut shown: Vec<Shown> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let whence = format!("{name}, diagram line {}", i + 1);
        // (position, Some(stage) | None, nodes)
        let mut items: Vec<(usize, Option<Stage>, Vec<Node>)> = Vec::new();
        for c in label.captures_iter(line) {
            let word = &c[1];
            if c.get(2).is_some_and(|n| n.as_str().contains("planned")) {
                problems.push(format!(
                    "{whence}: stage {word} is marked planned; every stage of pipeline/dag.rs runs"
                ));
            }
            match Stage::from_name(word) {
                Some(stage) => items.push((c.get(0).unwrap().start(), Some(stage), Vec::new())),
                None => problems.push(format!(
                    "{whence}: `{word}` is not a stage of pipeline/dag.rs (stages: {})",
                    Stage::ALL.map(Stage::name).join(", ")
                )),
            }
        }
        for c in dataset.captures_iter(line) {
            match group(&c[1], &c[2], &whence) {
                Ok(nodes) => items.push((c.get(0).unwrap().start(), None, nodes)),
                Err(p) => problems.push(p),
            }
        }
        items.sort_by_key(|(pos, _, _)| *pos);
        let first_stage = items.iter().position(|(_, s, _)| s.is_some());
        if let Some(k) = first_stage {
            let stage = items[k].1.unwrap();
            let source = line[..items[k].0]
                .trim_end_matches(['─', ' '])
                .trim()
                .to_string();
            if k == 0 && !source.is_empty() {
                let reads_it = stage
                    .spec()
                    .reads
                    .iter()
                    .any(|n| !n.is_local() && n.id() == source);
                if !reads_it {
                    problems.push(format!(
                        "{whence}: `{source}` flows into {stage}, which pipeline/dag.rs says reads no such outside system"
                    ));
                }
            }
        }
        let mut current: Option<usize> = None;
        for (k, (_, stage, nodes)) in items.iter().enumerate() {
            match stage {
                Some(stage) => {
                    let input = k
                        .checked_sub(1)
                        .and_then(|j| items[j].1.is_none().then(|| items[j].2.clone()))
                        .unwrap_or_default();
                    shown.push(Shown {
                        stage: *stage,
                        input,
                        output: Vec::new(),
                    });
                    current = Some(shown.len() - 1);
                }
                None => match current {
                    Some(c) => shown[c].output.extend(nodes.iter().copied()),
                    None => problems.push(format!(
                        "{whence}: {} is shown before any stage",
                        nodes
                            .iter()
                            .map(|n| n.label())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
            }
        }
    }
    for s in &shown {
        let spec = s.stage.spec();
        if !s.input.is_empty() && !s.input.iter().any(|n| spec.reads(*n)) {
            problems.push(format!(
                "{name}: {} flow into {}, which pipeline/dag.rs says reads none of them (it reads {})",
                local_labels(&s.input).into_iter().collect::<Vec<_>>().join(", "),
                s.stage,
                local_labels(spec.reads).into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for stage in Stage::ALL {
        let appearances: Vec<&Shown> = shown.iter().filter(|s| s.stage == stage).collect();
        if appearances.is_empty() {
            if stage.spec().in_plan(Plan::Run) {
                problems.push(format!(
                    "{name}: stage {stage} of the run plan is not shown"
                ));
            }
            continue;
        }
        let drawn = local_labels(appearances.iter().flat_map(|s| &s.output));
        let table = local_labels(stage.spec().writes);
        problems.extend(set_problems(
            &format!("{name}, diagram"),
            stage,
            "writes",
            &drawn,
            &table,
        ));
    }
    problems
}

/// One problem per dataset in one set and not the other.
fn set_problems(
    whence: &str,
    stage: Stage,
    what: &str,
    docs: &BTreeSet<String>,
    table: &BTreeSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for extra in docs.difference(table) {
        out.push(format!(
            "{whence}: shows {stage} {what} {extra}, pipeline/dag.rs does not"
        ));
    }
    for missing in table.difference(docs) {
        out.push(format!(
            "{whence}: pipeline/dag.rs says {stage} {what} {missing}, the docs do not show it"
        ));
    }
    out
}

/// The backticked datasets and stores of a table cell; a bare `name` continues the layer of
/// the one before it; other backticked text (`datasets/reference/`) is not under a layer.
fn cell_nodes(cell: &str, whence: &str) -> Result<BTreeSet<String>, String> {
    let tick = Regex::new(r"`([^`]+)`").unwrap();
    let path = Regex::new(r"^([1-4]_[a-z]+)/(.+)$").unwrap();
    let bare = Regex::new(r"^[a-z][a-z_-]*$").unwrap();
    let mut layer: Option<String> = None;
    let mut out = BTreeSet::new();
    for c in tick.captures_iter(cell) {
        let token = &c[1];
        if let Some(p) = path.captures(token) {
            layer = Some(p[1].to_string());
            out.extend(local_labels(&group(&p[1], &p[2], whence)?));
        } else if let (Some(l), true) = (&layer, bare.is_match(token)) {
            out.extend(local_labels(&group(l, token, whence)?));
        }
    }
    Ok(out)
}

/// Checks the README's "## The stages" table against the table; returns every problem.
fn check_stage_table(readme: &str) -> Vec<String> {
    let section = readme
        .split("\n## The stages\n")
        .nth(1)
        .expect("README has a ## The stages section");
    let command = Regex::new(r"^`hubaudit ([a-z-]+)").unwrap();
    let mut problems = Vec::new();
    let mut rows: Vec<Stage> = Vec::new();
    for line in section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
    {
        let cells: Vec<String> = line
            .replace("\\|", "\u{0}")
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().replace('\u{0}', "|"))
            .collect();
        let [first, cmd, reads, writes] = &cells[..] else {
            problems.push(format!("README stage table: a row without 4 cells: {line}"));
            continue;
        };
        let Some(sub) = command.captures(cmd).map(|c| c[1].to_string()) else {
            continue;
        };
        let Some(stage) = Stage::from_name(&sub) else {
            continue; // run, snapshots, dag: commands, not stages
        };
        rows.push(stage);
        let whence = format!("README stage table, row {stage}");
        if first != stage.name() {
            problems.push(format!(
                "{whence}: the stage cell says `{first}`, the command and pipeline/dag.rs say {stage}"
            ));
        }
        let spec = stage.spec();
        for (what, cell, table) in [
            ("reads", reads, spec.reads),
            ("writes", writes, spec.writes),
        ] {
            match cell_nodes(cell, &whence) {
                Ok(docs) => problems.extend(set_problems(
                    &whence,
                    stage,
                    what,
                    &docs,
                    &local_labels(table),
                )),
                Err(p) => problems.push(p),
            }
        }
    }
    for stage in Stage::ALL {
        match rows.iter().filter(|s| **s == stage).count() {
            1 => {}
            0 => problems.push(format!("README stage table: no row for stage {stage}")),
            n => problems.push(format!("README stage table: {n} rows for stage {stage}")),
        }
    }
    problems
}

/// Every problem of the README (diagram and table) and of lib.rs's diagram.
fn drift(readme: &str, lib: &str) -> Vec<String> {
    let mut problems = check_diagram("README.md", &diagram(readme, ""));
    problems.extend(check_diagram("pipeline/lib.rs", &diagram(lib, "//! ")));
    problems.extend(check_stage_table(readme));
    problems
}

fn docs() -> (String, String) {
    (
        std::fs::read_to_string(repo().join("README.md")).unwrap(),
        std::fs::read_to_string(repo().join("pipeline/lib.rs")).unwrap(),
    )
}

#[test]
fn the_readme_and_lib_rs_show_the_dag_the_pipeline_runs_by() {
    let (readme, lib) = docs();
    let problems = drift(&readme, &lib);
    assert!(
        problems.is_empty(),
        "the docs drifted from pipeline/dag.rs:\n  {}",
        problems.join("\n  ")
    );
}

/// `doc` with `from` replaced once by `to` (which must occur).
fn edit(doc: &str, from: &str, to: &str) -> String {
    assert!(doc.contains(from), "{from:?} is not in the doc any more");
    doc.replacen(from, to, 1)
}

#[test]
fn drift_is_named_by_stage_and_dataset() {
    let (readme, lib) = docs();
    let cases = [
        // the diagram drops a dataset extract-hub writes
        (
            edit(
                &readme,
                "2_staged/{repositories,tags} ─┐",
                "2_staged/{repositories} ─┐",
            ),
            lib.clone(),
            "pipeline/dag.rs says extract-hub writes 2_staged/tags",
        ),
        // lib.rs attributes a mart to the wrong stage
        (
            readme.clone(),
            edit(
                &lib,
                "3_marts/{images,findings,pulls,rejects} ─report─▶ 4_report/DATE/",
                "3_marts/{images,findings,pulls} ─report─▶ 4_report/DATE/ 3_marts/rejects",
            ),
            "pipeline/lib.rs, diagram: shows report writes 3_marts/rejects",
        ),
        // the old "planned" label
        (
            readme.clone(),
            edit(&lib, "┼─join─▶", "┼─join (planned)─▶"),
            "stage join is marked planned",
        ),
        // a stage the table does not have
        (
            edit(&readme, "─report─▶", "─publish─▶"),
            lib.clone(),
            "`publish` is not a stage of pipeline/dag.rs",
        ),
        // the stage table forgets an input of join
        (
            edit(
                &readme,
                ", every `pull_counts` capture since the previous join;",
                ";",
            ),
            lib.clone(),
            "README stage table, row join: pipeline/dag.rs says join reads 2_staged/pull_counts",
        ),
        // the stage table claims an output scan does not write
        (
            edit(
                &readme,
                "`1_raw/sbom/`, `1_raw/trivy-db/` |",
                "`1_raw/sbom/`, `1_raw/trivy-db/`, `3_marts/findings` |",
            ),
            lib.clone(),
            "README stage table, row scan: shows scan writes 3_marts/findings",
        ),
        // a dataset the catalog does not have
        (
            edit(&readme, "2_staged/pull_counts ─", "2_staged/pulls ─"),
            lib.clone(),
            "`2_staged/pulls` is not a dataset or store of the catalog",
        ),
        // a source the stage does not read
        (
            edit(&readme, "Docker Hub list ────", "Docker Hub API ─────"),
            lib.clone(),
            "`Docker Hub API` flows into pull-counts",
        ),
    ];
    for (readme, lib, want) in cases {
        let problems = drift(&readme, &lib);
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "expected a problem containing {want:?}, got:\n  {}",
            problems.join("\n  ")
        );
    }
}
