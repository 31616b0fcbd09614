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
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};

/// Writes one record batch to `path` (zstd). Equal batches give byte-equal files.
pub fn write_batch(path: &Path, batch: &RecordBatch) -> Result<u64> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_created_by(format!("hubaudit {}", env!("CARGO_PKG_VERSION")))
        .build();
    let ctx = || path.display().to_string();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(|e| Error::internal(ctx(), e))?;
    writer.write(batch).map_err(|e| write_error(path, e))?;
    writer.close().map_err(|e| write_error(path, e))?;
    Ok(batch.num_rows() as u64)
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

/// Builds a batch from columns in schema order.
pub fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns).map_err(|e| Error::internal("building a record batch", e))
}

/// A string column.
pub fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
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
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    Arc::new(
        values
            .map(|v| v.map(|d| (d - epoch).num_days() as i32))
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
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
        Ok((0..a.len())
            .map(|i| {
                a.is_valid(i)
                    .then(|| epoch + chrono::Duration::days(a.value(i) as i64))
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
