//! polars frames in and out of partitions.
//!
//! Reading: a lazy scan of one verified partition ([`scan`]), or one plan over every snapshot
//! of a dataset up to a date with the snapshot as a `snapshot` Date column ([`scan_history`]),
//! so a table that needs history reads it in one plan instead of partition by partition.
//!
//! Writing: frames go through the catalog's Arrow schema **by column name** ([`to_batch`]): a
//! frame column that is missing, has another type or holds nulls where the schema forbids
//! them is an internal error naming the column, never a silently shifted column. Large plans
//! are written while they stream ([`sink`]): polars hands over chunks, each becomes an Arrow
//! batch for the one Parquet writer of `io::parquet`, so memory stays flat.

use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType as ArrowType, SchemaRef, TimeUnit as ArrowUnit};
use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;

use crate::catalog::{self, Dataset};
use crate::error::{Error, Result};
use crate::io::parquet as pq;

/// A Date literal.
pub fn date_lit(d: NaiveDate) -> Expr {
    lit(crate::dates::epoch_days(d)).cast(DataType::Date)
}

/// A Date literal that may be null.
pub fn opt_date_lit(d: Option<NaiveDate>) -> Expr {
    match d {
        Some(d) => date_lit(d),
        None => lit(NULL).cast(DataType::Date),
    }
}

/// A lazy scan of the verified data files of `ds` at `snapshot` (size and sha256 checked
/// against their manifests first): the whole partition's file, or every part of a sharded one.
pub fn scan(root: &Path, ds: &Dataset, snapshot: NaiveDate) -> Result<LazyFrame> {
    let files = crate::io::partition::verified_files(root, ds, snapshot)?;
    if let [one] = files.as_slice() {
        return scan_file(one);
    }
    let parts = files
        .iter()
        .map(|f| scan_file(f))
        .collect::<Result<Vec<_>>>()?;
    let dir = catalog::partition_dir(root, ds, snapshot);
    concat(parts, UnionArgs::default()).map_err(|e| Error::data(dir.display().to_string(), e))
}

fn scan_file(path: &Path) -> Result<LazyFrame> {
    let ctx = path.display().to_string();
    let pl_path = PlRefPath::try_from_path(path).map_err(|e| Error::data(&ctx, e))?;
    LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default()).map_err(|e| Error::data(&ctx, e))
}

/// One plan over every snapshot of `ds` on or before `until` (all when None), each partition
/// verified, with its date as a `snapshot` Date column; None when there is none.
pub fn scan_history(
    root: &Path,
    ds: &Dataset,
    until: Option<NaiveDate>,
) -> Result<Option<LazyFrame>> {
    let dates: Vec<NaiveDate> = catalog::snapshots(root, ds)?
        .into_iter()
        .filter(|d| until.is_none_or(|u| *d <= u))
        .collect();
    let parts = dates
        .iter()
        .map(|d| Ok(scan(root, ds, *d)?.with_column(date_lit(*d).alias("snapshot"))))
        .collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Ok(None);
    }
    let all = concat(parts, UnionArgs::default())
        .map_err(|e| Error::data(catalog::dataset_dir(root, ds).display().to_string(), e))?;
    Ok(Some(all))
}

/// An empty frame with the columns of `schema` (a dataset with no partition to read: its
/// plans then run as they would over a partition without rows).
pub fn empty(schema: &SchemaRef) -> LazyFrame {
    let columns = schema
        .fields()
        .iter()
        .map(|f| Column::new_empty(f.name().as_str().into(), &polars_type(f.data_type())))
        .collect();
    DataFrame::new_infer_height(columns)
        .expect("empty columns of distinct names")
        .lazy()
}

/// The polars type a catalog column reads as.
fn polars_type(t: &ArrowType) -> DataType {
    match t {
        ArrowType::Int64 => DataType::Int64,
        ArrowType::Boolean => DataType::Boolean,
        ArrowType::Date32 => DataType::Date,
        ArrowType::Timestamp(_, _) => {
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        }
        ArrowType::List(_) => DataType::List(Box::new(DataType::String)),
        _ => DataType::String,
    }
}

/// Collects a plan; errors name `context` (the dataset or file read).
pub fn collect(lf: LazyFrame, context: &str) -> Result<DataFrame> {
    lf.collect().map_err(|e| Error::data(context, e))
}

/// Converts a frame to an Arrow batch of `schema`, column by column **by name**; extra frame
/// columns are ignored. A missing column, a type polars cannot cast to the schema's, or a null
/// in a non-nullable column is an internal error naming the column.
pub fn to_batch(df: &DataFrame, schema: &SchemaRef) -> Result<RecordBatch> {
    if df.width() == 0 {
        // no plan ran (nothing to join): an empty table of the schema
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    // a column per task: the conversion copies every value once
    let fields: Vec<_> = schema.fields().iter().collect();
    let columns = fields
        .par_iter()
        .map(|f| {
            let err = |e: PolarsError| {
                Error::internal(format!("column {:?} of a frame to write", f.name()), e)
            };
            let c = df.column(f.name()).map_err(err)?;
            to_array(c.as_materialized_series(), f.data_type()).map_err(err)
        })
        .collect::<Result<Vec<_>>>()?;
    pq::batch(schema.clone(), columns)
}

fn to_array(s: &Series, to: &ArrowType) -> PolarsResult<ArrayRef> {
    Ok(match to {
        ArrowType::Utf8 => {
            let s = s.cast(&DataType::String)?;
            Arc::new(s.str()?.iter().collect::<StringArray>())
        }
        ArrowType::Int64 => {
            let s = s.cast(&DataType::Int64)?;
            Arc::new(s.i64()?.iter().collect::<Int64Array>())
        }
        ArrowType::Boolean => Arc::new(s.bool()?.iter().collect::<BooleanArray>()),
        ArrowType::Date32 => {
            let s = s.cast(&DataType::Date)?.cast(&DataType::Int32)?;
            Arc::new(s.i32()?.iter().collect::<Date32Array>())
        }
        ArrowType::Timestamp(ArrowUnit::Microsecond, tz) => {
            let s = s
                .cast(&DataType::Datetime(
                    TimeUnit::Microseconds,
                    Some(TimeZone::UTC),
                ))?
                .cast(&DataType::Int64)?;
            let a = s.i64()?.iter().collect::<TimestampMicrosecondArray>();
            Arc::new(match tz {
                Some(tz) => a.with_timezone(tz.as_ref()),
                None => a,
            })
        }
        ArrowType::List(item) if item.data_type() == &ArrowType::Utf8 => {
            let s = s.cast(&DataType::List(Box::new(DataType::String)))?;
            let mut b = ListBuilder::new(StringBuilder::new());
            let lists = s.list()?;
            for k in 0..lists.len() {
                match lists.get_as_series(k) {
                    Some(values) => {
                        for v in values.str()?.iter() {
                            b.values().append_option(v);
                        }
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        other => polars_bail!(ComputeError: "no conversion to Arrow {other:?}"),
    })
}

/// Writes a collected frame as the data file `path` with `schema`. Returns the rows written.
pub fn write_frame(path: &Path, df: &DataFrame, schema: &SchemaRef) -> Result<u64> {
    pq::write_batch(path, &to_batch(df, schema)?)
}

/// Runs `lf` on polars' streaming engine and writes its rows to `path` with `schema` as the
/// chunks arrive (in the plan's order), so the whole result is never held in memory. Returns
/// the rows written; a failing plan is bad data of `input` (what the plan reads).
///
/// The chunks go to a writer thread through a short queue: polars reads, joins and gathers
/// the next chunks while the writer converts and encodes the last ones, instead of waiting
/// for each chunk to be written.
pub fn sink(path: &Path, lf: LazyFrame, schema: &SchemaRef, input: &str) -> Result<u64> {
    sink_map(path, lf, schema, input, Ok)
}

/// [`sink`], with `each` applied to every chunk in the writer thread before it is written
/// (to drop rows and note what was dropped, say).
pub fn sink_map(
    path: &Path,
    lf: LazyFrame,
    schema: &SchemaRef,
    input: &str,
    mut each: impl FnMut(DataFrame) -> Result<DataFrame> + Send + 'static,
) -> Result<u64> {
    let mut writer = pq::Writer::create(path, schema)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(2);
    let s = schema.clone();
    let written = std::thread::spawn(move || -> Result<u64> {
        for df in rx {
            writer.write(&to_batch(&each(df)?, &s)?)?;
        }
        writer.close()
    });
    let sender = Arc::new(Mutex::new(Some(tx)));
    let queue = sender.clone();
    let callback = PlanCallback::new(move |df: DataFrame| {
        // a closed queue means the writer failed: no more chunks wanted
        let queue = queue.lock().expect("only locked here");
        Ok(queue.as_ref().is_none_or(|tx| tx.send(df).is_err()))
    });
    let run = lf
        .sink_batches(callback, true, std::num::NonZeroUsize::new(64 * 1024))
        .and_then(|lf| lf.collect_with_engine(Engine::Streaming));
    // the plan is done: closing the queue lets the writer finish
    sender.lock().expect("only locked here").take();
    let rows = written
        .join()
        .map_err(|_| Error::internal(path.display().to_string(), "the writer thread panicked"))?;
    run.map_err(|e| Error::data(input, e))?;
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn columns_are_taken_by_name_not_position() {
        // the frame lists the columns in another order than the schema
        let df = df!(
            "reason" => ["why"],
            "name" => ["nginx"],
            "table" => ["scans"],
        )
        .unwrap();
        let b = to_batch(&df, &catalog::rejects_schema()).unwrap();
        let c = pq::Columns::new(&b, "test");
        assert_eq!(c.strings("table").unwrap(), vec![Some("scans".to_string())]);
        assert_eq!(c.strings("reason").unwrap(), vec![Some("why".to_string())]);
    }

    #[test]
    fn a_missing_column_or_a_null_where_forbidden_is_named() {
        let df = df!("name" => ["nginx"], "table" => ["scans"]).unwrap();
        let e = to_batch(&df, &catalog::rejects_schema()).unwrap_err();
        assert!(e.to_string().contains("\"reason\""), "{e}");
        let df = df!(
            "name" => [Some("nginx"), None],
            "table" => ["scans", "scans"],
            "reason" => ["a", "b"],
        )
        .unwrap();
        assert!(to_batch(&df, &catalog::rejects_schema()).is_err());
    }

    #[test]
    fn dates_timestamps_and_lists_keep_their_values() {
        let d = NaiveDate::from_ymd_opt(2021, 8, 10).unwrap();
        let df = df!("name" => ["a", "b"])
            .unwrap()
            .lazy()
            .with_columns([
                date_lit(d).alias("since"),
                lit(1_628_553_600_000_000i64)
                    .cast(DataType::Datetime(
                        TimeUnit::Microseconds,
                        Some(TimeZone::UTC),
                    ))
                    .alias("at"),
                concat_list([lit("x"), lit("y")]).unwrap().alias("targets"),
            ])
            .collect()
            .unwrap();
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("since", ArrowType::Date32, true),
            arrow_schema::Field::new(
                "at",
                ArrowType::Timestamp(ArrowUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            arrow_schema::Field::new(
                "targets",
                ArrowType::List(Arc::new(arrow_schema::Field::new(
                    "item",
                    ArrowType::Utf8,
                    true,
                ))),
                false,
            ),
        ]));
        let b = to_batch(&df, &schema).unwrap();
        let c = pq::Columns::new(&b, "test");
        assert_eq!(c.dates("since").unwrap(), vec![Some(d), Some(d)]);
        assert_eq!(
            c.timestamps("at").unwrap()[0].unwrap().to_rfc3339(),
            "2021-08-10T00:00:00+00:00"
        );
        assert_eq!(
            c.string_lists("targets").unwrap()[1],
            vec!["x".to_string(), "y".to_string()]
        );
    }

    #[test]
    fn a_streamed_plan_writes_every_row_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let n = 200_000usize;
        let names: Vec<String> = (0..n).map(|i| format!("img-{i:06}")).collect();
        let df = df!(
            "table" => vec!["t"; n],
            "name" => names.clone(),
            "reason" => vec!["r"; n],
        )
        .unwrap();
        let rows = sink(&path, df.lazy(), &catalog::rejects_schema(), "test").unwrap();
        assert_eq!(rows, n as u64);
        let b = pq::read_batch(&path, &catalog::rejects_schema()).unwrap();
        let got = pq::Columns::new(&b, "t").strings("name").unwrap();
        assert_eq!(got.len(), n);
        assert!(got.iter().zip(&names).all(|(a, b)| a.as_deref() == Some(b)));
        // row groups of ROW_GROUP_ROWS, so that readers stream it
        let file = std::fs::File::open(&path).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(
            &parquet::file::reader::SerializedFileReader::new(file).unwrap(),
        )
        .clone();
        assert_eq!(meta.num_row_groups(), n.div_ceil(pq::ROW_GROUP_ROWS));
    }
}
