//! The command line (clap-derive: the `///` comments are the `--help` text).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::domain::month::Month;
use crate::generate::{Format, World};
use crate::portal::DEFAULT_PORTAL_CONFIG;
use crate::portal::accounts::Role;

/// recours — finds people entitled to PPA, RSA or ASPA who do not claim them, and hands
/// each caisse a ranked contact list.
///
/// Exit codes: 0 success, 2 usage or configuration error (also a run folder that is not
/// recours' or cannot be written), 3 input data rejected, 4 privacy stop (NIR-like value in
/// an extract), 5 model not trained, 6 verify found a difference (also a broken audit log
/// chain), 70 internal error, 75 run folder in use by another run or validate.
#[derive(Debug, Parser)]
#[command(name = "recours", version)]
pub struct Cli {
    /// Run configuration (TOML); paths inside it are relative to its folder
    /// [default: config/sample.toml; for verify: the one the manifest recorded].
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,

    /// Run folder, instead of the one the configuration names.
    #[arg(long, global = true)]
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a synthetic population with every table of the data contract, plus `verite`.
    Generate {
        /// Which world: `simple` (the bundled sample's) or `realiste` (hidden states and
        /// the exact posterior `verite.p_oracle`; see data-samples/README.md).
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
    /// Explain one person's scores and list decisions from a run folder, in plain French.
    Explain {
        /// The run folder.
        run_folder: PathBuf,
        /// The person's pseudonymised id.
        #[arg(long)]
        person: String,
        /// JSON instead of text.
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
