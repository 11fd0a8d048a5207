use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use recours::cli::{AuditLogCommand, Cli, Command, UserCommand};
use recours::config::{self, RunConfig};
use recours::error::{Result, exit};
use recours::generate::{self, GenerateOptions};
use recours::run;

/// mimalloc: the run allocates millions of small id strings; glibc malloc/free were ~15 % of
/// a 1 M run in perf.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (the same index in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long freed memory stays with the process before it goes back to the system.
const PURGE_DELAY_MS: std::os::raw::c_long = 1000;

fn main() -> ExitCode {
    tune_memory();
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        // Polars reads its pool size from the environment, before its first use.
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("POLARS_MAX_THREADS", n.to_string()) };
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    let outcome = std::panic::catch_unwind(|| dispatch(cli));
    match outcome {
        Ok(Ok(())) => ExitCode::from(exit::SUCCESS),
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(_) => {
            eprintln!(
                "error: internal error (panic); please report it with the command and its config"
            );
            ExitCode::from(exit::INTERNAL)
        }
    }
}

/// How the process takes memory from the system (measurements: BENCHMARKS.md,
/// "Transparent huge pages").
///
/// - **No transparent huge pages.** mimalloc asks for them (`madvise(MADV_HUGEPAGE)`) on
///   the arenas it maps; then the kernel zeroes 2 MiB the first time any byte of them is
///   touched, and again each time a purged range is touched. A 1 M run faulted ~3 000
///   huge pages (6 GB zeroed for a 1.5 GB peak): 30–45 % of the ingest's samples were
///   `clear_page_erms`. Without them the peak is also lower (4 KiB pages are only backed
///   where used). `MIMALLOC_ALLOW_THP`, when set, leaves the choice to mimalloc.
/// - **Freed memory goes back to the system 1 s after it is freed** (mimalloc v3's own
///   default): without huge pages, a shorter delay lowers the peak by little and slows the
///   run. `MIMALLOC_PURGE_DELAY` (ms, read by mimalloc itself) overrides it. Child processes inherit the huge pages
///   setting: `bench-fit` restores it for the Python it runs.
fn tune_memory() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // The process-wide switch: applies to memory mapped before main (mimalloc's first
        // arena) as well as later. An error (old kernel) leaves the system's setting.
        // SAFETY: a plain system call with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a process-wide allocator option before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    cli.check_global_options()
        .map_err(|message| recours::error::RecoursError::Config {
            file: "command line".into(),
            message,
        })?;
    let config_file = cli.config_file();
    match cli.command {
        Command::Generate {
            world,
            people,
            month,
            seed,
            out,
            format,
            learning,
            csv_copies,
            shards,
        } => {
            let raw = config::read_raw(&config_file)?;
            let (reference, baremes) = config::load_reference(&config_file, &raw)?;
            let opts = GenerateOptions {
                world,
                people,
                month,
                seed,
                out,
                format,
                learning,
                csv_copies,
                shards,
            };
            let t = Instant::now();
            let summary = generate::generate(&opts, &reference, &baremes)?;
            eprintln!(
                "generated {} people in {} households into {} in {:.1} s",
                summary.people,
                summary.households,
                opts.out.display(),
                t.elapsed().as_secs_f64()
            );
            for (table, rows) in &summary.rows {
                eprintln!("  {table:<14} {rows:>10} rows");
            }
            for (b, (nr, eligible)) in &summary.non_take_up {
                let rate = if *eligible > 0 {
                    100.0 * *nr as f64 / *eligible as f64
                } else {
                    0.0
                };
                eprintln!(
                    "  non-take-up {b:<5} {nr:>8} of {eligible:>8} eligible units ({rate:.1} %)"
                );
            }
            Ok(())
        }
        Command::Validate => {
            let cfg = load(&cli)?;
            run::validate(&cfg)?;
            eprintln!(
                "all tables within tolerance; quality report in {}",
                recours::tables::run_folder::RunFolder::new(&cfg.output)
                    .quality()
                    .display()
            );
            Ok(())
        }
        Command::Run {
            ref from,
            ref to,
            force,
            dry_run,
        } => run::run(
            load(&cli)?,
            &run::RunOptions {
                from: from.clone(),
                to: to.clone(),
                force,
                dry_run,
            },
        ),
        Command::Verify {
            run_folder,
            inputs,
            scratch,
        } => {
            let opts = recours::audit::verify::VerifyOptions {
                config: cli.config.clone(),
                inputs,
                scratch,
            };
            let v = recours::audit::verify::verify(&run_folder, &opts)?;
            for (_, l) in &v.problems {
                println!("{l}");
            }
            for l in v.summary() {
                println!("{l}");
            }
            if v.mismatches() > 0 {
                eprintln!(
                    "verify: {} difference(s) in {}",
                    v.mismatches(),
                    run_folder.display()
                );
                return Err(recours::error::RecoursError::Mismatch(v.mismatches()));
            }
            eprintln!(
                "verify: the configuration, every input, output and the replay match the manifest"
            );
            Ok(())
        }
        Command::Explain {
            run_folder,
            person,
            detail,
            json,
        } => {
            let e = recours::audit::explain::explain(&run_folder, &person)?;
            if detail {
                print!("{}", e.to_detail());
            } else if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&e)
                        .map_err(|err| recours::error::RecoursError::Internal(err.to_string()))?
                );
            } else {
                print!("{}", e.to_text());
            }
            Ok(())
        }
        Command::Serve { portal } => {
            recours::portal::serve(recours::portal::PortalConfig::load(&portal)?)
        }
        Command::User {
            action:
                UserCommand::Add {
                    accounts,
                    name,
                    role,
                    caisse,
                },
        } => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(recours::error::RecoursError::io("reading the password"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            recours::portal::accounts::add_user(
                &accounts,
                &name,
                role,
                caisse.as_deref(),
                password,
            )?;
            eprintln!("account {name} added to {}", accounts.display());
            Ok(())
        }
        Command::AuditLog {
            action: AuditLogCommand::Verify { file },
        } => {
            let check = recours::portal::auditlog::verify(&file)?;
            match check.broken {
                None => {
                    println!(
                        "audit log {}: {} entries, chain intact",
                        file.display(),
                        check.entries
                    );
                    Ok(())
                }
                Some((line, why)) => {
                    println!(
                        "audit log {}: {} entries intact before line {line}",
                        file.display(),
                        check.entries
                    );
                    Err(recours::error::RecoursError::AuditLogBroken { file, line, why })
                }
            }
        }
        Command::BenchScore { run, repeat } => {
            let m = recours::tables::manifest::Manifest::read(&run)?;
            let month = recours::domain::month::Month::parse(&m.config.month).ok_or_else(|| {
                recours::error::RecoursError::Internal(format!(
                    "{}: run month {} unreadable",
                    run.display(),
                    m.config.month
                ))
            })?;
            recours::bench::score(&run, month, repeat)
        }
        Command::BenchFit {
            rows,
            features,
            seed,
            alpha,
            python,
            work_dir,
        } => recours::bench::run(&recours::bench::BenchFit {
            rows,
            features,
            seed,
            alpha,
            python,
            work_dir,
        }),
    }
}

/// The checked configuration, with the run folder overridden by `--output`.
fn load(cli: &Cli) -> Result<RunConfig> {
    let config_file = cli.config_file();
    let mut cfg = RunConfig::load(&config_file)?;
    if let Some(out) = &cli.output {
        if let Some(problem) =
            config::output_problem(&out.to_string_lossy(), out, &config_file, &cfg.inputs)
        {
            return Err(recours::error::RecoursError::Config {
                file: config_file.clone(),
                message: format!("--output: {problem}"),
            });
        }
        cfg.output = out.clone();
    }
    Ok(cfg)
}
