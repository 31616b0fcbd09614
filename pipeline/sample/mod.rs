//! The sample world: a committed, human-readable spec (`datasets/sample/`) of Docker Hub's
//! `library` namespace at three 2021 capture dates, turned into a *replay capture* (the API
//! responses per date) that the replay Hub serves on loopback.
//!
//! Real: the 168 names, deprecation dates, where each notice points, tag names. Synthetic,
//! and labelled `source = "sample"` everywhere: descriptions, notice wording, stars, pulls,
//! `last_updated`, digests, sizes. A notice shows on a date only from its `deprecated_since`.
//!
//! Capture folder layout (also what `replay` serves, so a capture of real responses in the
//! same layout replays too):
//! ```text
//! CAPTURE/capture.toml            source, namespace, dates
//! CAPTURE/DATE/repositories.json  the full repository list (the server pages it)
//! CAPTURE/DATE/detail/NAME.json   one repository's detail
//! CAPTURE/DATE/tags/NAME.json     all tags of a repository (the server pages them)
//! CAPTURE/DATE/images/NAME/TAG.tar  a docker-save tarball per tag (its image ID is the
//!                                   tag's amd64 digest); TAG.note: a note for the scan row
//! CAPTURE/trivy-cache/db/           the synthetic Trivy DB (`--trivy-cache`)
//! ```

pub mod bolt;
pub mod image;
pub mod loopback;
pub mod proxy;
pub mod registry;
pub mod replay;
pub mod token;
pub mod trivydb;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dates::parse_date;
use crate::error::{Error, Result};
use crate::io::partition::write_file_atomic;

/// `world.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorldToml {
    /// Row label, `sample`.
    pub source: String,
    /// Namespace served.
    pub namespace: String,
    /// Capture dates.
    pub captures: Vec<NaiveDate>,
    /// Hour (UTC) of each capture.
    pub capture_hour: u32,
}

/// One image of `images.csv`.
#[derive(Debug, Clone)]
pub struct SampleImage {
    pub name: String,
    pub description: String,
    pub date_registered: NaiveDate,
    pub deprecated_since: Option<NaiveDate>,
    pub tags: Vec<String>,
    pub stars: i64,
    /// Per capture date: (pull_count, last_updated); absent before the image exists.
    pub at: BTreeMap<NaiveDate, (i64, String)>,
}

/// The whole spec.
#[derive(Debug, Clone)]
pub struct World {
    pub meta: WorldToml,
    pub images: Vec<SampleImage>,
    /// Notice Markdown by image name.
    pub notices: BTreeMap<String, String>,
    /// Base OS, package revisions and advisories (`scan.toml`).
    pub scan: ScanSpec,
}

/// `scan.toml`: how the sample images and the sample vulnerability DB are built.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSpec {
    /// UpdatedAt of the synthetic DB.
    pub db_updated_at: String,
    /// OS and revision of images not listed.
    pub default: ImageOs,
    /// Per image.
    pub images: BTreeMap<String, ImageOs>,
    /// Per Trivy platform bucket (`debian 10`).
    pub os: BTreeMap<String, OsSpec>,
}

/// An image's base OS and package revision.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageOs {
    pub os: String,
    pub rev: u32,
    /// Carried into the scan row (e.g. a stand-in explanation).
    #[serde(default)]
    pub note: Option<String>,
}

/// One OS of the sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsSpec {
    /// Release file content (`10.10`, `3.14.1`).
    pub release: String,
    pub packages: Vec<PackageSpec>,
}

/// A source package with its binaries and advisories.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub source: String,
    pub binaries: Vec<String>,
    /// Version template with `{rev}`.
    pub version: String,
    /// Advisories fixed in revisions 1..=N.
    pub advisories: u32,
    /// Advisories without a fix.
    #[serde(default)]
    pub unfixed: u32,
}

impl ScanSpec {
    /// The OS and revision of `name`.
    pub fn image(&self, name: &str) -> &ImageOs {
        self.images.get(name).unwrap_or(&self.default)
    }

    /// The synthetic advisory DB. Ids are `SAMPLE-2021-NNNN`, numbered in spec order.
    pub fn advisory_db(&self) -> trivydb::AdvisoryDb {
        use trivydb::{status, Advisory, AdvisoryDb, DataSource, Vulnerability};
        const SEVERITY: [u8; 8] = [2, 3, 1, 4, 2, 3, 2, 1];
        const NAMES: [&str; 5] = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
        let mut db = AdvisoryDb::default();
        let mut n = 0;
        for (platform, os) in &self.os {
            let family = platform
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            db.data_sources.insert(
                platform.clone(),
                DataSource {
                    id: family.clone(),
                    name: format!("hubaudit sample advisories for {platform}"),
                    url: "https://example.invalid/hubaudit-sample".into(),
                },
            );
            for pkg in &os.packages {
                let bucket = db
                    .platforms
                    .entry(platform.clone())
                    .or_default()
                    .entry(pkg.source.clone())
                    .or_default();
                for k in 1..=(pkg.advisories + pkg.unfixed) {
                    n += 1;
                    let id = format!("SAMPLE-2021-{n:04}");
                    let sev = SEVERITY[(n as usize) % SEVERITY.len()];
                    let advisory = if k <= pkg.advisories {
                        Advisory {
                            fixed_version: Some(pkg.version.replace("{rev}", &k.to_string())),
                            status: None,
                            severity: Some(sev),
                        }
                    } else {
                        Advisory {
                            fixed_version: None,
                            status: Some(status::AFFECTED),
                            severity: Some(sev),
                        }
                    };
                    bucket.insert(id.clone(), advisory);
                    db.vulnerabilities.insert(id.clone(), Vulnerability {
                        title: format!("{id}: synthetic flaw in {} (sample data)", pkg.source),
                        description: "Synthetic advisory of hubaudit's sample world; not a real vulnerability.".into(),
                        severity: NAMES[sev as usize].into(),
                    });
                }
            }
        }
        db
    }

    /// The rootfs of `name` (with a stamp so that the digest follows `last_updated`).
    pub fn rootfs(&self, name: &str, stamp: &str) -> Result<image::Rootfs> {
        let img = self.image(name);
        let os = self.os.get(&img.os).ok_or_else(|| {
            Error::data(
                "scan.toml",
                format!("image {name}: unknown os {:?}", img.os),
            )
        })?;
        let packages: Vec<image::Package> = os
            .packages
            .iter()
            .flat_map(|p| {
                p.binaries.iter().map(|b| image::Package {
                    name: b.clone(),
                    source: p.source.clone(),
                    version: p.version.replace("{rev}", &img.rev.to_string()),
                })
            })
            .collect();
        let mut fs = if img.os.starts_with("alpine") {
            image::alpine_rootfs(&os.release, &packages)
        } else {
            image::debian_rootfs(&os.release, &packages)
        };
        fs.insert(
            "etc/hubaudit-sample".into(),
            format!("SAMPLE image {name} built {stamp}\n").into_bytes(),
        );
        Ok(fs)
    }
}

/// The default spec folder.
pub fn default_spec_dir() -> PathBuf {
    PathBuf::from("datasets/sample")
}

impl World {
    /// Loads and checks a spec folder.
    pub fn load(dir: &Path) -> Result<World> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
        };
        let ctx = |name: &str| dir.join(name).display().to_string();
        let meta: WorldToml = toml::from_str(&read("world.toml")?)
            .map_err(|e| Error::data(ctx("world.toml"), e.message()))?;
        #[derive(Deserialize)]
        struct NoticeEntry {
            text: String,
        }
        let notices: BTreeMap<String, NoticeEntry> = toml::from_str(&read("notices.toml")?)
            .map_err(|e| Error::data(ctx("notices.toml"), e.message()))?;
        let notices: BTreeMap<String, String> = notices
            .into_iter()
            .map(|(k, v)| (k, v.text.trim().to_string()))
            .collect();
        let scan: ScanSpec = toml::from_str(&read("scan.toml")?)
            .map_err(|e| Error::data(ctx("scan.toml"), e.message()))?;
        let images = parse_images(&read("images.csv")?, &meta.captures)
            .map_err(|e| Error::data(ctx("images.csv"), e))?;
        for img in &images {
            if img.deprecated_since.is_some() && !notices.contains_key(&img.name) {
                return Err(Error::data(
                    ctx("notices.toml"),
                    format!("{} has a deprecated_since date but no notice", img.name),
                ));
            }
        }
        for img in &images {
            scan.rootfs(&img.name, "")?;
        }
        Ok(World {
            meta,
            images,
            notices,
            scan,
        })
    }

    /// Writes the replay capture for every date into `out` (replacing files it owns).
    pub fn build_capture(&self, out: &Path) -> Result<usize> {
        let mut files = 0;
        let meta = toml::to_string(&CaptureToml {
            source: self.meta.source.clone(),
            namespace: self.meta.namespace.clone(),
            dates: self.meta.captures.clone(),
            capture_hour: self.meta.capture_hour,
        })
        .expect("capture.toml serialises");
        write_file_atomic(&out.join("capture.toml"), meta.as_bytes())?;
        let updated = crate::dates::parse_timestamp(&self.scan.db_updated_at)
            .ok_or_else(|| Error::data("scan.toml", "db_updated_at is not an RFC 3339 time"))?;
        self.scan
            .advisory_db()
            .write(&out.join("trivy-cache"), updated)?;
        for date in &self.meta.captures {
            let day = out.join(date.to_string());
            let present: Vec<&SampleImage> = self
                .images
                .iter()
                .filter(|i| i.at.contains_key(date))
                .collect();
            let list: Vec<Value> = present.iter().map(|i| self.list_item(i, *date)).collect();
            write_json(&day.join("repositories.json"), &Value::Array(list))?;
            files += 1;
            for img in present {
                let mut detail = self.list_item(img, *date);
                detail["full_description"] = Value::String(self.readme(img, *date));
                write_json(
                    &day.join("detail").join(format!("{}.json", img.name)),
                    &detail,
                )?;
                let mut digests = BTreeMap::new();
                for tag in &img.tags {
                    let path = day
                        .join("images")
                        .join(&img.name)
                        .join(format!("{tag}.tar"));
                    let stamp = format!("{tag} {}", img.at[date].1);
                    let rootfs = self.scan.rootfs(&img.name, &stamp)?;
                    let id = image::write_image(&path, &format!("{}:{tag}", img.name), &rootfs)?;
                    if let Some(note) = &self.scan.image(&img.name).note {
                        write_file_atomic(&path.with_extension("note"), note.as_bytes())?;
                    }
                    digests.insert(tag.clone(), id);
                    files += 1;
                }
                write_json(
                    &day.join("tags").join(format!("{}.json", img.name)),
                    &self.tags(img, *date, &digests),
                )?;
                files += 2;
            }
        }
        Ok(files)
    }

    fn list_item(&self, img: &SampleImage, date: NaiveDate) -> Value {
        let (pulls, updated) = &img.at[&date];
        json!({
            "name": img.name,
            "namespace": self.meta.namespace,
            "repository_type": "image",
            "status": 1,
            "status_description": "active",
            "description": img.description,
            "is_private": false,
            "star_count": img.stars,
            "pull_count": pulls,
            "last_updated": updated,
            "date_registered": format!("{}T00:00:00Z", img.date_registered),
            "affiliation": "",
            "media_types": ["application/vnd.docker.distribution.manifest.list.v2+json"],
            "content_types": ["image"],
        })
    }

    /// The sample README (`full_description`), with the notice from its date on.
    pub fn readme(&self, img: &SampleImage, date: NaiveDate) -> String {
        let mut md = String::new();
        if img.deprecated_since.is_some_and(|d| d <= date) {
            md.push_str("# **DEPRECATION NOTICE**\n\n");
            md.push_str(&self.notices[&img.name]);
            md.push_str("\n\n");
        }
        md.push_str(&format!(
            "# Quick reference\n\n> SAMPLE DATA: this README was written for hubaudit's offline sample world; it is not the image's real documentation.\n\n# What is `{}`?\n\n{}\n",
            img.name, img.description
        ));
        md
    }

    /// Tags JSON; the amd64 digest of each tag is the image ID of its sample tarball.
    fn tags(
        &self,
        img: &SampleImage,
        date: NaiveDate,
        digests: &BTreeMap<String, String>,
    ) -> Value {
        let (_, updated) = &img.at[&date];
        let tags: Vec<Value> = img
            .tags
            .iter()
            .map(|tag| {
                let images: Vec<Value> = ["amd64", "arm64"]
                    .iter()
                    .map(|arch| {
                        let seed = format!("{}:{tag}:{arch}:{updated}", img.name);
                        json!({
                            "architecture": arch,
                            "features": "",
                            "variant": if *arch == "arm64" { Value::from("v8") } else { Value::Null },
                            "digest": match (*arch, digests.get(tag)) {
                                ("amd64", Some(d)) => d.clone(),
                                _ => sample_digest(&seed),
                            },
                            "os": "linux",
                            "os_features": "",
                            "os_version": null,
                            "size": 2_000_000 + (fnv(&seed) % 200_000_000) as i64,
                            "status": "active",
                            "last_pulled": format!("{date}T05:00:00Z"),
                            "last_pushed": updated,
                        })
                    })
                    .collect();
                let full_size: i64 = images.iter().filter_map(|i| i["size"].as_i64()).sum();
                json!({
                    "name": tag,
                    "full_size": full_size,
                    "images": images,
                    "last_updated": updated,
                    "tag_status": "active",
                    "tag_last_pulled": format!("{date}T05:00:00Z"),
                    "tag_last_pushed": updated,
                    "v2": true,
                })
            })
            .collect();
        Value::Array(tags)
    }
}

/// `capture.toml` of a capture folder.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureToml {
    /// Row label the replay server declares (`X-Hubaudit-Replay`).
    pub source: String,
    /// Namespace served.
    pub namespace: String,
    /// Dates in the capture.
    pub dates: Vec<NaiveDate>,
    /// Hour (UTC) of each capture, for the `Date` header.
    pub capture_hour: u32,
}

impl CaptureToml {
    /// The capture time of `date`.
    pub fn captured_at(&self, date: NaiveDate) -> chrono::DateTime<Utc> {
        Utc.from_utc_datetime(&date.and_time(
            NaiveTime::from_hms_opt(self.capture_hour.min(23), 0, 0).expect("valid hour"),
        ))
    }
}

/// Capture files are a rebuilt artefact (not data): a plain write is enough, and skipping
/// a thousand fsyncs keeps `just run` and the test fixtures fast.
fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("json serialises");
    text.push('\n');
    let parent = path.parent().expect("capture file has a folder");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// A synthetic `sha256:` digest (64 hex digits) derived from `seed`; never a real digest.
pub fn sample_digest(seed: &str) -> String {
    let mut hex = String::from("sha256:");
    for i in 0..4 {
        hex.push_str(&format!("{:016x}", fnv(&format!("{i}/{seed}"))));
    }
    hex
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Parses `images.csv`.
fn parse_images(
    text: &str,
    captures: &[NaiveDate],
) -> std::result::Result<Vec<SampleImage>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("missing column {name:?}"))
    };
    let (c_name, c_desc, c_reg, c_dep, c_tags, c_stars) = (
        col("name")?,
        col("description")?,
        col("date_registered")?,
        col("deprecated_since")?,
        col("tags")?,
        col("stars")?,
    );
    let per_date: Vec<(NaiveDate, usize, usize)> = captures
        .iter()
        .map(|d| {
            Ok((
                *d,
                col(&format!("pulls_{d}"))?,
                col(&format!("updated_{d}"))?,
            ))
        })
        .collect::<std::result::Result<_, String>>()?;
    let mut images = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let r = record.map_err(|e| e.to_string())?;
        let row = line + 2;
        let bad = |what: &str, e: String| format!("line {row}: {what}: {e}");
        let date =
            |i: usize| parse_date(&headers[i], &r[i]).map_err(|e| bad(&headers[i], e.to_string()));
        let mut at = BTreeMap::new();
        for (d, pc, uc) in &per_date {
            if r[*pc].is_empty() {
                continue;
            }
            let pulls = r[*pc]
                .parse::<i64>()
                .map_err(|e| bad(&headers[*pc], e.to_string()))?;
            at.insert(*d, (pulls, r[*uc].to_string()));
        }
        images.push(SampleImage {
            name: r[c_name].to_string(),
            description: r[c_desc].to_string(),
            date_registered: date(c_reg)?,
            deprecated_since: if r[c_dep].is_empty() {
                None
            } else {
                Some(date(c_dep)?)
            },
            tags: r[c_tags]
                .split(';')
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
            stars: r[c_stars]
                .parse()
                .map_err(|e: std::num::ParseIntError| bad("stars", e.to_string()))?,
            at,
        });
    }
    Ok(images)
}
