//! Reading one input table: its source files (a file, or a folder of files with hive-style
//! `key=value` partition folders), each scanned lazily with polars.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::{InputFormat, InputSpec};
use crate::domain::nir::is_nir_like_name;
use crate::error::{RecoursError, Result};

#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    /// Hive partition values from the folder names, e.g. `("mois", "2025-01")`.
    pub partitions: Vec<(String, String)>,
}

/// The files of a table, in byte order of their paths (so row numbers are reproducible).
/// A NIR-like file or folder name (the input's own name, or any name below it: partition
/// folders `key=value`, files) is a privacy stop, found as the names are listed, before
/// any is shown in a message or recorded anywhere (the manifest and its hash cache list
/// the files by name).
pub(crate) fn list_sources(input: &InputSpec) -> Result<Vec<SourceFile>> {
    let private = |path: &Path| {
        let name = path.file_name().map(|n| n.to_string_lossy());
        match name {
            Some(name) if is_nir_like_name(&name) => Err(RecoursError::Privacy {
                table: input.table.into(),
                column: "names (a file or folder name)".into(),
                count: 1,
            }),
            _ => Ok(()),
        }
    };
    let root = &input.path;
    private(root)?;
    if root.is_file() {
        return Ok(vec![SourceFile {
            path: root.clone(),
            partitions: vec![],
        }]);
    }
    let ext = match input.format {
        InputFormat::Parquet => "parquet",
        InputFormat::Csv => "csv",
    };
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    // Folders by their real path: one reached twice through a symbolic link (a loop, or a
    // second way to the same files) would read its rows twice, or without end.
    let mut seen = std::collections::BTreeSet::new();
    while let Some(dir) = stack.pop() {
        let real = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if !seen.insert(real) {
            return Err(RecoursError::Input {
                table: input.table.into(),
                message: format!(
                    "folder {} is reached twice through a symbolic link (a loop, or a second \
                     way to files already read): each file must be listed once",
                    dir.display()
                ),
            });
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| RecoursError::Input {
            table: input.table.into(),
            message: format!("cannot list {}: {e}", dir.display()),
        })?;
        for entry in entries {
            let path = entry
                .map_err(|e| RecoursError::Input {
                    table: input.table.into(),
                    message: e.to_string(),
                })?
                .path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if path.is_dir() {
                private(&path)?;
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                private(&path)?;
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(RecoursError::Input {
            table: input.table.into(),
            message: format!("folder {} holds no .{ext} file", root.display()),
        });
    }
    each_file_once(input, &files)?;
    Ok(files
        .into_iter()
        .map(|path| {
            let partitions = partitions_of(root, &path);
            SourceFile { path, partitions }
        })
        .collect())
}

/// Refuses two files of one table holding the same bytes: a file delivered twice (copied
/// under a second name or into a second partition) whose rows would all count twice (a
/// month's resources doubled), which no row check sees since two rows of one person,
/// month and nature are allowed (two employers). Only files of equal size are read.
fn each_file_once(input: &InputSpec, files: &[PathBuf]) -> Result<()> {
    let problem = |message: String| RecoursError::Input {
        table: input.table.into(),
        message,
    };
    let mut by_size: std::collections::BTreeMap<u64, Vec<&PathBuf>> = Default::default();
    for f in files {
        let size = std::fs::metadata(f)
            .map_err(|e| problem(format!("cannot read {}: {e}", f.display())))?
            .len();
        by_size.entry(size).or_default().push(f);
    }
    for same_size in by_size.values().filter(|v| v.len() > 1) {
        let mut seen = std::collections::BTreeMap::new();
        for f in same_size {
            let hash = std::fs::File::open(f)
                .and_then(|file| {
                    blake3::Hasher::new()
                        .update_reader(file)
                        .map(|h| h.finalize())
                })
                .map_err(|e| problem(format!("cannot read {}: {e}", f.display())))?;
            if let Some(first) = seen.insert(*hash.as_bytes(), f) {
                return Err(problem(format!(
                    "files {} and {} hold the same bytes: one file delivered twice, whose rows \
                     would count twice; remove the copy",
                    first.display(),
                    f.display()
                )));
            }
        }
    }
    Ok(())
}

fn partitions_of(root: &Path, file: &Path) -> Vec<(String, String)> {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.parent()
        .into_iter()
        .flat_map(|p| p.components())
        .filter_map(|c| {
            let s = c.as_os_str().to_string_lossy();
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// The first line of a reader's message, without the hints that follow it.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default().trim()
}

/// What to check when a CSV file does not split into the contract's columns, in French and
/// English (the people who edit the config may read either).
pub(crate) fn separator_hint(input: &InputSpec) -> String {
    let sep = input.separator as char;
    format!(
        "Vérifiez `separator` dans [inputs.{t}] de la configuration (lu avec '{sep}' ; \
         ',' ou ';') / check `separator` in [inputs.{t}] of the configuration (read with \
         '{sep}'; ',' or ';')",
        t = input.table
    )
}

fn path_ref(path: &Path) -> PlRefPath {
    PlRefPath::new(path.to_string_lossy().as_ref())
}

/// Reads one source file whole (every column: the privacy scan looks at all of them), with
/// the hive partition values added as text columns when the file does not carry them.
/// The file as polars reads it: Parquet as typed, CSV as text.
fn read_frame(input: &InputSpec, source: &SourceFile) -> PolarsResult<DataFrame> {
    let lf = match input.format {
        InputFormat::Parquet => {
            let args = ScanArgsParquet {
                hive_options: HiveOptions {
                    enabled: Some(false),
                    ..Default::default()
                },
                // The path is one listed file: `*`, `?` or `[` in its name are characters.
                glob: false,
                ..Default::default()
            };
            LazyFrame::scan_parquet(path_ref(&source.path), args)?
        }
        InputFormat::Csv => LazyCsvReader::new(path_ref(&source.path))
            .with_has_header(true)
            .with_separator(input.separator)
            .with_glob(false)
            // Every CSV column is read as text: the contract checks parse each value, so a
            // bad value is one rejected row, not a failed file.
            .with_infer_schema_length(Some(0))
            .finish()?,
    };
    lf.collect()
}

pub(crate) fn read_source(input: &InputSpec, source: &SourceFile) -> Result<DataFrame> {
    let fail = |e: PolarsError| RecoursError::Input {
        table: input.table.into(),
        message: match input.format {
            InputFormat::Parquet => {
                format!(
                    "file {} cannot be read as Parquet: {e}",
                    source.path.display()
                )
            }
            // Polars' own hints name its reader's options, which recours does not have:
            // the likely cause is the configured separator.
            InputFormat::Csv => format!(
                "file {} cannot be read as CSV ({}). {}",
                source.path.display(),
                first_line(&e.to_string()),
                separator_hint(input)
            ),
        },
    };
    // Polars panics on an Arrow type it was not built for (a `float16` column, …): such a
    // file is refused like any unreadable one (exit 3), naming the type, not a crash.
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_frame(input, source)));
    let mut df = match read {
        Ok(read) => read.map_err(fail)?,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a column type recours cannot read");
            return Err(RecoursError::Input {
                table: input.table.into(),
                message: format!(
                    "file {} cannot be read: {}",
                    source.path.display(),
                    first_line(why)
                ),
            });
        }
    };
    // Categories (a Parquet dictionary column, pandas' `category`) are their text: scanned
    // and checked as such.
    let categorical: Vec<Column> = df
        .columns()
        .iter()
        .filter(|c| c.dtype().is_categorical() || c.dtype().is_enum())
        .map(|c| c.cast(&DataType::String))
        .collect::<PolarsResult<_>>()
        .map_err(fail)?;
    for c in categorical {
        df.with_column(c).map_err(fail)?;
    }
    let height = df.height();
    for (key, value) in &source.partitions {
        if df.column(key).is_err() {
            let col = Column::new(key.as_str().into(), vec![value.as_str(); height]);
            df.with_column(col).map_err(fail)?;
        }
    }
    Ok(df)
}
