//! Parquet files through arrow-rs: one writer (zstd, deterministic bytes) and one reader,
//! plus column helpers for turning plain rows into Arrow arrays and back.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Writes one record batch to `path` (zstd). Equal batches give byte-equal files.
pub fn write_batch(path: &Path, batch: &RecordBatch) -> Result<u64> {
    let mut w = Writer::create(path, &batch.schema())?;
    w.write(batch)?;
    w.close()
}

/// Rows per Parquet row group: readers that stream (polars, DuckDB, pyarrow) hold about one
/// row group per thread, so a mart of millions of findings reads in flat memory and in
/// parallel. Tables of fewer rows (the sample world's) are one row group, as before.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The one Parquet writer (zstd level 3, hubaudit as `created_by`), fed batch by batch.
///
/// Rows go into row groups of [`ROW_GROUP_ROWS`]. Every batch is encoded as it comes, a
/// column per task (rayon), into the open row group's column writers; a full row group is
/// closed (its chunks appended in schema order) and the next one opened. The bytes are those
/// `ArrowWriter` writes serially when fed the same batches: the same column writers, the
/// same properties, the same embedded Arrow schema.
pub struct Writer {
    path: std::path::PathBuf,
    schema: SchemaRef,
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    /// The open row group's column writers (one per leaf column) and its rows so far.
    open: Option<(Vec<ArrowColumnWriter>, usize)>,
    row_groups: usize,
    rows: u64,
}

impl Writer {
    /// Creates `path` for rows of `schema`.
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<Writer> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_created_by(format!("hubaudit {}", env!("CARGO_PKG_VERSION")))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| write_error(path, e))?;
        Ok(Writer {
            path: path.to_path_buf(),
            schema: schema.clone(),
            file,
            factory,
            open: None,
            row_groups: 0,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let (writers, rows) = match self.open.take() {
                Some(open) => open,
                None => (
                    self.factory
                        .create_column_writers(self.row_groups)
                        .map_err(|e| write_error(&self.path, e))?,
                    0,
                ),
            };
            let take = (ROW_GROUP_ROWS - rows).min(batch.num_rows() - offset);
            let writers = self.encode(writers, &batch.slice(offset, take))?;
            offset += take;
            self.open = Some((writers, rows + take));
            if rows + take == ROW_GROUP_ROWS {
                self.close_row_group()?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Encodes `batch` into the open row group, a column per task.
    fn encode(
        &self,
        writers: Vec<ArrowColumnWriter>,
        batch: &RecordBatch,
    ) -> Result<Vec<ArrowColumnWriter>> {
        let mut leaves = Vec::with_capacity(writers.len());
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column).map_err(|e| write_error(&self.path, e))?);
        }
        writers
            .into_par_iter()
            .zip(leaves.into_par_iter())
            .map(|(mut w, leaf)| w.write(&leaf).map(|()| w))
            .collect::<parquet::errors::Result<Vec<_>>>()
            .map_err(|e| write_error(&self.path, e))
    }

    /// Closes the open row group: its column chunks finish in parallel and are appended in
    /// schema order.
    fn close_row_group(&mut self) -> Result<()> {
        let Some((writers, _)) = self.open.take() else {
            return Ok(());
        };
        let chunks = writers
            .into_par_iter()
            .map(|w| w.close())
            .collect::<parquet::errors::Result<Vec<_>>>()
            .map_err(|e| write_error(&self.path, e))?;
        let mut rg = self
            .file
            .next_row_group()
            .map_err(|e| write_error(&self.path, e))?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut rg)
                .map_err(|e| write_error(&self.path, e))?;
        }
        rg.close().map_err(|e| write_error(&self.path, e))?;
        self.row_groups += 1;
        Ok(())
    }

    /// Finishes the file; returns the rows written.
    pub fn close(mut self) -> Result<u64> {
        self.close_row_group()?;
        self.file.close().map_err(|e| write_error(&self.path, e))?;
        Ok(self.rows)
    }
}

/// A failed Parquet write: an I/O error (a full disk) keeps its kind, so it says "No space
/// left on device" and exits 5 like any local I/O error; anything else is a bug.
fn write_error(path: &Path, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => Error::io(path, *io),
                Err(other) => Error::internal(path.display().to_string(), other),
            }
        }
        other => Error::internal(path.display().to_string(), other),
    }
}

/// Reads a whole Parquet file into one batch, checking it has the expected columns.
pub fn read_batch(path: &Path, expected: &SchemaRef) -> Result<RecordBatch> {
    let ctx = || path.display().to_string();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::data(ctx(), format!("not a readable Parquet file ({e})")))?
        .build()
        .map_err(|e| Error::data(ctx(), e))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| Error::data(ctx(), e))?);
    }
    let batch = match batches.first() {
        None => RecordBatch::new_empty(expected.clone()),
        Some(first) => arrow_select::concat::concat_batches(&first.schema(), &batches)
            .map_err(|e| Error::data(ctx(), e))?,
    };
    for field in expected.fields() {
        if batch.schema().field_with_name(field.name()).is_err() {
            return Err(Error::data(
                ctx(),
                format!(
                    "column {:?} is missing; was the file written by an older hubaudit?",
                    field.name()
                ),
            ));
        }
    }
    Ok(batch)
}

/// Builds a batch from columns in schema order (for columns that come from another batch
/// or frame already checked by name; writers of rows use [`named`]).
pub fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).map_err(|e| Error::internal("building a record batch", e))
}

/// Builds a batch of `schema` from columns given **by name**, in any order: every column of
/// the schema must be given exactly once and nothing else, and each must have its type and
/// nullability, or it is an internal error naming the column. A column written under the
/// wrong name cannot slip into another column's place.
pub fn named(schema: SchemaRef, columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let bad = |m: String| Error::internal("building a record batch by column name", m);
    let mut by_name: std::collections::HashMap<&str, ArrayRef> = std::collections::HashMap::new();
    for (name, column) in columns {
        if schema.field_with_name(name).is_err() {
            return Err(bad(format!("column {name:?} is not in the schema")));
        }
        if by_name.insert(name, column).is_some() {
            return Err(bad(format!("column {name:?} is given twice")));
        }
    }
    let ordered = schema
        .fields()
        .iter()
        .map(|f| {
            let c = by_name
                .remove(f.name().as_str())
                .ok_or_else(|| bad(format!("column {:?} is missing", f.name())))?;
            if c.data_type() != f.data_type() {
                return Err(bad(format!(
                    "column {:?} is {:?}, the schema says {:?}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                )));
            }
            if !f.is_nullable() && c.null_count() > 0 {
                return Err(bad(format!(
                    "column {:?} has {} null(s) but is not nullable",
                    f.name(),
                    c.null_count()
                )));
            }
            Ok(c)
        })
        .collect::<Result<Vec<_>>>()?;
    batch(schema, ordered)
}

/// A string column.
pub fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// A string column from owned values.
pub fn strings_owned(values: impl Iterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// An Int64 column.
pub fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<Int64Array>())
}

/// A Boolean column.
pub fn bools(values: impl Iterator<Item = bool>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<BooleanArray>())
}

/// A Boolean column with nulls.
pub fn opt_bools(values: impl Iterator<Item = Option<bool>>) -> ArrayRef {
    Arc::new(values.collect::<BooleanArray>())
}

/// A Date32 column.
pub fn dates(values: impl Iterator<Item = Option<chrono::NaiveDate>>) -> ArrayRef {
    Arc::new(
        values
            .map(|v| v.map(crate::dates::epoch_days))
            .collect::<arrow_array::Date32Array>(),
    )
}

/// A UTC timestamp column (microseconds).
pub fn timestamps(values: impl Iterator<Item = Option<DateTime<Utc>>>) -> ArrayRef {
    Arc::new(
        values
            .map(|v| v.map(|t| t.timestamp_micros()))
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

/// A list-of-strings column.
pub fn string_lists<'a>(values: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for list in values {
        for s in list {
            b.values().append_value(s);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Typed access to the columns of a batch read back, with errors naming the column.
pub struct Columns<'a> {
    batch: &'a RecordBatch,
    context: String,
}

impl<'a> Columns<'a> {
    /// Wraps a batch; `context` names the file in errors.
    pub fn new(batch: &'a RecordBatch, context: impl Into<String>) -> Self {
        Columns {
            batch,
            context: context.into(),
        }
    }

    fn get<T: 'static>(&self, name: &str) -> Result<&'a T> {
        self.batch
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>())
            .ok_or_else(|| {
                Error::data(
                    &self.context,
                    format!("column {name:?} is missing or has another type"),
                )
            })
    }

    /// String values.
    pub fn strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        let a: &StringArray = self.get(name)?;
        Ok((0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
            .collect())
    }

    /// Int64 values.
    pub fn ints(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let a: &Int64Array = self.get(name)?;
        Ok((0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i)))
            .collect())
    }

    /// Boolean values (nulls read as false).
    pub fn bools(&self, name: &str) -> Result<Vec<bool>> {
        let a: &BooleanArray = self.get(name)?;
        Ok((0..a.len()).map(|i| a.is_valid(i) && a.value(i)).collect())
    }

    /// Booleans with nulls.
    pub fn opt_bools(&self, name: &str) -> Result<Vec<Option<bool>>> {
        let a: &BooleanArray = self.get(name)?;
        Ok((0..a.len())
            .map(|i| a.is_valid(i).then(|| a.value(i)))
            .collect())
    }

    /// Dates.
    pub fn dates(&self, name: &str) -> Result<Vec<Option<chrono::NaiveDate>>> {
        let a: &arrow_array::Date32Array = self.get(name)?;
        Ok((0..a.len())
            .map(|i| {
                a.is_valid(i)
                    .then(|| crate::dates::from_epoch_days(a.value(i)))
            })
            .collect())
    }

    /// UTC timestamps.
    pub fn timestamps(&self, name: &str) -> Result<Vec<Option<DateTime<Utc>>>> {
        let a: &TimestampMicrosecondArray = self.get(name)?;
        Ok((0..a.len())
            .map(|i| {
                a.is_valid(i)
                    .then(|| DateTime::from_timestamp_micros(a.value(i)))
                    .flatten()
            })
            .collect())
    }

    /// Lists of strings.
    pub fn string_lists(&self, name: &str) -> Result<Vec<Vec<String>>> {
        let a: &ListArray = self.get(name)?;
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            if a.is_null(i) {
                out.push(Vec::new());
                continue;
            }
            let values = a.value(i);
            let s = values
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    Error::data(
                        &self.context,
                        format!("column {name:?} is not a list of strings"),
                    )
                })?;
            out.push(
                (0..s.len())
                    .filter(|j| s.is_valid(*j))
                    .map(|j| s.value(j).to_string())
                    .collect(),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    fn reject_columns(names: [&str; 3]) -> Vec<(&str, ArrayRef)> {
        names
            .into_iter()
            .map(|n| (n, strings([Some(n)].into_iter())))
            .collect()
    }

    #[test]
    fn named_columns_land_in_schema_order_whatever_order_they_are_given_in() {
        let b = named(
            catalog::rejects_schema(),
            reject_columns(["reason", "table", "name"]),
        )
        .unwrap();
        let c = Columns::new(&b, "t");
        for n in ["table", "name", "reason"] {
            assert_eq!(c.strings(n).unwrap(), vec![Some(n.to_string())]);
        }
    }

    #[test]
    fn a_missing_unknown_doubled_mistyped_or_null_column_is_named() {
        let schema = catalog::rejects_schema();
        let err = |cols| named(schema.clone(), cols).unwrap_err().to_string();
        assert!(err(reject_columns(["table", "name", "name"])).contains("\"name\" is given twice"));
        assert!(
            err(reject_columns(["table", "name", "why"])).contains("\"why\" is not in the schema")
        );
        let mut two = reject_columns(["table", "name", "reason"]);
        two.pop();
        assert!(err(two).contains("\"reason\" is missing"));
        let mut typed = reject_columns(["table", "name", "reason"]);
        typed[2].1 = ints([Some(1)].into_iter());
        assert!(err(typed).contains("\"reason\" is Int64"));
        let mut null = reject_columns(["table", "name", "reason"]);
        null[1].1 = strings([None].into_iter());
        assert!(err(null).contains("\"name\" has 1 null(s)"));
    }

    #[test]
    fn every_staged_writer_builds_its_batch_by_name() {
        use crate::tables::{self, RepoRow, ScanRow};
        let scan = ScanRow {
            name: "nginx".into(),
            counts: Some([1, 0, 1, 0, 0, 0]),
            fixable_counts: Some([1, 0, 1, 0, 0, 0]),
            ..ScanRow::default()
        };
        tables::repositories_batch(&[RepoRow::default()]).unwrap();
        let b = tables::scans_batch(std::slice::from_ref(&scan)).unwrap();
        let back = tables::scans_from(&b, "t").unwrap();
        assert_eq!(back, vec![scan.clone()]);
        tables::findings_batch(&[(scan, vec![])]).unwrap();
    }

    #[test]
    fn the_parallel_writer_writes_the_bytes_the_serial_arrow_writer_writes() {
        let n = 2 * ROW_GROUP_ROWS + 17;
        let name = |i: usize| format!("img-{:06}", i % 977);
        let names: Vec<String> = (0..n).map(name).collect();
        let batch = named(
            catalog::rejects_schema(),
            vec![
                ("table", strings((0..n).map(|_| Some("findings")))),
                ("name", strings(names.iter().map(|s| Some(s.as_str())))),
                (
                    "reason",
                    strings((0..n).map(|i| Some(if i % 3 == 0 { "a" } else { "bb" }))),
                ),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.parquet");
        // fed in uneven pieces, as a streaming plan hands them over, and the serial writer
        // the same pieces
        let pieces = [1000, 70_000, 200_000, n];
        let mut w = Writer::create(&ours, &batch.schema()).unwrap();
        let mut at = 0;
        for piece in pieces {
            let take = piece.min(n - at);
            w.write(&batch.slice(at, take)).unwrap();
            at += take;
        }
        assert_eq!(w.close().unwrap(), n as u64);
        let serial = dir.path().join("serial.parquet");
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
            .set_created_by(format!("hubaudit {}", env!("CARGO_PKG_VERSION")))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let mut a =
            ArrowWriter::try_new(File::create(&serial).unwrap(), batch.schema(), Some(props))
                .unwrap();
        let mut at = 0;
        for piece in pieces {
            let take = piece.min(n - at);
            a.write(&batch.slice(at, take)).unwrap();
            at += take;
        }
        a.close().unwrap();
        assert!(std::fs::read(&ours).unwrap() == std::fs::read(&serial).unwrap());
    }
}
