//! The DAG as data: every stage with what it reads and writes, in one table ([`STAGES`]).
//!
//! Words: a *stage* is one step of the pipeline (a module under `stages/`, a CLI subcommand
//! and a just recipe of the same name); a *node* is what a stage reads or writes: a
//! partitioned [`Dataset`] of the catalog, a [`Store`] (a folder of the dataset root that is
//! not partitioned by snapshot), or an [`External`] system outside the dataset root. A
//! *plan* is the set of stages one command runs ([`Plan`]); its *order* follows from the
//! table: a stage runs after every other stage of the plan that writes something it reads.
//!
//! A stage that reads a node it also writes reads what earlier runs left there (extract-hub
//! the previous catalog, to carry unchanged repositories forward; join the previous images
//! mart; scan its stores of inventories and DBs). Such a read is not an edge of the order.
//!
//! Everything that needs the stage graph derives it from this table: `orchestrate` runs the
//! plans of `run`, `sample run` and `backfill` in [`order`], `hubaudit dag` prints it
//! ([`render`]), [`check_write`] lets `io::partition` refuse a partition its stage does not
//! list among its outputs, and `tests/dag.rs` checks the README's and `lib.rs`'s diagrams
//! against it.

use std::fmt;

use crate::catalog::{
    self, Dataset, Store, BACKFILL_RAW, FINDINGS, FINDINGS_MART, HUB_RAW, IMAGES, PULLS_MART,
    PULL_COUNTS, PULL_COUNTS_RAW, REJECTS, REPORT, REPOSITORIES, SBOM_STORE, SCANS, SCAN_RAW, TAGS,
    TIMETRAVEL_FINDINGS, TIMETRAVEL_RAW, TIMETRAVEL_SCANS, TRIVY_DB_STORE,
};
use crate::error::{Error, Result};
use Node::{Dataset as D, External as X, Store as S};

/// A stage of the pipeline; its name and edges are in [`STAGES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// `extract-hub`: the Hub catalog of a snapshot.
    ExtractHub,
    /// `scan`: Trivy scans of each repository's chosen tag.
    Scan,
    /// `pull-counts`: a light pull-count snapshot.
    PullCounts,
    /// `join`: the marts of a snapshot.
    Join,
    /// `report`: the published files for a date.
    Report,
    /// `backfill`: catalog snapshots for past dates from git history.
    Backfill,
    /// `timetravel`: a past date's vulnerability counts from public history.
    TimeTravel,
}

impl Stage {
    /// Every stage, in the order of [`STAGES`].
    pub const ALL: [Stage; 7] = [
        Stage::ExtractHub,
        Stage::Scan,
        Stage::PullCounts,
        Stage::Join,
        Stage::Report,
        Stage::Backfill,
        Stage::TimeTravel,
    ];

    /// The stage's row of [`STAGES`].
    pub fn spec(self) -> &'static StageSpec {
        STAGES
            .iter()
            .find(|s| s.stage == self)
            .expect("every stage has a row in dag::STAGES (checked by a test)")
    }

    /// Its name: the CLI subcommand, just recipe and dataset folder word (`extract-hub`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The stage called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Stage> {
        STAGES.iter().find(|s| s.name == name).map(|s| s.stage)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The commands that run several stages, each a plan of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// `hubaudit run` and `hubaudit sample run`: every stage for one snapshot, from the Hub,
    /// a registry and Trivy, then the report.
    Run,
    /// `hubaudit backfill`: catalog snapshots for past dates, then what can follow them
    /// without the Hub or a registry.
    Backfill,
}

impl Plan {
    /// The command word.
    pub fn name(self) -> &'static str {
        match self {
            Plan::Run => "run",
            Plan::Backfill => "backfill",
        }
    }
}

/// A system outside the dataset root that a stage reads.
#[derive(Debug, Clone, Copy)]
pub struct External {
    /// Short name, as the diagrams write it.
    pub name: &'static str,
    /// One line for humans.
    pub description: &'static str,
}

/// The Hub API v2: list, details (with the README) and tags.
pub const HUB_API: External = External {
    name: "Docker Hub API",
    description: "Hub API v2: repository list, details (README), tags",
};

/// The Hub's repository list endpoint alone.
pub const HUB_LIST: External = External {
    name: "Docker Hub list",
    description: "the Hub's repository list endpoint only (one request per 100 repositories)",
};

/// Images to scan: pulled by digest from a registry, or docker-save archives.
pub const IMAGE_SOURCE: External = External {
    name: "images",
    description: "images by digest from a registry (or docker-save archives)",
};

/// The Trivy vulnerability DB: an OCI artifact, a cache folder or reports to ingest.
pub const TRIVY_DB_SOURCE: External = External {
    name: "Trivy DB",
    description: "Trivy's vulnerability DB: an OCI artifact, or a cache folder",
};

/// Clones of docker-library/docs and docker-library/official-images.
pub const GIT_HISTORY: External = External {
    name: "docker-library git",
    description: "clones of docker-library/docs and docker-library/official-images",
};

/// Clones of docker-library/repo-info and the Debian security tracker (or fact tables).
pub const PUBLIC_HISTORY: External = External {
    name: "repo-info + security tracker",
    description: "docker-library/repo-info package lists and the Debian security tracker's lists, as of a date (or their fact tables)",
};

/// Committed facts: the study's figures, EOL dates, deprecation dates.
pub const REFERENCE: External = External {
    name: "reference",
    description: "committed facts (datasets/reference/): study figures, EOL and deprecation dates",
};

/// What a stage reads or writes.
#[derive(Debug, Clone, Copy)]
pub enum Node {
    /// A partitioned dataset of the catalog.
    Dataset(&'static Dataset),
    /// A folder of the dataset root that is not partitioned.
    Store(&'static Store),
    /// A system outside the dataset root.
    External(&'static External),
}

impl Node {
    /// Its stable id: the catalog id, or the external's name.
    pub fn id(self) -> &'static str {
        match self {
            Node::Dataset(d) => d.id,
            Node::Store(s) => s.id,
            Node::External(e) => e.name,
        }
    }

    /// How the docs write it: `LAYER/NAME` for what lies under the dataset root, else the
    /// external's name.
    pub fn label(self) -> String {
        match self {
            Node::Dataset(d) => d.path(),
            Node::Store(s) => s.path(),
            Node::External(e) => e.name.to_string(),
        }
    }

    /// Whether it lies under the dataset root (a dataset or a store).
    pub fn is_local(self) -> bool {
        !matches!(self, Node::External(_))
    }

    /// `dataset`, `store` or `external`.
    pub fn kind(self) -> &'static str {
        match self {
            Node::Dataset(_) => "dataset",
            Node::Store(_) => "store",
            Node::External(_) => "external",
        }
    }

    /// One line for humans.
    pub fn description(self) -> &'static str {
        match self {
            Node::Dataset(d) => d.description,
            Node::Store(s) => s.description,
            Node::External(e) => e.description,
        }
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        self.kind() == other.kind() && self.id() == other.id()
    }
}

impl Eq for Node {}

/// One row of the table.
#[derive(Debug)]
pub struct StageSpec {
    /// The stage.
    pub stage: Stage,
    /// Its name (CLI subcommand, just recipe).
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// The plans that run it.
    pub plans: &'static [Plan],
    /// What it reads (a node it also writes: earlier runs' contents).
    pub reads: &'static [Node],
    /// What it writes; a partition of any other dataset is refused ([`check_write`]).
    pub writes: &'static [Node],
}

impl StageSpec {
    /// Whether it reads `node`.
    pub fn reads(&self, node: Node) -> bool {
        self.reads.contains(&node)
    }

    /// Whether it writes `node`.
    pub fn writes(&self, node: Node) -> bool {
        self.writes.contains(&node)
    }

    /// Whether `plan` runs it.
    pub fn in_plan(&self, plan: Plan) -> bool {
        self.plans.contains(&plan)
    }
}

/// Every stage with what it reads and writes, in run order (the order `hubaudit dag` prints;
/// the order a plan runs in is derived by [`order`]).
pub const STAGES: &[StageSpec] = &[
    StageSpec {
        stage: Stage::ExtractHub,
        name: "extract-hub",
        summary: "crawl the Hub API (list, details, tags) into a dated snapshot",
        plans: &[Plan::Run],
        reads: &[X(&HUB_API), D(&REPOSITORIES), D(&TAGS)],
        writes: &[D(&HUB_RAW), D(&REPOSITORIES), D(&TAGS)],
    },
    StageSpec {
        stage: Stage::Scan,
        name: "scan",
        summary: "scan each repository's chosen tag with Trivy and keep every finding",
        plans: &[Plan::Run],
        reads: &[
            X(&IMAGE_SOURCE),
            X(&TRIVY_DB_SOURCE),
            X(&REFERENCE),
            D(&REPOSITORIES),
            D(&TAGS),
            S(&SBOM_STORE),
            S(&TRIVY_DB_STORE),
        ],
        writes: &[
            D(&SCAN_RAW),
            D(&SCANS),
            D(&FINDINGS),
            S(&SBOM_STORE),
            S(&TRIVY_DB_STORE),
        ],
    },
    StageSpec {
        stage: Stage::PullCounts,
        name: "pull-counts",
        summary: "record pulls and stars from the repository list only (cheap; run it daily)",
        plans: &[Plan::Run],
        reads: &[X(&HUB_LIST)],
        writes: &[D(&PULL_COUNTS_RAW), D(&PULL_COUNTS)],
    },
    StageSpec {
        stage: Stage::Join,
        name: "join",
        summary: "join the staged tables of a snapshot into marts",
        plans: &[Plan::Run, Plan::Backfill],
        reads: &[
            X(&REFERENCE),
            D(&REPOSITORIES),
            D(&SCANS),
            D(&FINDINGS),
            D(&PULL_COUNTS),
            D(&IMAGES),
        ],
        writes: &[D(&IMAGES), D(&FINDINGS_MART), D(&PULLS_MART), D(&REJECTS)],
    },
    StageSpec {
        stage: Stage::Report,
        name: "report",
        summary: "build the report for a date from the latest marts on or before it",
        plans: &[Plan::Run],
        reads: &[
            X(&REFERENCE),
            D(&IMAGES),
            D(&PULLS_MART),
            D(&TIMETRAVEL_SCANS),
        ],
        writes: &[S(&REPORT)],
    },
    StageSpec {
        stage: Stage::Backfill,
        name: "backfill",
        summary: "catalog snapshots for past dates from docker-library git history",
        plans: &[Plan::Backfill],
        reads: &[X(&GIT_HISTORY)],
        writes: &[D(&BACKFILL_RAW), D(&REPOSITORIES), D(&TAGS)],
    },
    StageSpec {
        stage: Stage::TimeTravel,
        name: "timetravel",
        summary: "a past date's vulnerability counts: repo-info inventories against the Debian tracker as of that date, scanned by Trivy",
        plans: &[Plan::Run],
        reads: &[
            X(&PUBLIC_HISTORY),
            X(&REFERENCE),
            D(&REPOSITORIES),
            D(&TAGS),
        ],
        writes: &[
            D(&TIMETRAVEL_RAW),
            D(&TIMETRAVEL_SCANS),
            D(&TIMETRAVEL_FINDINGS),
            S(&TRIVY_DB_STORE),
        ],
    },
];

/// The stages of `plan` in the order they run.
pub fn plan(plan: Plan) -> Result<Vec<Stage>> {
    order(STAGES, |s| s.in_plan(plan))
}

/// The stages of `table` that `member` keeps, each after every other kept stage that writes
/// something it reads; ties keep the table's order. A cycle is an internal error naming the
/// stages on it (the table is code).
pub fn order(table: &[StageSpec], member: impl Fn(&StageSpec) -> bool) -> Result<Vec<Stage>> {
    let kept: Vec<&StageSpec> = table.iter().filter(|s| member(s)).collect();
    let needs =
        |s: &StageSpec, t: &StageSpec| s.stage != t.stage && s.reads.iter().any(|n| t.writes(*n));
    let mut done: Vec<Stage> = Vec::new();
    while done.len() < kept.len() {
        let ready = kept.iter().find(|s| {
            !done.contains(&s.stage) && kept.iter().all(|t| done.contains(&t.stage) || !needs(s, t))
        });
        match ready {
            Some(s) => done.push(s.stage),
            None => {
                let stuck: Vec<&str> = kept
                    .iter()
                    .filter(|s| !done.contains(&s.stage))
                    .map(|s| s.name)
                    .collect();
                return Err(Error::internal(
                    "ordering the stages of pipeline/dag.rs",
                    format!("they form a cycle: {}", stuck.join(", ")),
                ));
            }
        }
    }
    Ok(done)
}

/// The stages that write `node`, in table order.
pub fn writers(node: Node) -> Vec<Stage> {
    STAGES
        .iter()
        .filter(|s| s.writes(node))
        .map(|s| s.stage)
        .collect()
}

/// Ok when `stage` lists `ds` among its outputs; otherwise an internal error naming both and
/// the stages that do write it (a stage writing another stage's dataset is a bug).
pub fn check_write(stage: Stage, ds: &Dataset) -> Result<()> {
    let writes = |s: &StageSpec| {
        s.writes
            .iter()
            .any(|n| matches!(n, Node::Dataset(d) if d.id == ds.id))
    };
    if writes(stage.spec()) {
        return Ok(());
    }
    let by: Vec<Stage> = STAGES
        .iter()
        .filter(|s| writes(s))
        .map(|s| s.stage)
        .collect();
    Err(Error::internal(
        format!("writing {} ({})", ds.id, ds.path()),
        format!(
            "stage {stage} does not list it among its outputs in pipeline/dag.rs ({}); {}",
            labels(stage.spec().writes).join(", "),
            if by.is_empty() {
                "no stage writes it".to_string()
            } else {
                format!(
                    "it is written by {}",
                    by.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
                )
            }
        ),
    ))
}

/// The labels of `nodes`.
fn labels(nodes: &[Node]) -> Vec<String> {
    nodes.iter().map(|n| n.label()).collect()
}

/// How `hubaudit dag` prints the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for people: one block of lines per stage, then the plans.
    Text,
    /// JSON: `stages` (name, summary, plans, reads, writes) and `plans` (name → stage order).
    Json,
    /// Graphviz: stages as ellipses, datasets and stores as boxes, outside systems as plain
    /// text; a read of the stage's own output is dashed.
    Dot,
}

/// The table in `format`, ending with a newline.
pub fn render(format: Format) -> Result<String> {
    let plans = [Plan::Run, Plan::Backfill]
        .into_iter()
        .map(|p| Ok((p, plan(p)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(match format {
        Format::Text => render_text(STAGES, &plans),
        Format::Json => render_json(STAGES, &plans),
        Format::Dot => render_dot(STAGES),
    })
}

/// A read of `node` by `spec`, as the text form shows it: `(earlier)` marks a node the stage
/// writes itself.
fn read_label(spec: &StageSpec, node: Node) -> String {
    if spec.writes(node) {
        format!("{} (earlier)", node.label())
    } else {
        node.label()
    }
}

fn render_text(table: &[StageSpec], plans: &[(Plan, Vec<Stage>)]) -> String {
    let reads: Vec<Vec<String>> = table
        .iter()
        .map(|s| s.reads.iter().map(|n| read_label(s, *n)).collect())
        .collect();
    let width = |col: &dyn Fn(usize) -> Vec<String>, title: &str| {
        (0..table.len())
            .flat_map(col)
            .map(|c| c.chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let name_w = width(&|i| vec![table[i].name.to_string()], "STAGE");
    let plan_w = width(&|i| vec![plan_names(table[i].plans)], "PLANS");
    let read_w = width(&|i| reads[i].clone(), "READS");
    let mut out = format!(
        "{:<name_w$}  {:<plan_w$}  {:<read_w$}  WRITES\n",
        "STAGE", "PLANS", "READS"
    );
    for (i, s) in table.iter().enumerate() {
        out.push('\n');
        let writes = labels(s.writes);
        for line in 0..reads[i].len().max(writes.len()) {
            let (name, plans) = if line == 0 {
                (s.name.to_string(), plan_names(s.plans))
            } else {
                (String::new(), String::new())
            };
            let read = reads[i].get(line).map_or("", |r| r.as_str());
            let write = writes.get(line).map_or("", |w| w.as_str());
            out.push_str(
                format!("{name:<name_w$}  {plans:<plan_w$}  {read:<read_w$}  {write}").trim_end(),
            );
            out.push('\n');
        }
    }
    out.push_str(
        "\n(earlier): what earlier runs of the stage itself wrote, not another stage's output\n",
    );
    for (p, stages) in plans {
        let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
        out.push_str(&format!("{}: {}\n", p.name(), names.join(" → ")));
    }
    out
}

/// `run, backfill`.
fn plan_names(plans: &[Plan]) -> String {
    plans
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn node_json(node: Node) -> serde_json::Value {
    let mut v = serde_json::json!({
        "kind": node.kind(),
        "id": node.id(),
        "description": node.description(),
    });
    if node.is_local() {
        v["path"] = node.label().into();
    }
    v
}

fn render_json(table: &[StageSpec], plans: &[(Plan, Vec<Stage>)]) -> String {
    let stages: Vec<serde_json::Value> = table
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "summary": s.summary,
                "plans": s.plans.iter().map(|p| p.name()).collect::<Vec<_>>(),
                "reads": s.reads.iter().map(|n| {
                    let mut v = node_json(*n);
                    v["earlier"] = s.writes(*n).into();
                    v
                }).collect::<Vec<_>>(),
                "writes": s.writes.iter().map(|n| node_json(*n)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let plans: serde_json::Map<String, serde_json::Value> = plans
        .iter()
        .map(|(p, order)| {
            (
                p.name().to_string(),
                order.iter().map(|s| s.name()).collect::<Vec<_>>().into(),
            )
        })
        .collect();
    let doc = serde_json::json!({ "stages": stages, "plans": plans });
    serde_json::to_string_pretty(&doc).expect("the DAG serialises") + "\n"
}

/// A Graphviz identifier: the text quoted.
fn dot_id(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn render_dot(table: &[StageSpec]) -> String {
    let mut out = String::from("digraph hubaudit {\n  rankdir=LR;\n");
    let mut nodes: Vec<Node> = Vec::new();
    for s in table {
        for n in s.reads.iter().chain(s.writes) {
            if !nodes.contains(n) {
                nodes.push(*n);
            }
        }
    }
    for n in &nodes {
        let shape = if n.is_local() { "box" } else { "plaintext" };
        out.push_str(&format!("  {} [shape={shape}];\n", dot_id(&n.label())));
    }
    for s in table {
        out.push_str(&format!("  {} [shape=ellipse];\n", dot_id(s.name)));
    }
    for s in table {
        for n in s.reads {
            let style = if s.writes(*n) { " [style=dashed]" } else { "" };
            out.push_str(&format!(
                "  {} -> {}{style};\n",
                dot_id(&n.label()),
                dot_id(s.name)
            ));
        }
        for n in s.writes {
            out.push_str(&format!(
                "  {} -> {};\n",
                dot_id(s.name),
                dot_id(&n.label())
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// Every node any stage reads or writes, datasets and stores first in catalog order.
pub fn nodes() -> Vec<Node> {
    let mut all: Vec<Node> = catalog::ALL
        .iter()
        .map(Node::Dataset)
        .chain(catalog::STORES.iter().map(Node::Store))
        .collect();
    for s in STAGES {
        for n in s.reads.iter().chain(s.writes) {
            if !all.contains(n) {
                all.push(*n);
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_exactly_one_row_and_a_unique_name() {
        for stage in Stage::ALL {
            assert_eq!(
                STAGES.iter().filter(|s| s.stage == stage).count(),
                1,
                "{stage:?}"
            );
            assert_eq!(Stage::from_name(stage.name()), Some(stage));
        }
        assert_eq!(STAGES.len(), Stage::ALL.len());
        assert_eq!(
            STAGES.iter().map(|s| s.stage).collect::<Vec<_>>(),
            Stage::ALL,
            "Stage::ALL lists the stages in table order"
        );
    }

    #[test]
    fn every_catalog_dataset_and_store_is_written_by_some_stage() {
        for ds in catalog::ALL {
            assert!(!writers(Node::Dataset(ds)).is_empty(), "{}", ds.id);
        }
        for st in catalog::STORES {
            assert!(!writers(Node::Store(st)).is_empty(), "{}", st.id);
        }
    }

    #[test]
    fn the_run_plan_is_the_order_run_always_had() {
        let names = |p| {
            plan(p)
                .unwrap()
                .into_iter()
                .map(Stage::name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Plan::Run),
            // timetravel stores its DB where scan reads stored DBs, so it runs before scan
            [
                "extract-hub",
                "pull-counts",
                "timetravel",
                "scan",
                "join",
                "report"
            ]
        );
        assert_eq!(names(Plan::Backfill), ["backfill", "join"]);
    }

    #[test]
    fn a_stage_runs_after_the_writers_of_what_it_reads_whatever_the_table_order() {
        // join listed before the stages it reads from still runs after them
        let table = [
            copy(Stage::Join),
            copy(Stage::PullCounts),
            copy(Stage::Scan),
            copy(Stage::ExtractHub),
        ];
        let got = order(&table, |_| true).unwrap();
        assert_eq!(
            got,
            [
                Stage::PullCounts,
                Stage::ExtractHub,
                Stage::Scan,
                Stage::Join
            ]
        );
    }

    #[test]
    fn a_cycle_is_an_internal_error_naming_its_stages() {
        let table = [
            StageSpec {
                reads: &[D(&IMAGES)],
                writes: &[D(&REPOSITORIES)],
                ..copy(Stage::ExtractHub)
            },
            copy(Stage::Join),
        ];
        let err = order(&table, |_| true).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INTERNAL);
        assert!(
            err.to_string().contains("cycle: extract-hub, join"),
            "{err}"
        );
    }

    /// A copy of `stage`'s row (StageSpec holds only references, but is not Copy on purpose:
    /// rows are meant to live in the one table).
    fn copy(stage: Stage) -> StageSpec {
        let s = stage.spec();
        StageSpec {
            stage: s.stage,
            name: s.name,
            summary: s.summary,
            plans: s.plans,
            reads: s.reads,
            writes: s.writes,
        }
    }

    #[test]
    fn a_stage_may_write_only_its_own_datasets() {
        assert!(check_write(Stage::Join, &IMAGES).is_ok());
        assert!(check_write(Stage::Backfill, &REPOSITORIES).is_ok());
        let err = check_write(Stage::ExtractHub, &IMAGES).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::INTERNAL);
        let text = err.to_string();
        assert!(text.contains("marts.images"), "{text}");
        assert!(
            text.contains("stage extract-hub does not list it"),
            "{text}"
        );
        assert!(text.contains("it is written by join"), "{text}");
    }

    #[test]
    fn the_text_form_lists_every_stage_and_node_and_marks_earlier_reads() {
        let text = render(Format::Text).unwrap();
        for s in STAGES {
            assert!(text.contains(s.name), "{}", s.name);
        }
        for n in nodes() {
            assert!(text.contains(&n.label()), "{}", n.label());
        }
        assert!(text.contains("3_marts/images (earlier)"), "{text}");
        assert!(text.contains("run: extract-hub → pull-counts → timetravel → scan → join → report"));
        assert!(text.contains("backfill: backfill → join"));
    }

    #[test]
    fn the_json_form_round_trips_the_table() {
        let v: serde_json::Value = serde_json::from_str(&render(Format::Json).unwrap()).unwrap();
        let stages = v["stages"].as_array().unwrap();
        assert_eq!(stages.len(), STAGES.len());
        for (row, spec) in stages.iter().zip(STAGES) {
            assert_eq!(row["name"], spec.name);
            let writes: Vec<&str> = row["writes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap())
                .collect();
            assert_eq!(
                writes,
                spec.writes.iter().map(|n| n.id()).collect::<Vec<_>>()
            );
        }
        assert_eq!(
            v["plans"]["backfill"],
            serde_json::json!(["backfill", "join"])
        );
        let join = &stages[3];
        assert_eq!(join["reads"][5]["id"], "marts.images");
        assert_eq!(join["reads"][5]["earlier"], true);
        assert_eq!(join["reads"][1]["earlier"], false);
    }

    #[test]
    fn the_dot_form_has_an_edge_per_read_and_write() {
        let dot = render(Format::Dot).unwrap();
        let edges = dot.lines().filter(|l| l.contains(" -> ")).count();
        let want: usize = STAGES.iter().map(|s| s.reads.len() + s.writes.len()).sum();
        assert_eq!(edges, want);
        assert!(dot.contains("\"3_marts/images\" -> \"join\" [style=dashed];"));
        assert!(dot.contains("\"join\" -> \"3_marts/images\";"));
    }
}
