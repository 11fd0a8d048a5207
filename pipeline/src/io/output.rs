//! Every file recours writes goes through here: written under a temporary name in the
//! destination folder, flushed, then renamed, so that a failed run never leaves a
//! half-written file under its final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{RecoursError, Result};

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Write through `write` into a temporary file next to `path`, then rename it to `path`.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(RecoursError::io(format!(
            "creating folder {}",
            dir.display()
        )))?;
    }
    let tmp = temp_name(path);
    let file =
        File::create(&tmp).map_err(RecoursError::io(format!("creating {}", tmp.display())))?;
    let mut w = BufWriter::new(file);
    let result = write(&mut w).and_then(|_| {
        let file = w
            .into_inner()
            .map_err(|e| RecoursError::io(format!("writing {}", tmp.display()))(e.into_error()))?;
        file.sync_all()
            .map_err(RecoursError::io(format!("syncing {}", tmp.display())))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(RecoursError::io(format!(
        "renaming {} to {}",
        tmp.display(),
        path.display()
    )))
}

/// A copy of the file at `source`, its bytes as they are (the kernel copies them).
pub(crate) fn copy_file(source: &Path, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut from = File::open(source)
            .map_err(RecoursError::io(format!("opening {}", source.display())))?;
        std::io::copy(&mut from, w)
            .map(|_| ())
            .map_err(RecoursError::io(format!(
                "copying {} to {}",
                source.display(),
                path.display()
            )))
    })
}

/// A stage output: zstd at level 1, the fastest level (higher levels cost a noticeable share
/// of a run; LZ4 costs about as much CPU here and writes 80 % more bytes).
pub(crate) fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    let fast = polars_utils::compression::ZstdLevel::try_new(1)
        .map_err(RecoursError::polars("zstd level"))?;
    write_parquet_with(path, df, ParquetCompression::Zstd(Some(fast)))
}

/// A file that is kept and shipped (the generated extracts): zstd, the smaller.
pub(crate) fn write_parquet_compact(path: &Path, df: &mut DataFrame) -> Result<()> {
    write_parquet_with(path, df, ParquetCompression::Zstd(None))
}

fn write_parquet_with(
    path: &Path,
    df: &mut DataFrame,
    compression: ParquetCompression,
) -> Result<()> {
    write_atomic(path, |w| {
        ParquetWriter::new(w)
            .with_compression(compression)
            .with_statistics(StatisticsOptions::default())
            .finish(df)
            .map(|_| ())
            .map_err(RecoursError::polars(format!("writing {}", path.display())))
    })
}

/// CSV writer settings. `decimal_comma` goes with `;` (the French spreadsheet dialect).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CsvDialect {
    pub separator: u8,
    pub decimal_comma: bool,
}

pub(crate) fn write_csv(path: &Path, df: &mut DataFrame, dialect: CsvDialect) -> Result<()> {
    write_atomic(path, |w| {
        CsvWriter::new(w)
            .with_separator(dialect.separator)
            .with_decimal_comma(dialect.decimal_comma)
            .finish(df)
            .map_err(RecoursError::polars(format!("writing {}", path.display())))
    })
}

pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)
            .map_err(|e| RecoursError::Internal(format!("serialising {}: {e}", path.display())))?;
        w.write_all(b"\n")
            .map_err(RecoursError::io(format!("writing {}", path.display())))
    })
}

/// Rows per row group of the files written in batches, and rows per batch. 65 536 rows of
/// fifty numbers are 25 MB: the memory a batch takes is reused by the next, where larger
/// batches would each take fresh pages for the kernel to zero. Files are 0.3 % larger than
/// with one row group per 524 288 rows.
const ROW_GROUP: usize = 1 << 16;

/// A table of `rows` rows written as Parquet in batches of rows, `frame(range)` giving each
/// batch: the whole table is never converted to one DataFrame (at national scale that copy
/// would be the peak of the stages writing millions of rows).
pub(crate) fn write_parquet_in_batches(
    path: &Path,
    rows: usize,
    frame: impl Fn(std::ops::Range<usize>) -> Result<DataFrame> + Sync,
) -> Result<()> {
    const BATCH: usize = ROW_GROUP;
    let mut stream = ParquetStream::create(path)?;
    // Each batch is encoded and written while the next one is built (two batches at most in
    // memory); the file holds them in row order.
    let mut current = frame(0..BATCH.min(rows))?;
    let mut start = 0;
    loop {
        let end = (start + BATCH).min(rows);
        if end >= rows {
            stream.write(&current)?;
            break;
        }
        let next = end..(end + BATCH).min(rows);
        let (written, built) = rayon::join(|| stream.write(&current), || frame(next));
        written?;
        current = built?;
        start = end;
    }
    stream.finish().map(|_| ())
}

/// Folders made for files about to be written (outermost first), removed again when the
/// files are not kept: a run stopped by bad data leaves no empty folder behind.
#[derive(Default)]
pub(crate) struct MadeFolders(Vec<PathBuf>);

impl MadeFolders {
    /// Makes `dir` and those of its parents that are missing.
    pub fn make(dir: &Path) -> Result<MadeFolders> {
        let mut missing = vec![];
        let mut d = Some(dir);
        while let Some(m) = d.filter(|m| !m.as_os_str().is_empty() && !m.exists()) {
            missing.push(m.to_path_buf());
            d = m.parent();
        }
        missing.reverse();
        let mut made = MadeFolders::default();
        for m in missing {
            match std::fs::create_dir(&m) {
                Ok(()) => made.0.push(m),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    made.remove();
                    return Err(RecoursError::io(format!("creating folder {}", m.display()))(e));
                }
            }
        }
        Ok(made)
    }

    /// Removes the folders made, innermost first; a folder something else was written to
    /// stays.
    pub fn remove(&mut self) {
        for d in self.0.drain(..).rev() {
            let _ = std::fs::remove_dir(d);
        }
    }

    /// The folders stay.
    pub fn keep(&mut self) {
        self.0.clear();
    }
}

/// A Parquet file written in batches (a table too large to hold whole), under a temporary
/// name until [`ParquetStream::finish`] syncs and renames it. Nothing is created before the
/// first batch; dropped unfinished, the temporary file and the folders it created are
/// removed (a run stopped by bad data leaves nothing behind).
pub(crate) struct ParquetStream {
    path: PathBuf,
    tmp: PathBuf,
    /// Folders created for the file.
    created: MadeFolders,
    file: Option<File>,
    writer: Option<polars::io::parquet::write::BatchedWriter<File>>,
    rows: u64,
}

impl ParquetStream {
    pub fn create(path: &Path) -> Result<ParquetStream> {
        Ok(ParquetStream {
            path: path.to_path_buf(),
            tmp: temp_name(path),
            created: MadeFolders::default(),
            file: None,
            writer: None,
            rows: 0,
        })
    }

    /// Appends a batch (the first one creates the file and fixes the schema).
    pub fn write(&mut self, df: &DataFrame) -> Result<()> {
        if self.writer.is_none() {
            if let Some(dir) = self.path.parent() {
                self.created = MadeFolders::make(dir)?;
            }
            let file = File::create(&self.tmp)
                .map_err(RecoursError::io(format!("creating {}", self.tmp.display())))?;
            let handle = file
                .try_clone()
                .map_err(RecoursError::io(format!("opening {}", self.tmp.display())))?;
            self.file = Some(file);
            let fast = polars_utils::compression::ZstdLevel::try_new(1)
                .map_err(RecoursError::polars("zstd level"))?;
            let w = ParquetWriter::new(handle)
                .with_compression(ParquetCompression::Zstd(Some(fast)))
                .with_statistics(StatisticsOptions::default())
                .batched(df.schema())
                .map_err(RecoursError::polars(format!(
                    "writing {}",
                    self.path.display()
                )))?;
            self.writer = Some(w);
        }
        // One row group per batch: a large batch is cut into row groups of at most
        // `ROW_GROUP` rows (bounded memory for the writer and for readers of row groups),
        // cut again where any column's chunk ends, so that a frame whose columns come in
        // different chunkings is written without being copied whole into one chunk.
        let w = self.writer.as_mut().expect("writer created above");
        for (offset, len) in aligned_ranges(df, ROW_GROUP) {
            // A range can still start on an empty chunk (a filter that kept no row of a
            // chunk leaves one): polars' writer needs the columns' chunks aligned.
            let mut batch = df.slice(offset as i64, len);
            batch.align_chunks();
            w.write_batch(&batch).map_err(RecoursError::polars(format!(
                "writing {}",
                self.path.display()
            )))?;
        }
        self.rows += df.height() as u64;
        Ok(())
    }

    /// Writes the footer, syncs and renames; returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        let (Some(w), Some(file)) = (self.writer.take(), self.file.take()) else {
            return Err(RecoursError::Internal(format!(
                "{}: no batch was written",
                self.path.display()
            )));
        };
        w.finish().map_err(RecoursError::polars(format!(
            "writing {}",
            self.path.display()
        )))?;
        drop(w);
        file.sync_all()
            .map_err(RecoursError::io(format!("syncing {}", self.tmp.display())))?;
        std::fs::rename(&self.tmp, &self.path).map_err(RecoursError::io(format!(
            "renaming {} to {}",
            self.tmp.display(),
            self.path.display()
        )))?;
        self.created.keep();
        Ok(self.rows)
    }
}

/// `(offset, length)` ranges covering `df`'s rows in order, each at most `max` rows long and
/// within one chunk of every column.
fn aligned_ranges(df: &DataFrame, max: usize) -> Vec<(usize, usize)> {
    let mut cuts = vec![0, df.height()];
    for c in df.columns() {
        if let Some(s) = c.as_series().filter(|s| s.n_chunks() > 1) {
            cuts.extend(s.chunk_lengths().scan(0, |end, len| {
                *end += len;
                Some(*end)
            }));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut ranges = Vec::new();
    for pair in cuts.windows(2) {
        let mut offset = pair[0];
        while offset < pair[1] {
            let len = max.min(pair[1] - offset);
            ranges.push((offset, len));
            offset += len;
        }
    }
    ranges
}

impl Drop for ParquetStream {
    fn drop(&mut self) {
        self.writer.take();
        self.file.take();
        if self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        self.created.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: i32) -> DataFrame {
        DataFrame::new_infer_height(vec![Column::new("x".into(), (0..n).collect::<Vec<_>>())])
            .unwrap()
    }

    #[test]
    fn a_frame_is_cut_where_any_column_changes_chunk() {
        let mut two = Series::new("a".into(), [1i32, 2, 3]);
        two.append(&Series::new("a".into(), [4i32, 5, 6, 7]))
            .unwrap();
        let mut three = Series::new("b".into(), [1.0f64]);
        three.append(&Series::new("b".into(), [2.0f64; 4])).unwrap();
        three.append(&Series::new("b".into(), [3.0f64; 2])).unwrap();
        let one = Series::new("c".into(), ["x"; 7]);
        let df = DataFrame::new_infer_height(vec![two.into(), three.into(), one.into()]).unwrap();
        assert_eq!(
            aligned_ranges(&df, 2),
            vec![(0, 1), (1, 2), (3, 2), (5, 2)],
            "cuts at 1 (b), 3 (a), 5 (b) and every 2 rows"
        );
        assert_eq!(
            aligned_ranges(&df, 100),
            vec![(0, 1), (1, 2), (3, 2), (5, 2)]
        );
        assert_eq!(aligned_ranges(&frame(5), 2), vec![(0, 2), (2, 2), (4, 1)]);
        assert_eq!(aligned_ranges(&frame(0), 2), vec![]);

        // A filter that keeps no row of a chunk leaves an empty chunk behind.
        let keep = BooleanChunked::from_iter_values(
            "keep".into(),
            [false, true, false, false, true, true, true].into_iter(),
        );
        let filtered = df.filter(&keep).unwrap();
        let keep = BooleanChunked::from_iter_values(
            "keep".into(),
            [true, false, false, false, false, true, true].into_iter(),
        );
        let df2 = DataFrame::new_infer_height(vec![
            {
                let mut a = Series::new("a".into(), [1i32, 2, 3]);
                a.append(&Series::new("a".into(), [4i32, 5, 6, 7])).unwrap();
                a.filter(&keep).unwrap().into()
            },
            Series::new("c".into(), [1.0f64, 6.0, 7.0]).into(),
        ])
        .unwrap();

        // Written as they are, read back whole.
        for (i, frame) in [filtered, df2].into_iter().enumerate() {
            let dir =
                std::env::temp_dir().join(format!("recours-empty-{}-{i}", std::process::id()));
            let path = dir.join("t.parquet");
            let mut s = ParquetStream::create(&path).unwrap();
            s.write(&frame).unwrap();
            assert_eq!(s.finish().unwrap(), frame.height() as u64);
            let back = crate::io::frame::read_parquet(&path).unwrap();
            assert!(back.equals(&frame));
            std::fs::remove_dir_all(&dir).unwrap();
        }

        // Written as it is, read back whole.
        let dir = std::env::temp_dir().join(format!("recours-aligned-{}", std::process::id()));
        let path = dir.join("t.parquet");
        let mut s = ParquetStream::create(&path).unwrap();
        s.write(&df).unwrap();
        assert_eq!(s.finish().unwrap(), 7);
        let back = crate::io::frame::read_parquet(&path).unwrap();
        assert!(back.equals(&df));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stream_reaches_its_name_only_when_finished() {
        let dir = std::env::temp_dir().join(format!("recours-stream-{}", std::process::id()));
        let path = dir.join("a").join("b").join("t.parquet");
        let mut s = ParquetStream::create(&path).unwrap();
        assert!(!dir.exists(), "nothing before the first batch");
        s.write(&frame(3)).unwrap();
        s.write(&frame(0)).unwrap();
        s.write(&frame(4)).unwrap();
        assert!(!path.exists());
        assert_eq!(s.finish().unwrap(), 7);
        let back = crate::io::frame::read_parquet(&path).unwrap();
        assert_eq!(back.height(), 7);

        // Dropped unfinished: the temporary file and the folders made for it go.
        let other = dir.join("c").join("d").join("t.parquet");
        let mut s = ParquetStream::create(&other).unwrap();
        s.write(&frame(2)).unwrap();
        assert!(dir.join("c").exists());
        drop(s);
        assert!(!dir.join("c").exists());
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
