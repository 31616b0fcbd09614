//! docker-library/repo-info's package lists (`repos/NAME/local/TAG.md`): what was inside an
//! image as built, written as Markdown by repo-info's scripts.
//!
//! The parts read: the title (`` # `nuxeo:10.10` ``), `Image ID` and `Created` of the Docker
//! metadata, and one section per package manager:
//! - dpkg: ``### `dpkg` source package: `NAME=VERSION` `` followed by its binary packages
//!   (`` - `BIN[:ARCH]=VERSION` ``); the source version can differ from a binary's
//!   (`gcc-8=8.3.0-6` builds `libgcc1=1:8.3.0-6`). Sections repo-info could not find the
//!   source of still list their binaries.
//! - rpm: ``### `rpm` package: `NAME-VERSION-RELEASE.ARCH` `` (no epoch is written).
//! - apk: ``### `apk` package: `NAME` `` with `NAME-VERSION description:` in its console
//!   block.
//!
//! The OS release is not written; [`Inventory::os`] derives it from the package that defines
//! it (Debian's `base-files`, `centos-release`/`centos-linux-release`, `alpine-baselayout`).

use chrono::{DateTime, Utc};

/// The package manager of an inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Dpkg,
    Rpm,
    Apk,
}

impl Kind {
    /// The word repo-info uses (`dpkg`, `rpm`, `apk`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dpkg => "dpkg",
            Kind::Rpm => "rpm",
            Kind::Apk => "apk",
        }
    }

    /// The kind repo-info calls `word`.
    pub fn parse(word: &str) -> Option<Kind> {
        match word {
            "dpkg" => Some(Kind::Dpkg),
            "rpm" => Some(Kind::Rpm),
            "apk" => Some(Kind::Apk),
            _ => None,
        }
    }
}

/// An installed (binary) package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Package {
    pub kind: Kind,
    /// Binary package name (`libssl1.1`).
    pub name: String,
    /// Installed version (`1.1.1d-0+deb10u6`; rpm `VERSION-RELEASE`).
    pub version: String,
    /// Architecture when written (`amd64`, `x86_64`, `noarch`).
    pub arch: Option<String>,
    /// Source package (dpkg; the binary's own name otherwise).
    pub source: String,
    /// Source package version (dpkg; the binary's version otherwise).
    pub source_version: String,
}

/// One parsed package list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inventory {
    /// `NAME:TAG` of the title.
    pub title: String,
    /// `sha256:…` of the image config.
    pub image_id: Option<String>,
    /// When the image was built.
    pub created: Option<DateTime<Utc>>,
    /// Every binary package, sorted.
    pub packages: Vec<Package>,
}

/// An OS as Trivy names it: family (`debian`, `centos`, `alpine`) and release (`10.5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Os {
    pub family: String,
    pub release: String,
}

impl Os {
    /// The major release (`10` of `10.5`): the key of Debian's and Trivy's advisories.
    pub fn major(&self) -> &str {
        self.release.split('.').next().unwrap_or(&self.release)
    }
}

/// Text between the first pair of backticks of `line`.
fn ticked(line: &str) -> Option<&str> {
    let start = line.find('`')? + 1;
    let len = line[start..].find('`')?;
    Some(&line[start..start + len])
}

/// Text between the last pair of backticks of `line`.
fn last_ticked(line: &str) -> Option<&str> {
    let end = line.rfind('`')?;
    let start = line[..end].rfind('`')? + 1;
    Some(&line[start..end])
}

/// `NAME=VERSION` split at the first `=`.
fn name_eq_version(text: &str) -> Option<(&str, &str)> {
    let (n, v) = text.split_once('=')?;
    (!n.is_empty() && !v.is_empty()).then_some((n, v))
}

/// `NAME-VERSION-RELEASE.ARCH` → (name, `VERSION-RELEASE`, arch).
pub fn split_nevra(nevra: &str) -> Option<(&str, String, &str)> {
    let (rest, arch) = nevra.rsplit_once('.')?;
    let (rest, release) = rest.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    (!name.is_empty() && !version.is_empty() && !release.is_empty())
        .then(|| (name, format!("{version}-{release}"), arch))
}

/// Parses a repo-info `local/TAG.md`. `context` names the file in errors: a file with no
/// title or with a package heading that cannot be read is an error, never an empty list.
pub fn parse(text: &str, context: &str) -> Result<Inventory, String> {
    let mut inv = Inventory::default();
    let err = |n: usize, what: &str| format!("{context}:{}: {what}", n + 1);
    let mut source: Option<(String, String)> = None;
    let mut apk: Option<String> = None;
    // inside a dpkg section's "Binary Packages:" list (its "Licenses:" list follows)
    let mut binaries = false;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("Binary Packages:") {
            binaries = true;
            continue;
        }
        if !line.is_empty() && !line.starts_with("- ") {
            binaries = false;
        }
        if let Some(title) = line.strip_prefix("# ") {
            if inv.title.is_empty() {
                inv.title = ticked(title).unwrap_or(title).trim().to_string();
            }
        } else if let Some(rest) = line.strip_prefix("- Image ID: ") {
            inv.image_id = ticked(rest).map(String::from);
        } else if let Some(rest) = line.strip_prefix("- Created: ") {
            inv.created = ticked(rest).and_then(crate::dates::parse_timestamp);
        } else if line.starts_with("## ") {
            source = None;
        } else if let Some(rest) = line.strip_prefix("### ") {
            let kind = ticked(rest).and_then(Kind::parse);
            let value =
                last_ticked(rest).ok_or_else(|| err(n, "package heading without a `name`"))?;
            source = None;
            apk = None;
            match kind {
                Some(Kind::Dpkg) => {
                    let (name, version) = name_eq_version(value)
                        .ok_or_else(|| err(n, "dpkg source heading is not `NAME=VERSION`"))?;
                    source = Some((name.to_string(), version.to_string()));
                }
                Some(Kind::Rpm) => {
                    let (name, version, arch) = split_nevra(value)
                        .ok_or_else(|| err(n, "rpm heading is not `NAME-VERSION-RELEASE.ARCH`"))?;
                    inv.packages.push(Package {
                        kind: Kind::Rpm,
                        name: name.to_string(),
                        version: version.clone(),
                        arch: Some(arch.to_string()),
                        source: name.to_string(),
                        source_version: version,
                    });
                }
                Some(Kind::Apk) => apk = Some(value.to_string()),
                None => return Err(err(n, "package heading of an unknown package manager")),
            }
        } else if let (true, Some((src, src_version)), Some(rest)) =
            (binaries, &source, line.strip_prefix("- `"))
        {
            let (bin, version) = rest
                .strip_suffix('`')
                .and_then(name_eq_version)
                .ok_or_else(|| err(n, "binary package is not `NAME[:ARCH]=VERSION`"))?;
            let (name, arch) = match bin.split_once(':') {
                Some((name, arch)) => (name, Some(arch.to_string())),
                None => (bin, None),
            };
            inv.packages.push(Package {
                kind: Kind::Dpkg,
                name: name.to_string(),
                version: version.to_string(),
                arch,
                source: src.clone(),
                source_version: src_version.clone(),
            });
        } else if let Some(name) = &apk {
            // console block: `NAME-VERSION description:`
            if let Some(version) = line
                .strip_suffix(" description:")
                .and_then(|l| l.strip_prefix(name.as_str()))
                .and_then(|l| l.strip_prefix('-'))
            {
                inv.packages.push(Package {
                    kind: Kind::Apk,
                    name: name.clone(),
                    version: version.to_string(),
                    arch: None,
                    source: name.clone(),
                    source_version: version.to_string(),
                });
                apk = None;
            }
        }
    }
    if inv.title.is_empty() {
        return Err(format!(
            "{context}: no `# `NAME:TAG`` title: not a repo-info package list"
        ));
    }
    inv.packages.sort();
    inv.packages.dedup();
    Ok(inv)
}

impl Inventory {
    /// The package manager of most packages (None for an empty list).
    pub fn kind(&self) -> Option<Kind> {
        let count = |k: Kind| self.packages.iter().filter(|p| p.kind == k).count();
        [Kind::Dpkg, Kind::Rpm, Kind::Apk]
            .into_iter()
            .filter(|k| count(*k) > 0)
            .max_by_key(|k| count(*k))
    }

    fn version_of(&self, name: &str) -> Option<&str> {
        self.packages
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.version.as_str())
    }

    /// The OS, from the package that defines the release: Debian's `base-files`
    /// (`10.3+deb10u5` is Debian 10.5; `11.1+deb11u1` is 11.1), `centos-release` or
    /// `centos-linux-release` (`8.3-1.2011.el8` is 8.3.2011), `alpine-baselayout`'s
    /// `alpine-release` (the version of that package is the release).
    pub fn os(&self) -> Option<Os> {
        if let Some(v) = self.version_of("base-files") {
            let major = v
                .split('.')
                .next()
                .filter(|m| m.chars().all(|c| c.is_ascii_digit()))?;
            let point = v
                .split_once(&format!("+deb{major}u"))
                .map(|(_, u)| {
                    u.chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect::<String>()
                })
                .filter(|u| !u.is_empty());
            let release = match point {
                Some(u) => format!("{major}.{u}"),
                None => major.to_string(),
            };
            return Some(Os {
                family: "debian".into(),
                release,
            });
        }
        for name in ["centos-linux-release", "centos-release"] {
            if let Some(v) = self.version_of(name) {
                let (version, release) = v.split_once('-').unwrap_or((v, ""));
                let build = release.split('.').nth(1).unwrap_or_default();
                let release = if build.chars().all(|c| c.is_ascii_digit()) && !build.is_empty() {
                    format!("{version}.{build}")
                } else {
                    version.to_string()
                };
                return Some(Os {
                    family: "centos".into(),
                    release,
                });
            }
        }
        if let Some(v) = self
            .version_of("alpine-release")
            .or(self.version_of("alpine-baselayout"))
        {
            let release = v.split('-').next().unwrap_or(v);
            return Some(Os {
                family: "alpine".into(),
                release: release.split('.').take(2).collect::<Vec<_>>().join("."),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DPKG: &str = "# `nuxeo:10.10`\n\n## Docker Metadata\n\n- Image ID: `sha256:7d01`\n- Created: `2020-09-11T06:02:08.134582016Z`\n\n## `dpkg` (`.deb`-based packages)\n\n### `dpkg` source package: `base-files=10.3+deb10u5`\n\nBinary Packages:\n\n- `base-files=10.3+deb10u5`\n\n**WARNING:** unable to find source\n\n### `dpkg` source package: `gcc-8=8.3.0-6`\n\nBinary Packages:\n\n- `gcc-8-base:amd64=8.3.0-6`\n- `libgcc1:amd64=1:8.3.0-6`\n\nLicenses: (parsed from: `/usr/share/doc/gcc-8-base/copyright`)\n\n- `GPL-2`\n";

    #[test]
    fn dpkg_sections_give_binaries_with_their_source_and_the_release() {
        let inv = parse(DPKG, "t.md").unwrap();
        assert_eq!(inv.title, "nuxeo:10.10");
        assert_eq!(inv.image_id.as_deref(), Some("sha256:7d01"));
        assert_eq!(
            inv.created.unwrap().to_rfc3339(),
            "2020-09-11T06:02:08.134582016+00:00"
        );
        let libgcc = inv.packages.iter().find(|p| p.name == "libgcc1").unwrap();
        assert_eq!(
            (
                libgcc.version.as_str(),
                libgcc.source.as_str(),
                libgcc.source_version.as_str()
            ),
            ("1:8.3.0-6", "gcc-8", "8.3.0-6")
        );
        assert_eq!(libgcc.arch.as_deref(), Some("amd64"));
        // license lines after the binaries are not packages
        assert_eq!(inv.packages.len(), 3);
        assert_eq!(inv.kind(), Some(Kind::Dpkg));
        assert_eq!(
            inv.os(),
            Some(Os {
                family: "debian".into(),
                release: "10.5".into()
            })
        );
    }

    #[test]
    fn rpm_and_apk_sections_are_read() {
        let rpm = "# `centos:latest`\n\n## `rpm` (`.rpm`-based packages)\n\n### `rpm` package: `centos-linux-release-8.3-1.2011.el8.noarch`\n\n### `rpm` package: `audit-libs-3.0-0.17.20191104git1c2f876.el8.x86_64`\n";
        let inv = parse(rpm, "c.md").unwrap();
        assert_eq!(inv.packages[0].name, "audit-libs");
        assert_eq!(inv.packages[0].version, "3.0-0.17.20191104git1c2f876.el8");
        assert_eq!(inv.os().unwrap().release, "8.3.2011");
        let apk = "# `alpine:3.14`\n\n## `apk` (`.apk`-based packages)\n\n### `apk` package: `alpine-baselayout`\n\n```console\nalpine-baselayout-3.2.0-r16 description:\nAlpine base dir structure\n```\n";
        let inv = parse(apk, "a.md").unwrap();
        assert_eq!(inv.packages[0].version, "3.2.0-r16");
        assert_eq!(inv.os().unwrap().family, "alpine");
    }

    #[test]
    fn a_file_that_is_not_a_package_list_is_an_error_naming_it() {
        assert!(parse("hello\n", "x.md").unwrap_err().contains("x.md"));
        let bad = "# `a:b`\n\n### `dpkg` source package: `noversion`\n";
        assert!(parse(bad, "y.md").unwrap_err().starts_with("y.md:3:"));
        assert!(split_nevra("bash").is_none());
    }
}
