//! The `hubaudit` command line: parses arguments, resolves a command's settings from flags and
//! configuration, runs a stage or a plan of stages (`orchestrate`), prints the summaries and
//! maps errors to exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use hubaudit::config::{self, Config};
use hubaudit::dag::{Plan, Stage};
use hubaudit::error::{exit, Error, Result};
use hubaudit::io::partition::Shard;
use hubaudit::io::remote::{self, Location};
use hubaudit::orchestrate::{self, Done, Event, Settings};
use hubaudit::sample::replay::{Capture, Fault, Knobs, ReplayHub};
use hubaudit::sample::{default_capture_dir, World};
use hubaudit::stages::{backfill, extract_hub, join, pull_counts, report, scan, timetravel};
use hubaudit::{catalog, dag, dates, trivy};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  partial: the stage finished but some items failed (rows with a status) or were refused
     (Hub names outside the reference grammar, named in warnings)
  2  an outside system (Docker Hub, a registry, Trivy) failed beyond the retry budget;
     nothing was written for the snapshot
  3  bad input: arguments, configuration, dates, missing or corrupt input files (a damaged
     partition, named)
  5  local I/O or internal error (a full disk says so: No space left on device)
  141 the output pipe was closed (e.g. `| head`); the work itself finished

Secrets: a Docker Hub token is read from HUBAUDIT_HUB_TOKEN only (never from flags or files).
Quick start on the offline sample world: `just run`, then open datasets/4_report/2021-08-24/index.html";

/// hubaudit: repeatable security review of Docker Official Images.
///
/// Staged jobs extract Docker Hub metadata into dated Parquet snapshots
/// (datasets/1_raw, 2_staged, 3_marts) and a report stage rebuilds the 2021 study's tables
/// for any date (datasets/4_report/DATE).
#[derive(Parser, Debug)]
#[command(name = "hubaudit", version, after_help = AFTER_HELP, max_term_width = 100)]
struct Cli {
    /// Configuration file [default: $HUBAUDIT_CONFIG, else ./hubaudit.toml when present, else
    /// built-in defaults]. Unknown keys are errors.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// One value per process, parsed once: the size of the largest variant (scan's flags) costs
// nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Crawl the Hub API (list, details, tags) into a dated snapshot.
    ///
    /// Writes 1_raw/hub, 2_staged/repositories and 2_staged/tags for --snapshot. With an
    /// earlier snapshot present, details and tags are fetched only for repositories whose
    /// last_updated changed (use --full to fetch all). If any request fails beyond its retry
    /// budget, nothing is written and the exit code is 2.
    ExtractHub(ExtractArgs),
    /// Scan each repository's latest (else newest) tag with Trivy and store every finding.
    ///
    /// Reads the snapshot's repositories and tags; writes 1_raw/scan, 2_staged/scans and
    /// 2_staged/findings. Scans without --ignore-unfixed and derives the fixable count (what
    /// that flag keeps). An image whose digest is unchanged since the previous snapshot is not
    /// analysed again: its stored SBOM is rescanned with this run's DB. A failed image is a row
    /// with its error; the run goes on and exits 1.
    Scan(ScanArgs),
    /// Record a light pull-count snapshot from the repository list only (cheap; run it daily).
    ///
    /// Writes 1_raw/pull_counts and 2_staged/pull_counts for --snapshot.
    PullCounts(ExtractArgs),
    /// Join the staged tables of a snapshot into marts.
    ///
    /// Writes 3_marts/images (one row per image), 3_marts/findings, 3_marts/pulls and
    /// 3_marts/rejects (rows that did not join, with the reason).
    Join(WriteArgs),
    /// Catalog snapshots for past dates from docker-library git history (docs + official-images).
    ///
    /// For each date from --from to --to (every --every days) reads the last first-parent commit
    /// before the date of both clones and writes 2_staged/repositories and 2_staged/tags with
    /// source "backfill" (images whose docs folder was already deleted included, read from the
    /// last commit that had them), then joins the marts for the date.
    Backfill {
        /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX [default: datasets]
        #[arg(long, value_name = "DIR")]
        datasets: Option<PathBuf>,
        /// Clone of github.com/docker-library/docs
        #[arg(long, value_name = "PATH")]
        docs_repo: PathBuf,
        /// Clone of github.com/docker-library/official-images
        #[arg(long, value_name = "PATH")]
        official_images_repo: PathBuf,
        /// First date, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last date, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        to: String,
        /// Days between snapshots, e.g. 1d or 7d
        #[arg(long, default_value = "1d", value_name = "Nd")]
        every: String,
    },
    /// Check every partition and stored inventory and DB; name each one that is damaged.
    ///
    /// A partition is intact when its manifest parses and its data file has the recorded size,
    /// sha256 and row count. Exits 3 when anything is damaged (re-run the stage that writes
    /// it, for that snapshot), 0 otherwise. Unfinished writes under DATASETS/.tmp are listed.
    Verify {
        /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX [default: datasets]
        #[arg(long, value_name = "DIR")]
        datasets: Option<PathBuf>,
    },
    /// List the snapshot dates of every dataset.
    Snapshots {
        /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX [default: datasets]
        #[arg(long, value_name = "DIR")]
        datasets: Option<PathBuf>,
    },
    /// Print the DAG: every stage with the datasets it reads and writes, and the stage order of
    /// `run` and `backfill`.
    ///
    /// Datasets are LAYER/NAME folders under the dataset root (`hubaudit snapshots` lists their
    /// dates); "(earlier)" marks a read of what earlier runs of the stage itself wrote (the
    /// previous snapshot, a store), which is not an edge of the order. This one table orders
    /// `run`, `sample run` and `backfill`, and a stage writing a partition it does not list is
    /// refused (exit 5).
    Dag {
        /// text: a table; json: stages (name, summary, plans, reads, writes) and plans (stage
        /// order); dot: Graphviz (`hubaudit dag --format dot | dot -Tsvg > dag.svg`)
        #[arg(long, value_enum, default_value_t = DagFormat::Text)]
        format: DagFormat,
    },
    /// Build the report for a date from the latest snapshots on or before it.
    ///
    /// Writes 4_report/DATE/: index.html, report.md, deprecated.csv, deprecated_vs_study.csv.
    Report(ReportArgs),
    /// Recompute a past date's vulnerability counts from public history.
    ///
    /// For every image of the catalog at --date (run backfill or extract-hub for it first)
    /// with its chosen tag: its package list from docker-library/repo-info as of the date
    /// (repos/NAME/local/TAG.md, or another tag of the same image, or a stand-in given with
    /// --inventory), the Debian security tracker's advisories as of the date (a DSA/DLA counts
    /// only when dated on or before it; data/CVE/list as it stood then when the clone has it),
    /// a Trivy DB of exactly that written and stored under 1_raw/trivy-db, and a `trivy rootfs`
    /// scan of the list. Writes 1_raw/timetravel, 2_staged/timetravel_scans and
    /// 2_staged/timetravel_findings (source "timetravel", provenance on every row); the report
    /// for the date shows them beside the study. An image without a list or of a family
    /// without an advisory source (CentOS, Alpine) is a row saying so. Clones are read at
    /// their last commit before the date; a plain folder in the repository's layout is read
    /// as it is (rows then give file checksums instead of commits). Exits 1 when a scan failed.
    Timetravel(TimetravelArgs),
    /// Run every stage in DAG order for one snapshot, then the report for that date.
    ///
    /// extract-hub, pull-counts, timetravel, scan, join, report (the `run` plan of `hubaudit
    /// dag`), with the registry and a downloaded Trivy DB as `scan` would use them;
    /// timetravel uses the embedded 2021-08-24 fact tables and is skipped on other dates.
    /// Exits 1 when any stage was partial.
    Run(ExtractArgs),
    /// The offline sample world: build its replay capture, serve it, or run the whole pipeline on it.
    #[command(subcommand)]
    Sample(SampleCommand),
}

/// How `hubaudit dag` prints the table.
#[derive(ValueEnum, Debug, Clone, Copy)]
enum DagFormat {
    Text,
    Json,
    Dot,
}

impl From<DagFormat> for dag::Format {
    fn from(f: DagFormat) -> dag::Format {
        match f {
            DagFormat::Text => dag::Format::Text,
            DagFormat::Json => dag::Format::Json,
            DagFormat::Dot => dag::Format::Dot,
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
struct WriteArgs {
    /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX (AWS_* credentials from the
    /// environment) [default: datasets, or `datasets` in the config]
    #[arg(long, value_name = "DIR")]
    datasets: Option<PathBuf>,
    /// Snapshot date to write, YYYY-MM-DD [default: today, UTC]
    #[arg(long, value_name = "DATE")]
    snapshot: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct TimetravelArgs {
    /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX [default: datasets]
    #[arg(long, value_name = "DIR")]
    datasets: Option<PathBuf>,
    /// The past date, YYYY-MM-DD
    #[arg(long, value_name = "DATE")]
    date: String,
    /// docker-library/repo-info: a clone (a partial clone is enough: see the README) or a
    /// folder in its layout (repos/NAME/local/TAG.md)
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "facts",
        conflicts_with = "facts"
    )]
    repo_info: Option<PathBuf>,
    /// The Debian security tracker: a clone or a folder in its layout (data/DSA/list,
    /// data/DLA/list, and data/CVE/list when there is one)
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "facts",
        conflicts_with = "facts"
    )]
    security_tracker: Option<PathBuf>,
    /// docker-library/official-images (clone or folder with library/NAME): the tags of one
    /// library entry name one image, so any of their repo-info files will do
    #[arg(long, value_name = "PATH", conflicts_with = "facts")]
    official_images: Option<PathBuf>,
    /// A stand-in package list for NAME: PATH inside repo-info (e.g.
    /// kaazing-gateway=repos/openjdk/local/8u302-jre-buster.md); its rows say "proxy"
    #[arg(long, value_name = "NAME=PATH", conflicts_with = "facts")]
    inventory: Vec<String>,
    /// Read the compact fact tables of DIR (written by --export-facts) instead of the
    /// histories
    #[arg(long, value_name = "DIR")]
    facts: Option<PathBuf>,
    /// Also write the compact fact tables of the inputs used to DIR
    #[arg(long, value_name = "DIR")]
    export_facts: Option<PathBuf>,
    /// Trivy binary [default: scan.trivy, .tools/venv/bin/trivy, or trivy on PATH]
    #[arg(long, value_name = "PATH")]
    trivy: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Default)]
struct ExtractArgs {
    #[command(flatten)]
    write: WriteArgs,
    /// Hub API base URL [default: https://hub.docker.com, or hub.url in the config]
    #[arg(long, value_name = "URL")]
    hub_url: Option<String>,
    /// Hub namespace [default: library]
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// Requests in flight at once
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Fetch every detail and tag list even when an earlier snapshot could be carried forward
    #[arg(long)]
    full: bool,
}

impl WriteArgs {
    /// `--datasets`, else the configured root.
    fn datasets(&self, config: &Config) -> PathBuf {
        self.datasets.clone().unwrap_or(config.datasets.clone())
    }

    /// `--snapshot`, else today (UTC).
    fn snapshot(&self) -> Result<NaiveDate> {
        match &self.snapshot {
            Some(s) => dates::parse_date("--snapshot", s),
            None => Ok(dates::today_utc()),
        }
    }
}

#[derive(Args, Debug, Clone, Default)]
struct ScanArgs {
    #[command(flatten)]
    write: WriteArgs,
    /// Trivy binary [default: scan.trivy, .tools/venv/bin/trivy, or trivy on PATH]
    #[arg(long, value_name = "PATH")]
    trivy: Option<PathBuf>,
    /// Registry to pull from, HOST[:PORT]; images are pulled by digest as
    /// HOST/NAMESPACE/NAME@sha256:… (plain HTTP only for loopback hosts) [default: docker.io,
    /// or scan.registry in the config]
    #[arg(long, value_name = "HOST[:PORT]")]
    registry: Option<String>,
    /// OCI repository of the Trivy DB, HOST/REPO[:TAG]: resolved to a digest, downloaded once
    /// per run unless a DB downloaded from that digest is stored [default:
    /// mirror.gcr.io/aquasec/trivy-db:2, or scan.db_repository]
    #[arg(long, value_name = "REF")]
    db_repository: Option<String>,
    /// Use the DB an earlier run stored under 1_raw/trivy-db by its digest (the db_digest
    /// column), e.g. to re-derive a snapshot's numbers with the DB it used
    #[arg(long, value_name = "sha256:…", conflicts_with_all = ["trivy_cache", "db_repository"])]
    db: Option<String>,
    /// An existing Trivy cache with a vulnerability DB (DIR/db) [default: download]
    #[arg(long, value_name = "DIR", conflicts_with = "db_repository")]
    trivy_cache: Option<PathBuf>,
    /// Scan DIR/NAME/TAG.tar (docker-save archives) instead of pulling from the registry
    #[arg(long, value_name = "DIR", conflicts_with = "registry")]
    archive_dir: Option<PathBuf>,
    /// Ingest existing Trivy JSON reports (SchemaVersion 2 or the legacy array) from DIR
    #[arg(long, value_name = "DIR", conflicts_with_all = ["archive_dir", "trivy_cache", "registry", "db"])]
    from_reports: Option<PathBuf>,
    /// Analyse every image, even digests whose package inventory is stored (by default they
    /// are rescanned from it with this run's DB, without a pull)
    #[arg(long)]
    full: bool,
    /// Scans in parallel [default: number of cores + 1]
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Seconds before a scan's process group is killed [default: 300]
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Only this image (repeatable)
    #[arg(long = "image", value_name = "NAME")]
    images: Vec<String>,
    /// Tags of each repository: latest (the study's choice: latest, else the most recently
    /// updated), all, or N-newest (the N most recently updated, plus the study's choice). Rows
    /// beyond the study's choice say study_choice = false and stay out of the marts [default:
    /// latest, or scan.tags]
    #[arg(long, value_name = "latest|all|N-newest")]
    tags: Option<String>,
    /// Platform images of each tag: amd64 (the study's choice: amd64, else the first) or all
    /// (needs --registry) [default: amd64, or scan.platforms]
    #[arg(long, value_name = "amd64|all")]
    platforms: Option<String>,
    /// Scan with this shared `trivy server` (http://HOST:PORT) instead of starting one: one DB
    /// and one layer cache for a fleet of scans. Its token comes from HUBAUDIT_TRIVY_TOKEN
    /// (else TRIVY_TOKEN); no DB is downloaded or stored, and db_digest stays empty
    #[arg(long, value_name = "URL", conflicts_with_all = ["trivy_cache", "db", "db_repository", "from_reports"])]
    trivy_server: Option<String>,
    /// Scan only shard I of N (I from 0): the images whose reference NAMESPACE/NAME:TAG hashes
    /// to I, written as part I of each partition; join refuses the snapshot until all N parts
    /// are written. Without it, JOB_COMPLETION_INDEX and JOB_COMPLETIONS (a Kubernetes
    /// Indexed Job) are used when set
    #[arg(long, value_name = "I/N", conflicts_with = "from_reports")]
    shard: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct ReportArgs {
    /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX [default: datasets]
    #[arg(long, value_name = "DIR")]
    datasets: Option<PathBuf>,
    /// Report date, YYYY-MM-DD: each table uses the latest snapshot on or before it
    #[arg(long, value_name = "DATE")]
    date: String,
    /// List images with more fixable vulnerabilities than N in vulnerable.csv [default: 50]
    #[arg(long, value_name = "N")]
    threshold: Option<u32>,
    /// Download window A..B (YYYY-MM-DD..YYYY-MM-DD), e.g. the study's 2021-07-29..2021-08-10
    #[arg(long, value_name = "A..B")]
    window: Option<String>,
    /// Days a capture may lie before a window date before its value is flagged approximate
    #[arg(long, value_name = "DAYS")]
    tolerance: Option<i64>,
}

#[derive(Subcommand, Debug)]
enum SampleCommand {
    /// Turn the spec into a replay capture folder (Hub responses, image tarballs, Trivy DB).
    Build {
        /// Spec folder holding world.toml, images.csv, notices.toml, scan.toml [default: the
        /// spec compiled into hubaudit, from datasets/sample]
        #[arg(long, value_name = "DIR")]
        spec: Option<PathBuf>,
        /// Capture folder to write [default: DATASETS/sample-capture]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Serve a capture folder as a Docker Hub API on 127.0.0.1 until interrupted.
    ///
    /// Paths answer under a /YYYY-MM-DD prefix per capture date, e.g.
    /// --hub-url http://127.0.0.1:PORT/2021-08-24, and without prefix for --date.
    Serve {
        /// Capture folder [default: DATASETS/sample-capture]
        #[arg(long, value_name = "DIR")]
        capture: Option<PathBuf>,
        /// Port on 127.0.0.1 (0 picks a free one)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Date served at paths without a date prefix [default: the last capture date]
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Fault for the next request, repeatable, in order: 429[:SECS], 429x[:SECS]
        /// (X-Retry-After), a status 400-599, reset, truncate, slow[:MS]
        #[arg(long, value_name = "FAULT")]
        fault: Vec<String>,
        /// Fault for every request after the queued ones
        #[arg(long, value_name = "FAULT")]
        always: Option<String>,
        /// Answer 404 on the /v2/namespaces/ paths (a server from before 2025)
        #[arg(long)]
        legacy_only: bool,
        /// The last page's `next` points back to page 1
        #[arg(long)]
        paging_loop: bool,
        /// Requests allowed per window, as N/SECS (429 beyond it)
        #[arg(long, value_name = "N/SECS")]
        rate_limit: Option<String>,
    },
    /// Upload the sample world's images and Trivy DB to a registry (to try the live scan path).
    ///
    /// Pushes every tag of each capture date (oldest first, so tags end at the last date and
    /// every date's digests stay pullable) as NAMESPACE/NAME:TAG, and the sample DB as the OCI
    /// artifact REPO:2 that `hubaudit scan --db-repository HOST/REPO:2` downloads. Credentials
    /// from HUBAUDIT_REGISTRY_USERNAME/HUBAUDIT_REGISTRY_PASSWORD.
    Push {
        /// Spec folder [default: the spec compiled into hubaudit]
        #[arg(long, value_name = "DIR")]
        spec: Option<PathBuf>,
        /// Capture folder built from the spec [default: DATASETS/sample-capture]
        #[arg(long, value_name = "DIR")]
        capture: Option<PathBuf>,
        /// Registry HOST[:PORT]
        #[arg(long, value_name = "HOST[:PORT]")]
        registry: String,
        /// Only this capture date
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// Repository of the DB artifact
        #[arg(long, default_value = "aquasec/trivy-db", value_name = "REPO")]
        db_repository: String,
    },
    /// Build the capture, serve it on a free port and run every stage for each capture date,
    /// then the report for the last date (what `just run` does).
    ///
    /// Each date runs the `run` plan of `hubaudit dag` against the replay Hub, the date's image
    /// archives and the sample Trivy DB; the last date's report is then written again with the
    /// study's download window. Exits 1 when any date was partial.
    Run {
        /// Spec folder [default: the spec compiled into hubaudit]
        #[arg(long, value_name = "DIR")]
        spec: Option<PathBuf>,
        /// Dataset root: a folder, file://DIR or s3://BUCKET/PREFIX [default: datasets]
        #[arg(long, value_name = "DIR")]
        datasets: Option<PathBuf>,
    },
}

/// `println!` for the CLI's output: a closed pipe (`hubaudit snapshots | head`) ends the
/// program quietly with the status a shell reports for a program stopped by SIGPIPE (141),
/// as `cat` or `ls` do; nothing is lost, since every partition is written before anything is
/// printed about it. Rust ignores SIGPIPE, so without this the first write panics.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            closed_output(e);
        }
    }};
}

/// Ends the program after a failed write to stdout.
fn closed_output(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(128 + libc::SIGPIPE);
    }
    eprintln!("error: cannot write to standard output: {e}");
    std::process::exit(exit::INTERNAL);
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::ExtractHub(args) => {
            let opts = extract_options(&config, &args)?;
            let done = on_root(opts.datasets.clone(), &[Stage::ExtractHub], |datasets| {
                extract_hub::run(&extract_hub::Options { datasets, ..opts })
            })?;
            let done = Done::ExtractHub(done);
            print_done(&done);
            Ok(done.exit_code())
        }
        Command::Scan(args) => {
            let opts = scan_options(&config, &args)?;
            // with a shared server no stored DB is read: the bucket's are not copied
            let skip: &[&str] = match opts.trivy_server {
                Some(_) => &[catalog::TRIVY_DB_STORE.id],
                None => &[],
            };
            let done = on_root_except(opts.datasets.clone(), &[Stage::Scan], skip, |datasets| {
                scan::run(&scan::Options { datasets, ..opts })
            })?;
            let done = Done::Scan(done);
            print_done(&done);
            Ok(done.exit_code())
        }
        Command::PullCounts(args) => {
            let opts = extract_options(&config, &args)?;
            let snapshot = opts.snapshot;
            let settings = Settings {
                crawl: Some(opts.clone()),
                ..settings(&config, opts.datasets)
            };
            let pull = settings.pull_options(snapshot)?;
            let done = on_root(pull.datasets.clone(), &[Stage::PullCounts], |datasets| {
                pull_counts::run(&pull_counts::Options { datasets, ..pull })
            })?;
            let done = Done::PullCounts(done);
            print_done(&done);
            Ok(done.exit_code())
        }
        Command::Join(args) => {
            let opts = join_options(&config, &args)?;
            print_join(&on_root(
                opts.datasets.clone(),
                &[Stage::Join],
                |datasets| join::run(&join::Options { datasets, ..opts }),
            )?);
            Ok(exit::OK)
        }
        Command::Backfill {
            datasets,
            docs_repo,
            official_images_repo,
            from,
            to,
            every,
        } => {
            let root = datasets.unwrap_or(config.datasets.clone());
            let started = std::time::Instant::now();
            let opts = backfill::Options {
                datasets: root.clone(),
                docs_repo,
                official_images_repo,
                from: dates::parse_date("--from", &from)?,
                to: dates::parse_date("--to", &to)?,
                every_days: backfill::parse_every(&every)?,
                namespace: config.hub.namespace.clone(),
            };
            // the joins' summaries are not printed: the line below counts them
            let stages = dag::plan(Plan::Backfill)?;
            let (s, code) = on_root(root.clone(), &stages, |local| {
                orchestrate::backfill(
                    &backfill::Options {
                        datasets: local.clone(),
                        ..opts
                    },
                    &settings(&config, local),
                    &mut |_| {},
                )
            })?;
            out!(
                "backfill: {} date(s), {} written and joined ({} reusing the previous date's commits) in {:.1} s; last date: {} images, {} deprecated, {} removed from the docs but kept",
                s.dates, s.written.len(), s.reused, started.elapsed().as_secs_f64(), s.last_images, s.last_deprecated, s.last_removed
            );
            for skip in &s.skipped {
                eprintln!("skipped {skip}");
            }
            Ok(code)
        }
        Command::Verify { datasets } => {
            let root = datasets.unwrap_or(config.datasets.clone());
            on_copy(&root, |local, orphans| {
                let r = hubaudit::verify::run(local)?;
                for line in &r.damaged {
                    out!("damaged: {line}");
                }
                for dir in &r.unfinished {
                    out!(
                        "unfinished write (ignored by readers; removed by the next write): {}",
                        dir.display()
                    );
                }
                for o in orphans {
                    out!("orphan object (no manifest names it; readers ignore it, delete it at will): {o}");
                }
                out!(
                    "verify {}: {} partitions, {} inventories, {} stored DBs: {}",
                    root.display(),
                    r.partitions,
                    r.inventories,
                    r.dbs,
                    if r.intact() {
                        "all intact".to_string()
                    } else {
                        format!("{} damaged", r.damaged.len())
                    }
                );
                Ok(if r.intact() { exit::OK } else { exit::INPUT })
            })
        }
        Command::Snapshots { datasets } => {
            let root = datasets.unwrap_or(config.datasets.clone());
            on_copy(&root, |local, _| {
                for ds in catalog::ALL {
                    let dates = catalog::snapshots(local, ds)?;
                    let list = if dates.is_empty() {
                        "-".to_string()
                    } else {
                        dates
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    out!("{:<22} {:<28} {list}", ds.id, ds.path());
                }
                Ok(exit::OK)
            })
        }
        Command::Dag { format } => {
            let text = dag::render(format.into())?;
            out!("{}", text.trim_end());
            Ok(exit::OK)
        }
        Command::Report(args) => {
            let opts = report::Options {
                datasets: args.datasets.unwrap_or(config.datasets.clone()),
                date: dates::parse_date("--date", &args.date)?,
                reference: config.report.reference.clone(),
                threshold: args.threshold.unwrap_or(config.report.threshold),
                window: args
                    .window
                    .as_deref()
                    .map(report::parse_window)
                    .transpose()?,
                tolerance_days: args.tolerance.unwrap_or(config.report.tolerance_days),
            };
            print_report(&on_root(
                opts.datasets.clone(),
                &[Stage::Report],
                |datasets| report::run(&report::Options { datasets, ..opts }),
            )?);
            Ok(exit::OK)
        }
        Command::Run(args) => {
            let opts = extract_options(&config, &args)?;
            let snapshot = opts.snapshot;
            let scan = scan_options(
                &config,
                &ScanArgs {
                    write: args.write.clone(),
                    ..ScanArgs::default()
                },
            )?;
            let settings = Settings {
                crawl: Some(opts.clone()),
                timetravel: Some(timetravel_in_plan(&scan)),
                scan: Some(scan),
                ..settings(&config, opts.datasets)
            };
            on_plan(settings, Plan::Run, |settings| {
                orchestrate::run(&settings, snapshot, &mut print_event)
            })
        }
        Command::Timetravel(args) => {
            let root = args.datasets.clone().unwrap_or(config.datasets.clone());
            let date = dates::parse_date("--date", &args.date)?;
            let proxies = args
                .inventory
                .iter()
                .map(|s| {
                    s.split_once('=')
                        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
                        .map(|(n, p)| (n.to_string(), p.to_string()))
                        .ok_or_else(|| {
                            Error::Input(format!(
                                "--inventory {s:?}: write NAME=PATH, PATH inside repo-info (repos/openjdk/local/8u302-jre-buster.md)"
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let inputs = match (&args.repo_info, &args.security_tracker) {
                (Some(r), Some(t)) => timetravel::Inputs::History {
                    repo_info: r.clone(),
                    tracker: t.clone(),
                    official_images: args.official_images.clone(),
                    proxies,
                },
                _ => timetravel::Inputs::Facts(args.facts.clone()),
            };
            let opts = timetravel::Options {
                datasets: root.clone(),
                date,
                inputs,
                trivy: trivy::locate(args.trivy.as_deref(), config.scan.trivy.as_deref())?,
                timeout: std::time::Duration::from_secs(config.scan.timeout_secs),
                export_facts: args.export_facts.clone(),
                skip_other_dates: false,
            };
            let done = on_root(root, &[Stage::TimeTravel], |datasets| {
                timetravel::run(&timetravel::Options { datasets, ..opts })
            })?;
            let done = Done::TimeTravel(done);
            print_done(&done);
            Ok(done.exit_code())
        }
        Command::Sample(cmd) => sample_command(&config, cmd),
    }
}

/// Runs `f` on the dataset root `root`: a local folder as it is; `s3://BUCKET/PREFIX` on a
/// working copy of what `stages` read, publishing what they wrote (see `io::remote`).
fn on_root<T>(root: PathBuf, stages: &[Stage], f: impl FnOnce(PathBuf) -> Result<T>) -> Result<T> {
    on_root_except(root, stages, &[], f)
}

/// [`on_root`] without copying the nodes `skip` names (ids), which the run will not read.
fn on_root_except<T>(
    root: PathBuf,
    stages: &[Stage],
    skip: &[&str],
    f: impl FnOnce(PathBuf) -> Result<T>,
) -> Result<T> {
    match Location::parse(&root)? {
        Location::Local(path) => f(path),
        Location::S3(loc) => {
            let (mut reads, writes) = remote::nodes(stages);
            reads.retain(|n| !skip.contains(&n.id()));
            remote::with_mirror(&loc, &reads, &writes, &mut print_transfer(&loc), |p| {
                f(p.to_path_buf())
            })
        }
    }
}

/// Runs `f` on the dataset root `root` as it is, or on a full working copy of a bucket (with
/// the orphan objects found while copying).
fn on_copy(root: &Path, f: impl FnOnce(&Path, &[String]) -> Result<i32>) -> Result<i32> {
    match Location::parse(root)? {
        Location::Local(path) => f(&path, &[]),
        Location::S3(loc) => remote::with_copy(&loc, &mut print_transfer(&loc), f),
    }
}

/// [`on_root`] for the stages of `plan`, with every dataset root of `settings` set to the
/// working folder.
fn on_plan<T>(settings: Settings, plan: Plan, f: impl FnOnce(Settings) -> Result<T>) -> Result<T> {
    let stages = dag::plan(plan)?;
    on_root(settings.datasets.clone(), &stages, |root| {
        f(Settings {
            crawl: settings.crawl.map(|c| extract_hub::Options {
                datasets: root.clone(),
                ..c
            }),
            scan: settings.scan.map(|c| scan::Options {
                datasets: root.clone(),
                ..c
            }),
            datasets: root,
            ..settings
        })
    })
}

/// Prints what a mirror read from or wrote to the bucket.
fn print_transfer(loc: &remote::S3Location) -> impl FnMut(&str, &remote::Transfer) + '_ {
    move |what, t| {
        let (n, bytes) = match what {
            "read" => (t.read, t.read_bytes),
            _ => (t.written, t.written_bytes),
        };
        let deleted = if t.deleted > 0 {
            format!(", {} replaced objects deleted", t.deleted)
        } else {
            String::new()
        };
        eprintln!(
            "{loc}: {what} {n} objects ({:.1} MB) in {:.1} s{deleted}",
            bytes as f64 / 1e6,
            t.seconds
        );
        for o in &t.orphans {
            eprintln!("  orphan (no manifest names it; ignored): {o}");
        }
    }
}

fn extract_options(config: &Config, args: &ExtractArgs) -> Result<extract_hub::Options> {
    let mut hub = config.hub.clone();
    if let Some(u) = &args.hub_url {
        hub.url = u.clone();
    }
    if let Some(n) = &args.namespace {
        hub.namespace = n.clone();
    }
    if let Some(c) = args.concurrency {
        hub.concurrency = c;
    }
    let checked = Config {
        hub: hub.clone(),
        ..config.clone()
    };
    checked.validate()?;
    Ok(extract_hub::Options {
        datasets: args.write.datasets(config),
        snapshot: args.write.snapshot()?,
        hub,
        token: config::hub_token(),
        full: args.full,
    })
}

fn scan_options(config: &Config, args: &ScanArgs) -> Result<scan::Options> {
    let parallel = args.parallel.unwrap_or(config.scan.parallel);
    let c = &config.scan;
    let db = match (&args.db, &args.trivy_cache, &c.cache_dir) {
        (Some(digest), _, _) => scan::DbSource::Stored(digest.clone()),
        (None, Some(dir), _) | (None, None, Some(dir)) => scan::DbSource::Cache(dir.clone()),
        (None, None, None) => scan::DbSource::Download(
            args.db_repository
                .clone()
                .unwrap_or_else(|| c.db_repository.clone()),
        ),
    };
    let images_from = match &args.archive_dir {
        Some(dir) => scan::ImageSource::Archive(dir.clone()),
        None => {
            let host = args.registry.clone().unwrap_or_else(|| c.registry.clone());
            hubaudit::io::registry::endpoint(&host)?;
            scan::ImageSource::Registry(host)
        }
    };
    Ok(scan::Options {
        datasets: args.write.datasets(config),
        snapshot: args.write.snapshot()?,
        trivy: match &args.from_reports {
            Some(_) => PathBuf::from("trivy"),
            None => trivy::locate(args.trivy.as_deref(), c.trivy.as_deref())?,
        },
        db,
        images_from,
        from_reports: args.from_reports.clone(),
        namespace: config.hub.namespace.clone(),
        // one more worker than cores: while a client starts up (most of a small scan) or waits
        // on the server, another uses the core (bench/RESULTS.md: 8.2 s against 9.7 s on 2 cores)
        parallel: if parallel == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
        } else {
            parallel
        },
        timeout: std::time::Duration::from_secs(args.timeout.unwrap_or(c.timeout_secs)),
        retries: c.retries,
        retry_budget: std::time::Duration::from_secs(c.retry_budget_secs),
        backoff_base: std::time::Duration::from_millis(c.backoff_base_ms),
        images: args.images.clone(),
        reference: config.report.reference.clone(),
        credentials: config::registry_credentials(|k| std::env::var(k).ok())?,
        full: args.full,
        client_memory_mib: c.client_memory_mib,
        tags: scan::TagScope::parse(args.tags.as_deref().unwrap_or(&c.tags))?,
        platforms: scan::PlatformScope::parse(args.platforms.as_deref().unwrap_or(&c.platforms))?,
        trivy_server: args.trivy_server.as_ref().map(|url| {
            let token = std::env::var("HUBAUDIT_TRIVY_TOKEN")
                .or_else(|_| std::env::var("TRIVY_TOKEN"))
                .unwrap_or_default();
            (url.clone(), token)
        }),
        shard: match (&args.shard, &args.from_reports) {
            (Some(text), _) => Some(Shard::parse(text)?),
            (None, Some(_)) => None,
            (None, None) => Shard::from_env(|k| std::env::var(k).ok())?,
        },
    })
}

/// The settings every plan shares, for the dataset root `datasets`: the report's, from the
/// configuration; no crawl and no scan (commands that run those add them).
fn settings(config: &Config, datasets: PathBuf) -> Settings {
    Settings {
        datasets,
        reference: config.report.reference.clone(),
        threshold: config.report.threshold,
        tolerance_days: config.report.tolerance_days,
        crawl: None,
        scan: None,
        timetravel: None,
    }
}

fn sample_command(config: &Config, cmd: SampleCommand) -> Result<i32> {
    match cmd {
        SampleCommand::Build { spec, out } => {
            let out = out.unwrap_or_else(|| default_capture_dir(&config.datasets));
            let files = World::load_or_embedded(spec.as_deref())?.build_capture(&out)?;
            out!("sample capture: {files} files in {}", out.display());
            Ok(exit::OK)
        }
        SampleCommand::Serve {
            capture,
            port,
            date,
            fault,
            always,
            legacy_only,
            paging_loop,
            rate_limit,
        } => {
            let parse_fault =
                |f: &str| Fault::parse(f).map_err(|e| Error::Input(format!("--fault: {e}")));
            let knobs = Knobs {
                queue: fault
                    .iter()
                    .map(|f| parse_fault(f))
                    .collect::<Result<_>>()?,
                always: always.as_deref().map(parse_fault).transpose()?,
                paging_loop,
                legacy_only,
                rate_limit: rate_limit.as_deref().map(parse_rate_limit).transpose()?,
                default_date: date
                    .as_deref()
                    .map(|d| dates::parse_date("--date", d))
                    .transpose()?,
            };
            let capture =
                Capture::load(&capture.unwrap_or_else(|| default_capture_dir(&config.datasets)))?;
            let dates: Vec<String> = capture.meta.dates.iter().map(|d| d.to_string()).collect();
            let hub = ReplayHub::start(capture, knobs, port)?;
            out!("replay Hub listening on {} (SAMPLE DATA)", hub.url());
            for d in &dates {
                out!("  --hub-url {}/{d}", hub.url());
            }
            out!("stop with Ctrl-C");
            hub.wait();
            Ok(exit::OK)
        }
        SampleCommand::Push {
            spec,
            capture,
            registry,
            date,
            db_repository,
        } => {
            let world = World::load_or_embedded(spec.as_deref())?;
            let capture = capture.unwrap_or_else(|| default_capture_dir(&config.datasets));
            let client = hubaudit::io::registry::Registry::new(
                &registry,
                config::registry_credentials(|k| std::env::var(k).ok())?,
            )?;
            let dates = match date {
                Some(d) => vec![dates::parse_date("--date", &d)?],
                None => world.meta.captures.clone(),
            };
            for d in dates {
                let p =
                    hubaudit::sample::push::push_images(&world, &capture, d, &client, &|_, _| {
                        true
                    })?;
                out!(
                    "pushed {d}: {} tags, {} blobs, {} manifests to {registry} (SAMPLE DATA)",
                    p.tags,
                    p.blobs,
                    p.manifests
                );
            }
            let digest = hubaudit::sample::push::push_db(
                &capture.join("trivy-cache"),
                &client,
                &db_repository,
                "2",
            )?;
            out!("pushed the sample Trivy DB as {registry}/{db_repository}:2 ({digest})");
            Ok(exit::OK)
        }
        SampleCommand::Run { spec, datasets } => {
            let world = World::load_or_embedded(spec.as_deref())?;
            let datasets = datasets.unwrap_or(config.datasets.clone());
            let write = WriteArgs {
                datasets: Some(datasets.clone()),
                snapshot: None,
            };
            // the Hub URL, namespace, images and DB are the sample world's, per capture date
            let scan = scan_options(
                config,
                &ScanArgs {
                    write: write.clone(),
                    ..ScanArgs::default()
                },
            )?;
            let settings = Settings {
                crawl: Some(extract_options(
                    config,
                    &ExtractArgs {
                        write: write.clone(),
                        ..ExtractArgs::default()
                    },
                )?),
                timetravel: Some(timetravel_in_plan(&scan)),
                scan: Some(scan),
                ..settings(config, datasets.clone())
            };
            let run = on_plan(settings, Plan::Run, |settings| {
                orchestrate::sample_run(&world, &settings, &mut print_event)
            })?;
            if let (Some(d), Location::Local(datasets)) = (run.last, Location::parse(&datasets)?) {
                out!(
                    "\nreport: {}",
                    catalog::report_dir(&datasets, d)
                        .join("index.html")
                        .display()
                );
            }
            Ok(run.code)
        }
    }
}

fn parse_rate_limit(text: &str) -> Result<(u32, std::time::Duration)> {
    let bad = || {
        Error::Input(format!(
            "--rate-limit {text:?}: write it as N/SECS, e.g. 10/60"
        ))
    };
    let (n, s) = text.split_once('/').ok_or_else(bad)?;
    Ok((
        n.parse().map_err(|_| bad())?,
        std::time::Duration::from_secs(s.parse().map_err(|_| bad())?),
    ))
}

/// Prints what a plan reports as it goes.
fn print_event(event: Event) {
    match event {
        Event::SampleWorld {
            images,
            capture,
            built,
        } => out!(
            "sample world: {images} images; capture in {} ({}) (SAMPLE DATA)",
            capture.display(),
            if built == 0 {
                "up to date".to_string()
            } else {
                format!("{built} files built")
            }
        ),
        Event::ReplayHub(url) => out!("replay Hub on {url}"),
        Event::Snapshot(d) => out!("== {d} =="),
        Event::StudyWindow { date, window } => out!(
            "\n== report {date} with the study's window {}..{} ==",
            window.0,
            window.1
        ),
        Event::Done(done) => print_done(done),
    }
}

/// Prints a stage's summary.
fn print_done(done: &Done) {
    match done {
        Done::ExtractHub(s) => print_extract(s),
        Done::Scan(s) => print_scan(s),
        Done::PullCounts(s) => print_pulls(s),
        Done::Join(s) => print_join(s),
        Done::Report(s) => print_report(s),
        Done::TimeTravel(s) => print_timetravel(s),
    }
}

fn print_extract(s: &extract_hub::Summary) {
    let snapshot = s
        .snapshot
        .map(|d: NaiveDate| d.to_string())
        .unwrap_or_default();
    out!(
        "extract-hub {snapshot}: {} repositories ({} deprecated), {} tag rows; source {}",
        s.repositories,
        s.deprecated,
        s.tags,
        s.source
    );
    out!(
        "  requests: {} ({} HTTP exchanges incl. retries); details fetched {}, carried forward {}{}",
        s.requests,
        s.attempts,
        s.fetched,
        s.carried_forward,
        s.previous.map(|p| format!(" from {p}")).unwrap_or_default()
    );
    if !s.rejected.is_empty() {
        out!(
            "  refused {} names, tags or digests outside Docker's reference grammar (warnings below); exit 1",
            s.rejected.len()
        );
    }
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
}

fn print_scan(s: &scan::Summary) {
    let snapshot = s
        .snapshot
        .map(|d: NaiveDate| d.to_string())
        .unwrap_or_default();
    let shard = s
        .shard
        .map(|sh| format!(" (shard {sh}: part {} of each partition)", sh.label()))
        .unwrap_or_default();
    out!(
        "scan {snapshot}{shard}: {} images: {} ok, {} failed, {} timed out, {} without tags; {} image analyses, {} SBOM rescans, {} from reports",
        s.images, s.ok, s.failed, s.timed_out, s.no_tag, s.analyses, s.sbom_rescans, s.from_reports
    );
    out!(
        "  findings: {} ({} fixable); {} layer analyses; trivy {} with DB updated {}",
        s.findings,
        s.fixable,
        s.layer_analyses,
        if s.provenance.trivy_version.is_empty() {
            "-"
        } else {
            &s.provenance.trivy_version
        },
        s.provenance.db_updated_at.as_deref().unwrap_or("-")
    );
    if let Some(db) = &s.db {
        out!(
            "  DB {} ({} bytes{}){}",
            db.digest,
            db.bytes,
            db.artifact
                .as_deref()
                .map(|a| format!(", from {a}"))
                .unwrap_or_default(),
            if s.db_stored {
                "; stored in 1_raw/trivy-db"
            } else {
                ""
            }
        );
    }
}

fn join_options(config: &Config, args: &WriteArgs) -> Result<join::Options> {
    Ok(join::Options {
        datasets: args.datasets(config),
        snapshot: args.snapshot()?,
        reference: config.report.reference.clone(),
    })
}

fn print_pulls(s: &pull_counts::Summary) {
    out!(
        "pull-counts {}: {} repositories in {} request(s); {} at the 2147483647 cap; source {}",
        s.snapshot.map(|d| d.to_string()).unwrap_or_default(),
        s.repositories,
        s.requests,
        s.capped,
        s.source
    );
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
}

fn print_join(s: &join::Summary) {
    out!(
        "join {}: {} images ({} with a scan{}), {} findings, {} pull points, {} rejects{}",
        s.snapshot.map(|d| d.to_string()).unwrap_or_default(),
        s.images,
        s.with_scan,
        s.scans_snapshot
            .map(|d| format!(" from {d}"))
            .unwrap_or_default(),
        s.findings,
        s.pull_points,
        s.rejects,
        s.previous
            .map(|d| format!("; previous snapshot {d}"))
            .unwrap_or_default()
    );
}

fn print_timetravel(s: &timetravel::Summary) {
    if let Some(why) = &s.skipped {
        out!("timetravel: skipped: {why}");
        return;
    }
    let counts: Vec<String> = s.counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    out!(
        "timetravel {} (real public data): {} images; {} scanned, {} without a package list, {} without an advisory source, {} failed; DB {}; fixable: {}",
        s.date.map(|d| d.to_string()).unwrap_or_default(),
        s.images,
        s.scanned,
        s.no_inventory,
        s.no_source,
        s.failed,
        s.db_digest.as_deref().unwrap_or("-"),
        if counts.is_empty() { "-".to_string() } else { counts.join(", ") }
    );
}

/// timetravel's settings inside `run` and `sample run`: the embedded fact tables, skipped on
/// other dates.
fn timetravel_in_plan(scan: &scan::Options) -> timetravel::Options {
    timetravel::Options {
        datasets: scan.datasets.clone(),
        date: scan.snapshot,
        inputs: timetravel::Inputs::Facts(None),
        trivy: scan.trivy.clone(),
        timeout: scan.timeout,
        export_facts: None,
        skip_other_dates: true,
    }
}

fn print_report(s: &report::Summary) {
    out!(
        "report: {} (images snapshot {}): {} deprecated; vs study: {} both, {} only ours, {} only study; {} over the threshold{}; {} window rows{}",
        s.dir.display(),
        s.snapshot,
        s.deprecated,
        s.both,
        s.only_ours,
        s.only_study,
        s.vulnerable,
        s.scans_snapshot.map(|d| format!(" (scans of {d})")).unwrap_or_else(|| " (no scans)".into()),
        s.windowed,
        if s.sample { " [SAMPLE DATA]" } else { "" }
    );
}
