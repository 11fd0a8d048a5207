//! The command line (clap-derive: the `///` comments are the `--help` text).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::DEFAULT_CONFIG;
use crate::domain::month::Month;
use crate::generate::{Format, World};
use crate::portal::DEFAULT_PORTAL_CONFIG;
use crate::portal::accounts::Role;

/// The exit codes, as `--help` lists them (README.md, "Exit codes", says what to do).
pub const EXIT_CODES: &str = "Exit codes:
  0   success
  2   usage or configuration error
  3   input data rejected (see quality.json and rejects/)
  4   privacy stop: a NIR-like value in an extract; nothing was written downstream
  5   a model could not be trained (too few labels, no convergence)
  6   verify: the configuration, an input, an output or the replay does not match the
      manifest, or a file was added; audit-log verify: the log's chain is broken
  7   explain: no person with this id in the run
  70  internal error (a bug, or the machine: disk full, permissions)
  75  the run folder is in use by another run or validate (nothing was done)";

/// recours — finds people entitled to PPA, RSA or ASPA who do not claim them, and hands
/// each caisse a ranked contact list.
#[derive(Debug, Parser)]
#[command(name = "recours", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Run configuration (TOML; paths inside it are relative to its folder), read by run,
    /// validate, generate (its reference files) and verify (the configuration in its new
    /// place; by default the one the manifest recorded). Default: config/sample.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// Run folder of run and validate, instead of the one the configuration names.
    #[arg(long)]
    pub output: Option<PathBuf>,

    /// Worker threads, 1 to 1024 (default: every core).
    #[arg(long, global = true, value_parser = threads)]
    pub threads: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

/// `--threads`: at least one worker, at most 1024.
fn threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("'{s}' is not a number of threads from 1 to 1024")),
    }
}

impl Cli {
    /// The configuration file: `--config`, or the sample's.
    pub fn config_file(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }

    /// `--config` and `--output` mean something to some commands only: given to another,
    /// they are an error rather than silently ignored.
    pub fn check_global_options(&self) -> Result<(), String> {
        let (config, output) = match self.command {
            Command::Run { .. } | Command::Validate => (true, true),
            Command::Generate { .. } | Command::Verify { .. } => (true, false),
            _ => (false, false),
        };
        let name = self.command.name();
        if self.config.is_some() && !config {
            return Err(format!("--config does not apply to {name}"));
        }
        if self.output.is_some() && !output {
            return Err(format!(
                "--output applies to run and validate only{}",
                if name == "generate" {
                    "; generate writes into --out"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }
}

/// `recours run --help`: the stages in the order they run, and what each does.
fn stages_help() -> String {
    let mut s = String::from("Stages, in the order they run (names for --from and --to):\n");
    for stage in crate::run::stages() {
        let d = stage.declaration();
        s.push_str(&format!("  {:<12} {}\n", d.name, d.describe));
    }
    s.push('\n');
    s.push_str(EXIT_CODES);
    s
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic population with every table of the data contract, plus `verite`.
    Generate {
        /// Which world: `simple` (the bundled sample's), `realiste` (hidden states and
        /// the exact posterior `verite.p_oracle`) or `realiste-variante` (the same generator
        /// with other knobs: a robustness check); see data-samples/README.md.
        #[arg(long, value_enum, default_value = "simple")]
        world: World,
        /// Number of people.
        #[arg(long)]
        people: usize,
        /// Run month the population is observed in (YYYY-MM).
        #[arg(long)]
        month: Month,
        /// Seed: the same arguments give byte-identical files.
        #[arg(long)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// File format of the tables.
        #[arg(long, value_enum, default_value = "parquet")]
        format: Format,
        /// People in the learning table (default: 17,000, or a quarter of the population if smaller).
        #[arg(long)]
        learning: Option<usize>,
        /// Tables also written as csv/<table>.csv in the French dialect (';', decimal comma).
        #[arg(long, value_delimiter = ',')]
        csv_copies: Vec<String>,
        /// Generate in this many independent shards, one after the other, so that memory
        /// holds one shard at a time (10 M people: `--shards 10`). Each table is then a
        /// folder of `part-<shard>` files; ids never collide between shards.
        #[arg(long, default_value_t = 1)]
        shards: usize,
    },
    /// Check every extract against the data contract; writes quality.json and rejects/.
    Validate,
    /// Run the pipeline's stages into the run folder named by the configuration. A stage
    /// runs again only when its fingerprint (recours' version, its configuration section,
    /// the content of its inputs, the stages it reads) changed or its outputs are missing;
    /// a run stopped at any point resumes with the next `recours run`.
    #[command(after_help = stages_help())]
    Run {
        /// Rerun this stage and every later one, up to date or not.
        #[arg(long, value_name = "STAGE")]
        from: Option<String>,
        /// Stop after this stage.
        #[arg(long, value_name = "STAGE")]
        to: Option<String>,
        /// Rerun every stage.
        #[arg(long)]
        force: bool,
        /// Print the plan (which stage runs and why) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a run folder against its manifest (configuration, reference files, inputs,
    /// outputs, no file added) and replay it into a scratch folder; prints each file that
    /// does not match and a count per check (exit code 6 on any difference). Writes nothing
    /// into the run folder. A run folder moved or copied elsewhere: `--config` names the
    /// configuration in its new place (reference files found beside it) and `--inputs` the
    /// folder now holding the inputs.
    Verify {
        /// The run folder (holding manifest.json).
        run_folder: PathBuf,
        /// The folder now holding the inputs: it stands for the deepest folder that held
        /// them all when the run was made, each input keeping its path under it.
        #[arg(long, value_name = "DIR")]
        inputs: Option<PathBuf>,
        /// Where to replay, kept afterwards (default: a temporary folder, removed).
        #[arg(long)]
        scratch: Option<PathBuf>,
    },
    /// Explain to one person, in French and on one page, what the run did with their data
    /// (CRPA art. R311-3-1-2): the data used and their sources, the estimated amount with
    /// its barème lines and months, the probability and its three main reasons, the list
    /// decision, and how to claim or to object. Exit code 7 when the id is not in the run.
    Explain {
        /// The run folder.
        run_folder: PathBuf,
        /// The person's pseudonymised id (as in the contact list; spaces around it and
        /// capitals are ignored).
        #[arg(long)]
        person: String,
        /// The auditor's detail instead: every row of data used, every term of each score
        /// (value, mean, standard deviation, coefficient, contribution), the list decisions.
        #[arg(long, conflicts_with = "json")]
        detail: bool,
        /// Everything as JSON (stable keys, `schema_version`).
        #[arg(long)]
        json: bool,
    },
    /// Serve finished run folders to the caisses, the national team and the auditors (the
    /// caisse portal; see README, "The caisse portal").
    Serve {
        /// Portal configuration (TOML): address, run folders, accounts, audit log, outcome
        /// store, months a list is served, TLS.
        #[arg(long, default_value = DEFAULT_PORTAL_CONFIG)]
        portal: PathBuf,
    },
    /// The portal's accounts.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// The portal's audit log.
    AuditLog {
        #[command(subcommand)]
        action: AuditLogCommand,
    },
    /// Benchmark the scoring pass on a finished run's features and models (rows per
    /// second; nothing is written)
    BenchScore {
        /// Run folder with features.parquet and models/
        run: PathBuf,
        /// Passes (best and median are reported)
        #[arg(long, default_value_t = 5)]
        repeat: usize,
    },
    /// Benchmark the logistic solver on a synthetic design matrix, against scikit-learn
    /// on the same data when --python is given.
    BenchFit {
        /// Rows of the design matrix.
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Features (columns).
        #[arg(long, default_value_t = 30)]
        features: usize,
        /// Seed of the synthetic design matrix and labels: the same seed gives the same
        /// data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// L2 strength (scikit-learn's 1/C).
        #[arg(long, default_value_t = 1.0)]
        alpha: f64,
        /// A Python interpreter with numpy and scikit-learn.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Folder for the design matrix handed to Python.
        #[arg(long, default_value = "target/bench-fit")]
        work_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account to the accounts file; the password is read from standard input (one
    /// line, at least 12 characters) and only its argon2id hash is written.
    Add {
        /// Accounts file.
        #[arg(long, default_value = "config/acces.toml")]
        accounts: PathBuf,
        /// Login name (letters, digits, '-', '_', '.').
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The caisse of a `caisse` account (a code of config/caisses.csv).
        #[arg(long)]
        caisse: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditLogCommand {
    /// Recompute the log's hash chain: exit 0 when intact, 6 when an entry was changed,
    /// removed or moved (the first broken line is named), 70 when the file is unreadable.
    Verify {
        /// The audit log (JSON lines).
        file: PathBuf,
    },
}

impl Command {
    /// The subcommand as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Generate { .. } => "generate",
            Command::Validate => "validate",
            Command::Run { .. } => "run",
            Command::Verify { .. } => "verify",
            Command::Explain { .. } => "explain",
            Command::Serve { .. } => "serve",
            Command::User { .. } => "user",
            Command::AuditLog { .. } => "audit-log",
            Command::BenchScore { .. } => "bench-score",
            Command::BenchFit { .. } => "bench-fit",
        }
    }
}
