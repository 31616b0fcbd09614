//! Orchestration: runs the plans of the DAG (`dag::plan`) in its order: `run` (every stage
//! for one snapshot, then the report), `sample run` (that for each capture date of the sample
//! world, then the report with the study's window) and `backfill` (past dates, then their
//! joins).
//!
//! Words: [`Settings`] are what a plan needs, resolved once by the CLI from flags and
//! configuration; each stage's options for a snapshot are derived from them. [`Done`] is a
//! stage's summary; an [`Event`] is what a run reports while it goes on (a snapshot starts, a
//! stage is done), so that the CLI can print each summary as soon as its stage has written
//! its partitions. A stage never runs another: only this module chains them.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::dag::{self, Plan, Stage};
use crate::error::{exit, Error, Result};
use crate::sample::replay::{Capture, Knobs, ReplayHub};
use crate::sample::{self, World};
use crate::stages::{backfill, extract_hub, join, pull_counts, report, scan, timetravel};

/// What the stages of a plan need, resolved once from flags and configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Dataset root of every stage.
    pub datasets: PathBuf,
    /// Reference folder (`report.reference`); None for the facts compiled in.
    pub reference: Option<PathBuf>,
    /// `report.threshold`: images with more fixable findings are listed as vulnerable.
    pub threshold: u32,
    /// `report.tolerance_days` for window downloads.
    pub tolerance_days: i64,
    /// How extract-hub and pull-counts crawl (Hub settings, token, `--full`); its `datasets`
    /// and `snapshot` are replaced per snapshot. None for a command that does not crawl.
    pub crawl: Option<extract_hub::Options>,
    /// How scan runs; its `datasets` and `snapshot` are replaced per snapshot. None for a
    /// command that does not scan.
    pub scan: Option<scan::Options>,
    /// How timetravel runs; its `datasets` and `date` are replaced per snapshot. `run` and
    /// `sample run` use the embedded fact tables and skip other dates.
    pub timetravel: Option<timetravel::Options>,
}

impl Settings {
    /// extract-hub's options for `snapshot`.
    pub fn extract_options(&self, snapshot: NaiveDate) -> Result<extract_hub::Options> {
        let crawl = self
            .crawl
            .as_ref()
            .ok_or_else(|| missing(Stage::ExtractHub))?;
        Ok(extract_hub::Options {
            datasets: self.datasets.clone(),
            snapshot,
            ..crawl.clone()
        })
    }

    /// timetravel's options for `snapshot`.
    pub fn timetravel_options(&self, snapshot: NaiveDate) -> Result<timetravel::Options> {
        let t = self
            .timetravel
            .as_ref()
            .ok_or_else(|| missing(Stage::TimeTravel))?;
        Ok(timetravel::Options {
            datasets: self.datasets.clone(),
            date: snapshot,
            ..t.clone()
        })
    }

    /// scan's options for `snapshot`.
    pub fn scan_options(&self, snapshot: NaiveDate) -> Result<scan::Options> {
        let scan = self.scan.as_ref().ok_or_else(|| missing(Stage::Scan))?;
        Ok(scan::Options {
            datasets: self.datasets.clone(),
            snapshot,
            ..scan.clone()
        })
    }

    /// pull-counts' options for `snapshot`: the same Hub, token and datasets as extract-hub.
    pub fn pull_options(&self, snapshot: NaiveDate) -> Result<pull_counts::Options> {
        let crawl = self
            .crawl
            .as_ref()
            .ok_or_else(|| missing(Stage::PullCounts))?;
        Ok(pull_counts::Options {
            datasets: self.datasets.clone(),
            snapshot,
            hub: crawl.hub.clone(),
            token: crawl.token.clone(),
        })
    }

    /// join's options for `snapshot`.
    pub fn join_options(&self, snapshot: NaiveDate) -> join::Options {
        join::Options {
            datasets: self.datasets.clone(),
            snapshot,
            reference: self.reference.clone(),
        }
    }

    /// report's options for `date`, with a download window or none.
    pub fn report_options(
        &self,
        date: NaiveDate,
        window: Option<(NaiveDate, NaiveDate)>,
    ) -> report::Options {
        report::Options {
            datasets: self.datasets.clone(),
            date,
            reference: self.reference.clone(),
            threshold: self.threshold,
            window,
            tolerance_days: self.tolerance_days,
        }
    }
}

/// The error for a plan that reaches a stage its command resolved no settings for: a bug
/// (the plans are code), not bad input.
fn missing(stage: Stage) -> Error {
    Error::internal(
        format!("running {stage}"),
        "this command resolved no settings for it (see dag::STAGES and orchestrate::Settings)",
    )
}

/// A stage's summary.
#[derive(Debug, Clone)]
pub enum Done {
    /// extract-hub's.
    ExtractHub(extract_hub::Summary),
    /// scan's.
    Scan(scan::Summary),
    /// pull-counts'.
    PullCounts(pull_counts::Summary),
    /// join's.
    Join(join::Summary),
    /// report's.
    Report(report::Summary),
    /// timetravel's.
    TimeTravel(timetravel::Summary),
}

impl Done {
    /// The stage that finished.
    pub fn stage(&self) -> Stage {
        match self {
            Done::ExtractHub(_) => Stage::ExtractHub,
            Done::Scan(_) => Stage::Scan,
            Done::PullCounts(_) => Stage::PullCounts,
            Done::Join(_) => Stage::Join,
            Done::Report(_) => Stage::Report,
            Done::TimeTravel(_) => Stage::TimeTravel,
        }
    }

    /// Partial (1) when the stage finished with failed images or refused Hub names, else
    /// success (0).
    pub fn exit_code(&self) -> i32 {
        let partial = match self {
            Done::ExtractHub(s) => !s.rejected.is_empty(),
            Done::Scan(s) => s.partial(),
            Done::PullCounts(s) => s.rejected > 0,
            Done::TimeTravel(s) => s.failed > 0,
            Done::Join(_) | Done::Report(_) => false,
        };
        if partial {
            exit::PARTIAL
        } else {
            exit::OK
        }
    }
}

/// What a run reports while it goes on.
#[derive(Debug)]
pub enum Event<'a> {
    /// `sample run` has its capture: the world's image count, the capture folder and how
    /// many files were built (0: it was up to date).
    SampleWorld {
        images: usize,
        capture: &'a std::path::Path,
        built: usize,
    },
    /// `sample run` serves its capture on this URL.
    ReplayHub(&'a str),
    /// The stages of a snapshot start.
    Snapshot(NaiveDate),
    /// `sample run` writes the last date's report again, with the study's download window.
    StudyWindow {
        date: NaiveDate,
        window: (NaiveDate, NaiveDate),
    },
    /// A stage finished (its partitions are written).
    Done(&'a Done),
}

/// Runs `stage` for `snapshot` with the options derived from `settings`. Backfill runs over a
/// date range, not for one snapshot ([`backfill`]): asking for it here is an internal error.
pub fn run_stage(stage: Stage, settings: &Settings, snapshot: NaiveDate) -> Result<Done> {
    Ok(match stage {
        Stage::ExtractHub => {
            Done::ExtractHub(extract_hub::run(&settings.extract_options(snapshot)?)?)
        }
        Stage::Scan => Done::Scan(scan::run(&settings.scan_options(snapshot)?)?),
        Stage::PullCounts => Done::PullCounts(pull_counts::run(&settings.pull_options(snapshot)?)?),
        Stage::Join => Done::Join(join::run(&settings.join_options(snapshot))?),
        Stage::Report => Done::Report(report::run(&settings.report_options(snapshot, None))?),
        Stage::TimeTravel => {
            Done::TimeTravel(timetravel::run(&settings.timetravel_options(snapshot)?)?)
        }
        Stage::Backfill => {
            return Err(Error::internal(
                format!("running backfill for {snapshot}"),
                "backfill runs over a date range (orchestrate::backfill), not for one snapshot",
            ))
        }
    })
}

/// `hubaudit run`: every stage of the run plan for `snapshot`, in DAG order, the report last
/// (for the snapshot's date). Reports [`Event::Snapshot`], then each stage's [`Event::Done`].
/// Returns the exit code: partial (1) when any stage was, else 0. The first stage that fails
/// stops the run with its error; what earlier stages wrote stays.
pub fn run(settings: &Settings, snapshot: NaiveDate, on: &mut dyn FnMut(Event)) -> Result<i32> {
    on(Event::Snapshot(snapshot));
    let mut code = exit::OK;
    for stage in dag::plan(Plan::Run)? {
        let done = run_stage(stage, settings, snapshot)?;
        code = code.max(done.exit_code());
        on(Event::Done(&done));
    }
    Ok(code)
}

/// What `sample run` did.
#[derive(Debug, Clone)]
pub struct SampleRun {
    /// The last capture date (its report has the study's window), None for a world without
    /// captures.
    pub last: Option<NaiveDate>,
    /// The highest exit code of the runs of the capture dates.
    pub code: i32,
}

/// `hubaudit sample run`: builds the capture of `world` under `settings.datasets` when it is
/// out of date, serves it on a free loopback port, runs [`run`] for each capture date (the
/// replay Hub's URL for that date, the date's image archives, the sample Trivy DB), then
/// writes the last date's report again with the study's download window.
///
/// `settings.crawl` gives the Hub client's limits (its URL, namespace, token and `--full` are
/// the sample world's); `settings.scan` gives Trivy and the scan limits (where images and
/// the DB come from is the capture's).
pub fn sample_run(
    world: &World,
    settings: &Settings,
    on: &mut dyn FnMut(Event),
) -> Result<SampleRun> {
    let capture = sample::default_capture_dir(&settings.datasets);
    let built = world.build_capture_if_changed(&capture)?;
    on(Event::SampleWorld {
        images: world.images.len(),
        capture: &capture,
        built,
    });
    let hub = ReplayHub::start(Capture::load(&capture)?, Knobs::default(), 0)?;
    on(Event::ReplayHub(&hub.url()));
    let mut code = exit::OK;
    for date in &world.meta.captures {
        let at = sample_settings(settings, world, &capture, &hub.url_for(*date), *date)?;
        code = code.max(run(&at, *date, on)?);
    }
    let last = world.meta.captures.last().copied();
    if let Some(d) = last {
        // the study's download window, as in the published table
        let study = crate::reference::load_study(settings.reference.as_deref())?;
        let window = (study.study.window_start, study.study.window_end);
        on(Event::StudyWindow { date: d, window });
        let done = Done::Report(report::run(&settings.report_options(d, Some(window)))?);
        on(Event::Done(&done));
    }
    Ok(SampleRun { last, code })
}

/// `settings` for the sample world's capture date `date`: the replay Hub at `hub_url`, the
/// world's namespace, no token, incremental; the date's image archives and the sample DB.
pub fn sample_settings(
    settings: &Settings,
    world: &World,
    capture: &std::path::Path,
    hub_url: &str,
    date: NaiveDate,
) -> Result<Settings> {
    let crawl = settings
        .crawl
        .as_ref()
        .ok_or_else(|| missing(Stage::ExtractHub))?;
    let scan = settings.scan.as_ref().ok_or_else(|| missing(Stage::Scan))?;
    let mut hub = crawl.hub.clone();
    hub.url = hub_url.to_string();
    hub.namespace = world.meta.namespace.clone();
    Ok(Settings {
        crawl: Some(extract_hub::Options {
            hub,
            token: None,
            full: false,
            ..crawl.clone()
        }),
        scan: Some(scan::Options {
            images_from: scan::ImageSource::Archive(capture.join(date.to_string()).join("images")),
            db: scan::DbSource::Cache(capture.join("trivy-cache")),
            ..scan.clone()
        }),
        ..settings.clone()
    })
}

/// `hubaudit backfill`: the backfill plan in DAG order: backfill over the dates of `opts`,
/// then every later stage of the plan (join) for each date it wrote, each reported as an
/// [`Event::Done`]. `opts.datasets` is replaced by `settings.datasets`. Returns backfill's
/// summary and the exit code (the highest of the later stages').
pub fn backfill(
    opts: &backfill::Options,
    settings: &Settings,
    on: &mut dyn FnMut(Event),
) -> Result<(backfill::Summary, i32)> {
    let mut summary: Option<backfill::Summary> = None;
    let mut code = exit::OK;
    for stage in dag::plan(Plan::Backfill)? {
        if stage == Stage::Backfill {
            summary = Some(backfill::run(&backfill::Options {
                datasets: settings.datasets.clone(),
                ..opts.clone()
            })?);
            continue;
        }
        let Some(written) = summary.as_ref().map(|s| s.written.clone()) else {
            return Err(Error::internal(
                "running the backfill plan",
                format!("{stage} is ordered before backfill in dag::STAGES"),
            ));
        };
        for date in written {
            let done = run_stage(stage, settings, date)?;
            code = code.max(done.exit_code());
            on(Event::Done(&done));
        }
    }
    let summary = summary.ok_or_else(|| {
        Error::internal(
            "running the backfill plan",
            "dag::STAGES has no backfill stage in it",
        )
    })?;
    Ok((summary, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings() -> Settings {
        let config = Config::default();
        Settings {
            datasets: PathBuf::from("/data"),
            reference: Some(PathBuf::from("/ref")),
            threshold: 7,
            tolerance_days: 3,
            crawl: Some(extract_hub::Options {
                datasets: PathBuf::from("/elsewhere"),
                snapshot: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
                hub: config.hub.clone(),
                token: Some("t".into()),
                full: true,
            }),
            scan: None,
            timetravel: None,
        }
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_stage_gets_the_root_and_snapshot_of_the_run() {
        let s = settings();
        let d = day("2021-08-24");
        let e = s.extract_options(d).unwrap();
        assert_eq!(
            (e.datasets.as_path(), e.snapshot),
            (s.datasets.as_path(), d)
        );
        assert!(e.full);
        let p = s.pull_options(d).unwrap();
        assert_eq!(
            (p.datasets.as_path(), p.snapshot),
            (s.datasets.as_path(), d)
        );
        assert_eq!(p.token.as_deref(), Some("t"));
        assert_eq!(p.hub.url, e.hub.url);
        let j = s.join_options(d);
        assert_eq!((j.snapshot, j.reference), (d, s.reference.clone()));
        let r = s.report_options(d, None);
        assert_eq!((r.date, r.threshold, r.tolerance_days), (d, 7, 3));
        assert_eq!(r.window, None);
    }

    #[test]
    fn a_stage_without_settings_is_an_internal_error_naming_it() {
        let err = settings().scan_options(day("2021-08-24")).unwrap_err();
        assert_eq!(err.exit_code(), exit::INTERNAL);
        assert!(err.to_string().contains("running scan"), "{err}");
        let err = run_stage(Stage::Backfill, &settings(), day("2021-08-24")).unwrap_err();
        assert_eq!(err.exit_code(), exit::INTERNAL);
    }

    #[test]
    fn refused_names_and_failed_images_make_a_stage_partial() {
        let ok = Done::ExtractHub(extract_hub::Summary::default());
        assert_eq!(ok.exit_code(), exit::OK);
        let pulls = Done::PullCounts(pull_counts::Summary {
            rejected: 2,
            ..pull_counts::Summary::default()
        });
        assert_eq!(pulls.exit_code(), exit::PARTIAL);
        let scan = Done::Scan(scan::Summary {
            failed: 1,
            ..scan::Summary::default()
        });
        assert_eq!(scan.exit_code(), exit::PARTIAL);
        assert_eq!(scan.stage(), Stage::Scan);
    }

    #[test]
    fn a_sample_date_scans_its_own_archives_against_its_own_hub_url() {
        let mut s = settings();
        s.scan = Some(scan::Options {
            datasets: PathBuf::new(),
            snapshot: day("2000-01-01"),
            trivy: PathBuf::from("trivy"),
            db: scan::DbSource::Download("mirror.gcr.io/aquasec/trivy-db:2".into()),
            images_from: scan::ImageSource::Registry("docker.io".into()),
            from_reports: None,
            namespace: "library".into(),
            parallel: 1,
            timeout: std::time::Duration::from_secs(1),
            retries: 0,
            retry_budget: std::time::Duration::from_secs(1),
            backoff_base: std::time::Duration::from_millis(1),
            images: Vec::new(),
            reference: None,
            credentials: None,
            full: false,
            client_memory_mib: 0,
            tags: Default::default(),
            platforms: Default::default(),
            trivy_server: None,
            shard: None,
        });
        let world = World::load_or_embedded(None).unwrap();
        let capture = std::path::Path::new("/cap");
        let d = day("2021-08-10");
        let at = sample_settings(&s, &world, capture, "http://127.0.0.1:9/2021-08-10", d).unwrap();
        let e = at.extract_options(d).unwrap();
        assert_eq!(e.hub.url, "http://127.0.0.1:9/2021-08-10");
        assert_eq!(e.hub.namespace, world.meta.namespace);
        assert_eq!((e.token, e.full), (None, false));
        let scan = at.scan_options(d).unwrap();
        assert_eq!(
            scan.images_from,
            scan::ImageSource::Archive("/cap/2021-08-10/images".into())
        );
        assert_eq!(scan.db, scan::DbSource::Cache("/cap/trivy-cache".into()));
        assert_eq!(scan.snapshot, d);
    }
}
