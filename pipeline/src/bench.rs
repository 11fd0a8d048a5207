//! `recours bench-fit`: fit time of the logistic solver on a synthetic design matrix, side
//! by side with scikit-learn on the same data when a Python with scikit-learn is given.
//! Performance is measured here, never in a timed test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use recours_models::logistic::{self, SolverSettings};

use crate::error::{RecoursError, Result};
use crate::tables::run_folder::RunFolder;

pub struct BenchFit {
    pub rows: usize,
    pub features: usize,
    pub seed: u64,
    pub alpha: f64,
    pub python: Option<PathBuf>,
    pub work_dir: PathBuf,
}

/// A design matrix like the models' (standardised features, two correlated, some binary)
/// with about 8 % positives.
pub fn design(rows: usize, p: usize, seed: u64) -> (Array2<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let beta: Vec<f64> = (0..p)
        .map(|j| {
            if j % 3 == 0 {
                0.0
            } else {
                rng.gen_range(-0.8..0.8)
            }
        })
        .collect();
    let mut x = Array2::<f64>::zeros((rows, p));
    let mut y = vec![0.0; rows];
    for i in 0..rows {
        let mut z = -3.0;
        for j in 0..p {
            let v: f64 = if j % 5 == 4 {
                f64::from(u8::from(rng.gen_bool(0.3)))
            } else if j == 1 {
                0.6 * x[[i, 0]] + 0.8 * rng.sample::<f64, _>(StandardNormal)
            } else {
                StandardNormal.sample(&mut rng)
            };
            x[[i, j]] = v;
            z += beta[j] * v;
        }
        y[i] = f64::from(u8::from(
            rng.r#gen::<f64>() < recours_models::calibration::sigmoid(z),
        ));
    }
    (x, y)
}

fn write_npy(path: &Path, shape: &[usize], data: impl Iterator<Item = f64>) -> Result<()> {
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        [n, p] => format!("({n}, {p})"),
        _ => unreachable!("1 or 2 dimensions"),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // The header is padded so that the data starts on a multiple of 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).map_err(RecoursError::io(path.display().to_string()))?,
    );
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    f.write_all(&bytes)
        .map_err(RecoursError::io(path.display().to_string()))?;
    for v in data {
        f.write_all(&v.to_le_bytes())
            .map_err(RecoursError::io(path.display().to_string()))?;
    }
    f.flush()
        .map_err(RecoursError::io(path.display().to_string()))
}

pub fn run(b: &BenchFit) -> Result<()> {
    eprintln!(
        "design matrix: {} rows × {} features (seed {})",
        b.rows, b.features, b.seed
    );
    let (x, y) = design(b.rows, b.features, b.seed);
    eprintln!(
        "positives: {:.1} %",
        100.0 * y.iter().sum::<f64>() / y.len() as f64
    );
    let settings = SolverSettings {
        alpha: b.alpha,
        ..SolverSettings::default()
    };
    let mut best = f64::INFINITY;
    let mut fit = None;
    for _ in 0..3 {
        let t = Instant::now();
        let f = logistic::fit(x.view(), &y, &settings).map_err(RecoursError::from)?;
        best = best.min(t.elapsed().as_secs_f64());
        fit = Some(f);
    }
    let fit = fit.expect("three runs");
    println!(
        "recours: {:.3} s (best of 3), {} L-BFGS iterations + {} Newton steps, gradient norm {:.2e}, threads {}",
        best,
        fit.iterations,
        fit.newton_steps,
        fit.gradient_norm,
        rayon::current_num_threads()
    );
    let Some(python) = &b.python else {
        println!(
            "scikit-learn: not run (pass --python /path/to/python with scikit-learn installed)"
        );
        return Ok(());
    };
    std::fs::create_dir_all(&b.work_dir)
        .map_err(RecoursError::io(b.work_dir.display().to_string()))?;
    let (xp, yp) = (b.work_dir.join("X.npy"), b.work_dir.join("y.npy"));
    write_npy(&xp, &[b.rows, b.features], x.iter().copied())?;
    write_npy(&yp, &[b.rows], y.iter().copied())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/python/fit_sklearn.py");
    for tol in [1e-4, 1e-8] {
        let mut command = Command::new(python);
        // The child inherits this process's "no transparent huge pages" (main.rs); the
        // scikit-learn side runs with the system's setting, as it would on its own.
        // SAFETY: only a system call with integer arguments between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
                Ok(())
            });
        }
        let out = command
            .arg(&script)
            .args([xp.as_os_str(), yp.as_os_str()])
            .arg(b.alpha.to_string())
            .arg(tol.to_string())
            .output()
            .map_err(RecoursError::io(format!("running {}", python.display())))?;
        if !out.status.success() {
            return Err(RecoursError::Internal(format!(
                "scikit-learn run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| RecoursError::Internal(format!("scikit-learn output: {e}")))?;
        let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
        let coef: Vec<f64> = v["coef"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c.as_f64()).collect())
            .unwrap_or_default();
        let diff = coef
            .iter()
            .zip(&fit.coef)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f64, f64::max);
        println!(
            "scikit-learn {} (lbfgs, tol {tol:e}): {:.3} s (best of 3), {} iterations; max |coef difference| {:.1e}; recours / scikit-learn = {:.2}",
            v["sklearn"].as_str().unwrap_or("?"),
            secs,
            v["n_iter"],
            diff,
            best / secs
        );
    }
    Ok(())
}

/// Processor time of this process so far (user and system, every thread), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes the struct it is given, which outlives the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// `recours bench-score RUN`: the scoring pass of a finished run, repeated on its own
/// `features.parquet` and `models/` (no writing): rows per second for the probabilities,
/// for the largest contributions (the reasons), and for everything `score_all` does (both,
/// with ids, reasons and ordering). Best and median of `repeat` passes.
pub fn score(run_dir: &Path, month: crate::domain::month::Month, repeat: usize) -> Result<()> {
    let table = crate::tables::features::FeatureTable::read(
        &RunFolder::new(run_dir).features(),
        month,
        crate::stages::features::dictionary::feature_name,
    )?;
    let mut models = std::collections::BTreeMap::new();
    for &b in crate::domain::contract::SCORED {
        let path = RunFolder::new(run_dir).model(b);
        if path.exists() {
            models.insert(
                b,
                crate::stages::train::training::load_artefact(&path, b, &table.names)?,
            );
        }
    }
    let n = table.len() as f64;
    println!(
        "{} rows, {} features, {} models, {} threads; best and median of {repeat} passes (M rows/s)",
        table.len(),
        table.names.len(),
        models.len(),
        rayon::current_num_threads()
    );
    // Rows per second of wall time, and per second of the process's processor time (user
    // and system, every thread): on a machine other work shares, the second moves less.
    let report = |what: &str, pass: &mut dyn FnMut() -> f64| {
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..repeat.max(1) {
            let before = cpu_seconds();
            wall.push(n / pass() / 1e6);
            cpu.push(n / (cpu_seconds() - before).max(1e-9) / 1e6);
        }
        for v in [&mut wall, &mut cpu] {
            v.sort_by(|a, b| b.total_cmp(a));
        }
        println!(
            "  {what:<48} best {:>6.1}  median {:>6.1}  per processor second: median {:>6.1}",
            wall[0],
            wall[wall.len() / 2],
            cpu[cpu.len() / 2]
        );
    };
    // One pass over every benefit's rows (grouping included), timed.
    let per_benefit = |pass: &dyn Fn(&recours_models::train::ModelArtefact, &[u32])| {
        let t = Instant::now();
        let rows = crate::stages::score::scoring::benefit_rows(&table);
        for (b, a) in &models {
            pass(a, rows.get(b).map(Vec::as_slice).unwrap_or_default());
        }
        t.elapsed().as_secs_f64()
    };
    // The memory floor of a scoring pass: every stored value of the model's columns read
    // once for each of the benefit's rows (a byte a row for a coded column), folded by an
    // exclusive or of its bits (no dependency on the float additions). The probabilities
    // read exactly these, so they cannot go much faster than this.
    report(
        "reading the models' columns of the rows (floor)",
        &mut || {
            per_benefit(&|a, r| {
                use crate::tables::features::Column;
                use rayon::prelude::*;
                let columns: Vec<&Column> =
                    crate::stages::score::scoring::feature_positions(a, &table.names)
                        .into_iter()
                        .map(|p| &table.columns[p])
                        .collect();
                let bits: u64 = r
                    .par_chunks(4096)
                    .map(|rows| {
                        columns.iter().fold(0u64, |acc, c| match c {
                            Column::Coded { codes, .. } => rows
                                .iter()
                                .fold(acc, |a, &i| a ^ u64::from(codes[i as usize])),
                            Column::Dense(v) => {
                                rows.iter().fold(acc, |a, &i| a ^ v[i as usize].to_bits())
                            }
                        })
                    })
                    .reduce(|| 0, |a, b| a ^ b);
                std::hint::black_box(bits);
            })
        },
    );
    report("probabilities", &mut || {
        per_benefit(&|a, r| {
            std::hint::black_box(crate::stages::score::scoring::probabilities(a, &table, r));
        })
    });
    report("top contributions", &mut || {
        per_benefit(&|a, r| {
            std::hint::black_box(crate::stages::score::scoring::top_contributions(
                a, &table, r,
            ));
        })
    });
    report("with ids, reasons and ordering", &mut || {
        let t = Instant::now();
        std::hint::black_box(crate::stages::score::score_all(&models, &table));
        t.elapsed().as_secs_f64()
    });
    Ok(())
}
