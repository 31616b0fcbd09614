-- DuckDB equivalent of `hubaudit join --snapshot D` and of the window computation and CSV
-- tables of `hubaudit report --date D --window A..B`, for the marts benchmark (issue 10).
--
-- Run by bench/run_marts_sql.py, which resolves the partitions the way hubaudit does (the
-- latest scans on or before D, the repositories and images-mart snapshot just before D, the
-- pull_counts captures since that images snapshot, every pulls-mart snapshot on or before the
-- report date), checks each input file against its manifest (size and
-- sha256, as `verified_file` does), fills the ${...} placeholders (string.Template), runs one
-- section (`-- @section NAME` to the next), and writes a manifest with the sha256 of every
-- Parquet file this writes (fsynced, renamed into place). Placeholders holding a relation
-- (`${prev_repos}`, `${scans}`, ...) are either `read_parquet('FILE')` or an empty SELECT with
-- the columns used, for a partition that does not exist.
--
-- Follows pipeline/stages/join.rs, pipeline/downloads.rs and pipeline/stages/report/{mod,read,
-- tables}.rs. What it leaves out (each small next to the work measured):
--   join:   duplicate names inside one staged partition (hubaudit keeps the last scan of a name
--           in a hash map; here a duplicate would duplicate rows); row order (hubaudit writes
--           repository order, findings in staged order; here DuckDB's order, sorted by name for
--           images); the Arrow schema's non-null flags (DuckDB writes every column nullable).
--   report: index.html and report.md (HTML/Markdown rendering, the three SVG charts), the two
--           tables that compare with the published study (deprecated_vs_study.csv,
--           study_comparison.csv, and the study columns in_study/study_fixable, left empty),
--           the CSV formula neutralisation of fields (`'=`).
-- Both read every input hubaudit reads (projection pushdown means DuckDB reads only the
-- columns it uses; hubaudit decodes whole files) and write the same Parquet/CSV files.

-- @section join
SET TimeZone = 'UTC';

CREATE TEMP TABLE repos AS
SELECT name, namespace, description, source, star_count, pull_count, last_updated,
       date_registered, deprecated, deprecated_since, deprecation_targets,
       deprecation_alternatives, deprecation_link, captured_at
FROM ${repos};

CREATE TEMP TABLE scans AS
SELECT name, tag, digest, status, os_family, os_name, eol_date, eol_at_snapshot, trivy_eosl,
       total, critical, fixable, fixable_critical, fixable_high, fixable_medium, fixable_low,
       note, db_digest
FROM ${scans};

CREATE TEMP TABLE images AS
WITH prev AS (
    SELECT name, pull_count, last_updated FROM ${prev_repos}
),
docs AS (
    SELECT name, max(deprecated_since) AS since
    FROM read_csv('${reference}/deprecations.csv', header = true,
                  columns = {'name': 'VARCHAR', 'deprecated_since': 'DATE', 'docs_commit': 'VARCHAR'})
    GROUP BY name
),
carried AS (
    SELECT name, deprecated_since, deprecated_since_source FROM ${prev_images}
)
SELECT
    r.name, r.namespace, r.description, r.source, r.star_count, r.pull_count, r.last_updated,
    CASE WHEN p.name IS NOT NULL THEN p.last_updated IS DISTINCT FROM r.last_updated END
        AS last_updated_changed,
    r.date_registered, r.deprecated,
    CASE WHEN NOT r.deprecated THEN NULL
         WHEN r.deprecated_since IS NOT NULL THEN r.deprecated_since
         WHEN docs.since IS NOT NULL THEN docs.since
         WHEN c.deprecated_since IS NOT NULL THEN c.deprecated_since
         ELSE DATE '${d}' END AS deprecated_since,
    CASE WHEN NOT r.deprecated THEN NULL
         WHEN r.deprecated_since IS NOT NULL THEN r.source || '-history'
         WHEN docs.since IS NOT NULL THEN 'docs-history'
         WHEN c.deprecated_since IS NOT NULL THEN c.deprecated_since_source
         ELSE 'first-seen-in-snapshot' END AS deprecated_since_source,
    r.deprecation_targets, r.deprecation_alternatives, r.deprecation_link,
    CASE WHEN s.name IS NOT NULL THEN ${scans_date} END AS scans_snapshot,
    s.tag, s.digest, s.status AS scan_status, s.os_family, s.os_name, s.eol_date,
    s.eol_at_snapshot, s.trivy_eosl,
    s.total,
    -- tables::scans_from: counts exist when `total` (`fixable`) does, missing parts read as 0
    s.fixable,
    CASE WHEN s.fixable IS NOT NULL THEN coalesce(s.fixable_critical, 0) END AS fixable_critical,
    CASE WHEN s.fixable IS NOT NULL THEN coalesce(s.fixable_high, 0) END AS fixable_high,
    CASE WHEN s.fixable IS NOT NULL THEN coalesce(s.fixable_medium, 0) END AS fixable_medium,
    CASE WHEN s.fixable IS NOT NULL THEN coalesce(s.fixable_low, 0) END AS fixable_low,
    s.note AS scan_note, s.db_digest,
    CASE WHEN p.name IS NOT NULL THEN ${prev_date} END AS previous_snapshot,
    -- downloads::window over {previous: old pull_count, D: pull_count}, tolerance unbounded
    CASE WHEN p.name IS NULL OR p.pull_count IS NULL OR r.pull_count IS NULL THEN NULL
         WHEN p.pull_count >= 2147483647 OR r.pull_count >= 2147483647 THEN NULL
         WHEN r.pull_count < p.pull_count THEN NULL
         ELSE r.pull_count - p.pull_count END AS downloads_since_previous,
    CASE WHEN p.name IS NULL OR p.pull_count IS NULL OR r.pull_count IS NULL THEN 'missing'
         WHEN p.pull_count >= 2147483647 OR r.pull_count >= 2147483647 THEN 'capped'
         WHEN r.pull_count < p.pull_count THEN 'reset'
         ELSE '' END AS downloads_flags
FROM repos r
LEFT JOIN prev p ON p.name = r.name
LEFT JOIN scans s ON s.name = r.name
LEFT JOIN docs ON docs.name = r.name
LEFT JOIN carried c ON c.name = r.name
ORDER BY r.name;

COPY images TO '${out_images}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3);

COPY (
    SELECT f.name, f.tag, f.digest, f.vulnerability_id, f.pkg_name, f.installed_version,
           f.fixed_version, f.status, f.fixable, f.severity, f.title, f.target, f.class,
           i.deprecated, i.os_family, i.os_name, i.eol_at_snapshot,
           ${scans_or_d} AS scans_snapshot
    FROM ${findings} f
    JOIN images i ON i.name = f.name
) TO '${out_findings}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3);

-- as join.rs: the repositories' own counts, then every staged pull_counts capture after the
-- previous images snapshot and up to D (the daily captures between two joins)
COPY (
    SELECT name, pull_count, captured_at, 'extract-hub' AS read_from FROM repos
    UNION ALL
    SELECT name, pull_count, captured_at, 'pull-counts' AS read_from
    FROM ${pull_counts} WHERE name IN (SELECT name FROM repos)
) TO '${out_pulls}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3);

COPY (
    SELECT "table", name, reason FROM (
        SELECT 1 AS k, 'scans' AS "table", name,
               'scanned on ${scans_text} but not in the repositories snapshot of ${d}' AS reason
        FROM scans WHERE name NOT IN (SELECT name FROM repos)
        UNION ALL
        SELECT 2, 'repositories', name,
               'no scan of this image in the scans of ${scans_text}; it stays in the images mart without scan columns'
        FROM repos WHERE ${has_scans} AND name NOT IN (SELECT name FROM scans)
        UNION ALL
        SELECT 3, 'findings', name,
               count(*) || ' finding(s) of an image not in the repositories snapshot of ${d}'
        FROM ${findings} WHERE name NOT IN (SELECT name FROM repos) GROUP BY name
        UNION ALL
        SELECT 4, 'pull_counts', name, 'not in the repositories snapshot of ${d}'
        FROM ${pull_counts} WHERE name NOT IN (SELECT name FROM repos)
    ) ORDER BY k, name
) TO '${out_rejects}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3);

SELECT (SELECT count(*) FROM images) AS images,
       (SELECT count(*) FROM images WHERE scan_status IS NOT NULL) AS with_scan;

-- @section report
SET TimeZone = 'UTC';

-- read::windows: every pulls-mart partition up to the report date; several reads on one day
-- (extract-hub and pull-counts) keep the larger count (a null count is smaller than any)
CREATE TEMP TABLE hist AS
SELECT name, CAST(captured_at AS DATE) AS day, max(pull_count) AS pulls
FROM read_parquet(${pulls_files})
WHERE name IS NOT NULL AND captured_at IS NOT NULL
GROUP BY ALL;

-- downloads::window(history, A, B, tolerance) for every name with a capture on or before B
-- (an image first counted after the window was not there to be downloaded)
CREATE TEMP TABLE windows AS
WITH ends AS (
    SELECT name,
           max(day) FILTER (WHERE day <= DATE '${a}') AS sc,
           arg_max_null(pulls, day) FILTER (WHERE day <= DATE '${a}') AS sp,
           max(day) FILTER (WHERE day <= DATE '${b}') AS ec,
           arg_max_null(pulls, day) FILTER (WHERE day <= DATE '${b}') AS ep
    FROM hist GROUP BY name
), judged AS (
    SELECT *,
           coalesce(DATE '${a}' - sc > ${tolerance}, false)
               OR coalesce(DATE '${b}' - ec > ${tolerance}, false) AS approximate,
           (sc IS NOT NULL AND sc = ec AND DATE '${a}' <> DATE '${b}')
               OR sp IS NULL OR ep IS NULL AS missing,
           sp >= 2147483647 OR ep >= 2147483647 AS capped,
           ep < sp AS reset
    FROM ends
)
SELECT name, sc AS start_capture, ec AS end_capture, sp AS start_pulls, ep AS end_pulls,
       CASE WHEN NOT missing AND NOT capped AND NOT reset THEN ep - sp END AS downloads,
       concat_ws(';', CASE WHEN approximate THEN 'approximate' END,
                 CASE WHEN missing THEN 'missing' WHEN capped THEN 'capped'
                      WHEN reset THEN 'reset' END) AS flags
FROM judged
WHERE ec IS NOT NULL;

CREATE TEMP TABLE img AS
SELECT name, source, pull_count, last_updated, deprecated, deprecated_since,
       deprecated_since_source, array_to_string(deprecation_targets, ';') AS targets,
       array_to_string(deprecation_alternatives, ';') AS alternatives, deprecation_link,
       scans_snapshot, tag, scan_status, trim(coalesce(os_family, '') || ' ' || coalesce(os_name, '')) AS os,
       eol_date, eol_at_snapshot, trivy_eosl, total, fixable, fixable_critical, fixable_high,
       fixable_medium, fixable_low, scan_note, db_digest,
       scan_status = 'ok' AND coalesce(fixable, 0) > ${threshold} AS over
FROM ${images}
ORDER BY name;

-- every images-mart snapshot on or before the one used (trends and stale.csv)
CREATE TEMP TABLE history AS
SELECT name, CAST(snapshot AS DATE) AS snapshot, last_updated_changed
FROM read_parquet(${history_files}, hive_partitioning = true);

COPY (
    SELECT metric, value FROM (VALUES
        (1, 'report date', '${date}'),
        (2, 'images snapshot used', '${images_date}'),
        (3, 'scans snapshot used', coalesce((SELECT string_agg(DISTINCT CAST(scans_snapshot AS VARCHAR), ', ' ORDER BY CAST(scans_snapshot AS VARCHAR)) FROM img), 'none')),
        (4, 'data source', (SELECT string_agg(DISTINCT source, ', ' ORDER BY source) FROM img)),
        (4.5, 'Trivy DB of the scans (sha256 of trivy.db, kept in 1_raw/trivy-db)', coalesce((SELECT string_agg(DISTINCT db_digest, ', ' ORDER BY db_digest) FROM img), 'none')),
        (5, 'images listed', (SELECT CAST(count(*) AS VARCHAR) FROM img)),
        (6, 'images scanned', (SELECT CAST(count(*) AS VARCHAR) FROM img WHERE scan_status = 'ok')),
        (7, 'scans failed or timed out', (SELECT CAST(count(*) AS VARCHAR) FROM img WHERE scan_status IN ('failed', 'timeout'))),
        (8, 'images without a scan', (SELECT CAST(count(*) AS VARCHAR) FROM img WHERE scan_status IS NULL)),
        (9, 'deprecated', (SELECT CAST(count(*) AS VARCHAR) FROM img WHERE deprecated)),
        (10, 'on an end-of-life OS at the report date', (SELECT CAST(count(*) AS VARCHAR) FROM img WHERE eol_at_snapshot)),
        (11, 'over ${threshold} fixable vulnerabilities', (SELECT CAST(count(*) AS VARCHAR) FROM img WHERE over)),
        (12, 'snapshot dates used for trends', (SELECT string_agg(DISTINCT CAST(snapshot AS VARCHAR), ', ' ORDER BY CAST(snapshot AS VARCHAR)) FROM history)),
        (13, 'download window', '${a}..${b} (' || (SELECT count(*) FROM windows WHERE flags <> '') || ' image(s) flagged)')
    ) t(k, metric, value) ORDER BY k
) TO '${out_dir}/summary.csv' (HEADER, DELIMITER ',');

COPY (
    SELECT i.name, i.deprecated_since, coalesce(i.deprecated_since_source, '') AS deprecated_since_source,
           i.targets, i.alternatives, coalesce(i.deprecation_link, '') AS recommended_link,
           strftime(i.last_updated, '%Y-%m-%dT%H:%M:%SZ') AS last_updated, i.pull_count,
           w.downloads AS window_downloads, coalesce(w.flags, '') AS window_flags,
           '' AS in_study, i.source
    FROM img i LEFT JOIN windows w ON w.name = i.name
    WHERE i.deprecated ORDER BY i.name
) TO '${out_dir}/deprecated.csv' (HEADER, DELIMITER ',');

COPY (
    SELECT name, coalesce(tag, '') AS tag, fixable, total, fixable_critical AS critical,
           fixable_high AS high, fixable_medium AS medium, fixable_low AS low, os,
           eol_at_snapshot, trivy_eosl AS trivy_eosl_today, '' AS study_fixable,
           coalesce(scan_note, '') AS note, source
    FROM img WHERE over ORDER BY fixable DESC, name
) TO '${out_dir}/vulnerable.csv' (HEADER, DELIMITER ',');

COPY (
    SELECT i.name, i.deprecated, i.fixable, w.start_capture, w.end_capture, w.start_pulls,
           w.end_pulls, w.downloads, w.flags
    FROM img i JOIN windows w ON w.name = i.name
    WHERE i.deprecated OR i.over
    ORDER BY w.downloads DESC NULLS LAST, i.name
) TO '${out_dir}/downloads.csv' (HEADER, DELIMITER ',');

COPY (
    SELECT name, coalesce(tag, '') AS tag, os, eol_date, trivy_eosl AS trivy_eosl_today,
           deprecated, fixable
    FROM img WHERE eol_at_snapshot ORDER BY name
) TO '${out_dir}/eol.csv' (HEADER, DELIMITER ',');

COPY (
    SELECT i.name, i.deprecated_since, count(*) AS snapshots_with_change,
           string_agg(CAST(h.snapshot AS VARCHAR), ';' ORDER BY h.snapshot) AS changed_in,
           strftime(i.last_updated, '%Y-%m-%dT%H:%M:%SZ') AS last_updated
    FROM img i JOIN (SELECT DISTINCT name, snapshot FROM history WHERE last_updated_changed) h
         ON h.name = i.name
    WHERE i.deprecated
    GROUP BY i.name, i.deprecated_since, i.last_updated
    ORDER BY i.name
) TO '${out_dir}/stale.csv' (HEADER, DELIMITER ',');

SELECT (SELECT count(*) FROM img) AS images, (SELECT count(*) FROM windows) AS windows;
