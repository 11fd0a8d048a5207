//! Hostile and careless inputs, as a table: each case is one change to the bundled sample
//! (its config, its command line, its reference map or one of its tables), the exit code it
//! must give, what the message must name, and the same checks on every case: no NIR-like
//! value written anywhere in the run folder, no file created outside it, and no list
//! written by a run that stopped (a run that goes through is compared with the sample's own
//! lists where nothing should change).

use std::path::{Path, PathBuf};

use polars::prelude::{Column, DataFrame, DataType, ParquetWriter};

use crate::common::*;

const OK: i32 = 0;
const USAGE: i32 = 2;
const DATA_REJECTED: i32 = 3;
const PRIVACY_STOP: i32 = 4;

/// The NIR planted by the privacy cases, its separators removed (13 digits: the key may be
/// cut off).
const PLANTED_NIR: &str = "1850578006084";

/// One change to the sample.
enum Change {
    /// The sample's config (absolute paths, `output = "run"`), edited.
    Config(fn(String) -> String),
    /// Arguments before the command.
    Args(&'static [&'static str]),
    /// The code of the caisse `CAF33` replaced in a copy of the reference map.
    CaisseCode(&'static str),
    /// A copy of one file of the reference map (`caisses.csv`, `departements.csv`), edited.
    Reference(&'static str, fn(String) -> String),
    /// A copy of one of the sample's Parquet tables, edited.
    Parquet(&'static str, fn(&mut DataFrame)),
    /// A copy of one month of the sample's resources (a hive folder), edited.
    Ressources(fn(&mut DataFrame)),
    /// A copy of the sample's resources folder, its files and folders changed.
    RessourcesFolder(fn(&Path)),
    /// A copy of one of the sample's CSV tables (`;`, decimal comma), edited line by line.
    Csv(&'static str, fn(&mut Vec<Vec<String>>)),
    /// The config written in a folder of this name (the run folder still `dir/run`).
    ConfigFolder(&'static str),
    /// One of the sample's Parquet tables replaced by a file of `tests/fixtures`.
    ParquetFixture(&'static str, &'static str),
}

struct Case {
    name: &'static str,
    changes: Vec<Change>,
    command: &'static str,
    exit: i32,
    /// What the message must say (key, table, column, reason).
    says: &'static [&'static str],
    /// More checks on the run folder.
    check: Option<fn(&Path)>,
}

fn case(
    name: &'static str,
    changes: Vec<Change>,
    command: &'static str,
    exit: i32,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        changes,
        command,
        exit,
        says,
        check: None,
    }
}

fn config_case(
    name: &'static str,
    edit: fn(String) -> String,
    says: &'static [&'static str],
) -> Case {
    case(name, vec![Change::Config(edit)], "run", USAGE, says)
}

/// The sample config with one `key = value` line of a section replaced.
fn set_key(config: String, key: &str, value: &str) -> String {
    let prefix = format!("{key} = ");
    let mut found = false;
    let out: Vec<String> = config
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) && !found {
                found = true;
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "the sample config sets {key}");
    out.join("\n") + "\n"
}

/// A mutation of a text column of a Parquet table: `value` at `row`.
fn set_text(df: &mut DataFrame, column: &str, row: usize, value: &str) {
    let mut values: Vec<Option<String>> = df
        .column(column)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect();
    values[row] = Some(value.to_string());
    df.with_column(Column::new(column.into(), values)).unwrap();
}

fn set_amount(df: &mut DataFrame, column: &str, row: usize, value: f64) {
    let mut values: Vec<Option<f64>> = df.column(column).unwrap().f64().unwrap().iter().collect();
    values[row] = Some(value);
    df.with_column(Column::new(column.into(), values)).unwrap();
}

fn set_cell(rows: &mut [Vec<String>], row: usize, column: &str, value: &str) {
    let c = col(rows, column);
    rows[row][c] = value.to_string();
}

fn cases() -> Vec<Case> {
    use Change::*;
    vec![
        // Settings out of range: refused at load, naming the key and its range.
        config_case(
            "alphas_inf",
            |c| set_key(c, "alphas", "[1.0, inf]"),
            &["[training] alphas", "out of range"],
        ),
        config_case(
            "alphas_negative",
            |c| set_key(c, "alphas", "[-1.0]"),
            &["[training] alphas"],
        ),
        config_case(
            "min_score_nan",
            |c| set_key(c, "min_score", "nan"),
            &["[lists] min_score", "[0, 1]"],
        ),
        config_case(
            "min_score_negative",
            |c| set_key(c, "min_score", "-1"),
            &["[lists] min_score"],
        ),
        config_case(
            "min_score_above_one",
            |c| set_key(c, "min_score", "2.0"),
            &["[lists] min_score"],
        ),
        config_case(
            "recent_contact_months_negative",
            |c| set_key(c, "recent_contact_months", "-5"),
            &["[lists] recent_contact_months"],
        ),
        config_case(
            "offline_age_negative",
            |c| set_key(c, "offline_age", "-1"),
            &["[lists] offline_age"],
        ),
        config_case(
            "gradient_tolerance_negative",
            |c| set_key(c, "gradient_tolerance", "-1.0"),
            &["[training] gradient_tolerance"],
        ),
        config_case(
            "control_share_nan",
            |c| set_key(c, "control_share", "nan"),
            &["[lists] control_share"],
        ),
        config_case(
            "max_rejected_share_above_one",
            |c| set_key(c, "max_rejected_share", "2.0"),
            &["[validation] max_rejected_share"],
        ),
        config_case(
            "max_monthly_amount_inf",
            |c| set_key(c, "max_monthly_amount", "inf"),
            &["[validation] max_monthly_amount"],
        ),
        config_case(
            "max_monthly_amount_unknown_nature",
            |c| c + "\n[validation.max_monthly_amount_by_nature]\nprime = 500.0\n",
            &[
                "[validation.max_monthly_amount_by_nature] prime",
                "unknown nature",
            ],
        ),
        config_case(
            "output_empty",
            |c| set_key(c, "output", "\"\""),
            &["output", "empty"],
        ),
        config_case(
            "output_config_folder",
            |c| set_key(c, "output", "\".\""),
            &["output", "configuration's folder"],
        ),
        config_case(
            "output_above_config_folder",
            |c| set_key(c, "output", "\"..\""),
            &["output", "configuration's folder"],
        ),
        // A run folder inside an input's folder: the next run would read its outputs.
        config_case(
            "output_inside_an_input_folder",
            |c| {
                let inside = repo().join("data-samples/ressources/run");
                set_key(c, "output", &format!("\"{}\"", inside.display()))
            },
            &["output", "inside the input of table ressources"],
        ),
        config_case(
            "verite_as_csv",
            |c| {
                let csv = repo().join("data-samples/csv/logements.csv");
                set_key(c, "verite", &format!("\"{}\"", csv.display()))
            },
            &["[evaluation] verite", "not a Parquet file"],
        ),
        case(
            "threads_zero",
            vec![Args(&["--threads", "0"])],
            "run",
            USAGE,
            &["--threads"],
        ),
        config_case(
            "capacity_beyond_its_range",
            |c| set_key(c, "sms", "9223372036854775807"),
            &["[lists.capacity] sms", "10 000 000"],
        ),
        config_case(
            "min_cell_beyond_its_range",
            |c| {
                c.replace(
                    "[evaluation]",
                    "[evaluation]\nmin_cell = 18446744073709551615",
                )
            },
            &["[evaluation] min_cell", "1 000 000"],
        ),
        config_case(
            "exclude_names_no_feature",
            |c| set_key(c, "exclude", "[\"age_demandeur_typo\"]"),
            &["[features] exclude", "'age_demandeur_typo'"],
        ),
        case(
            "caisse_listed_twice",
            vec![Reference("caisses.csv", |t| {
                let second = t.lines().nth(2).unwrap().to_string();
                format!("{}\n{second}\n", t.trim_end())
            })],
            "validate",
            USAGE,
            &["caisses.csv", "listed twice"],
        ),
        case(
            "departement_listed_twice",
            vec![Reference("departements.csv", |t| {
                let second = t.lines().nth(2).unwrap().to_string();
                format!("{}\n{second}\n", t.trim_end())
            })],
            "validate",
            USAGE,
            &["departements.csv", "listed twice"],
        ),
        // A barème value that is not a finite amount would reach every estimate.
        case(
            "bareme_amount_nan",
            vec![Reference("baremes.toml", |t| {
                t.replacen(
                    "montant_forfaitaire = 646.52",
                    "montant_forfaitaire = nan",
                    1,
                )
            })],
            "validate",
            USAGE,
            &[
                "baremes.toml",
                "[[rsa]] entry from 2025-04: montant_forfaitaire",
            ],
        ),
        // A reference map without any département: a configuration error, not every
        // person rejected as from an unknown département.
        case(
            "departements_file_without_rows",
            vec![Reference("departements.csv", |t| {
                format!("{}\n", t.lines().next().unwrap())
            })],
            "validate",
            USAGE,
            &["departements.csv", "lists no département"],
        ),
        // A symbolic link that loops inside a partitioned input: refused, not read forever.
        case(
            "input_folder_with_a_link_loop",
            vec![RessourcesFolder(|dir| {
                #[cfg(unix)]
                std::os::unix::fs::symlink(dir, dir.join("mois=2025-08/boucle")).unwrap();
            })],
            "validate",
            DATA_REJECTED,
            &["table ressources", "symbolic link"],
        ),
        // A column of a type polars was not built for (it panics reading it): refused like
        // any unreadable file, not a crash.
        case(
            "parquet_column_of_a_type_polars_cannot_read",
            vec![ParquetFixture("droits", "droits-float16.parquet")],
            "validate",
            DATA_REJECTED,
            &[
                "table droits",
                "droits-float16.parquet cannot be read",
                "Float16",
            ],
        ),
        // A month's file delivered twice: its rows would count twice (no row rule sees it,
        // two rows of one person, month and nature being two employers).
        case(
            "resources_file_delivered_twice",
            vec![RessourcesFolder(|dir| {
                let month = dir.join("mois=2025-08");
                std::fs::copy(month.join("part-0.parquet"), month.join("part-1.parquet")).unwrap();
            })],
            "validate",
            DATA_REJECTED,
            &["table ressources", "same bytes"],
        ),
        // Caisse codes that would become paths or formulas: refused when the map is loaded.
        case(
            "caisse_code_parent_folders",
            vec![CaisseCode("../../../x")],
            "run",
            USAGE,
            &["caisses.csv", "column code"],
        ),
        case(
            "caisse_code_absolute_path",
            vec![CaisseCode("/abs")],
            "run",
            USAGE,
            &["caisses.csv", "column code"],
        ),
        case(
            "caisse_code_dot",
            vec![CaisseCode(".")],
            "run",
            USAGE,
            &["caisses.csv", "column code"],
        ),
        case(
            "caisse_code_dot_dot",
            vec![CaisseCode("..")],
            "run",
            USAGE,
            &["caisses.csv", "column code"],
        ),
        case(
            "caisse_code_formula",
            vec![CaisseCode("=1+2")],
            "run",
            USAGE,
            &["caisses.csv", "column code"],
        ),
        // A NIR in the reference map, the configuration or the run folder's path: each is
        // copied into the lists, the manifest or the run log, so the run stops first.
        case(
            "nir_in_a_caisse_label",
            vec![Reference("caisses.csv", |t| {
                t.replace(
                    "CAF de la Gironde",
                    "CAF de la Gironde 1 85 05 78 006 084 36",
                )
            })],
            "run",
            PRIVACY_STOP,
            &["caisses.csv", "column libelle"],
        ),
        case(
            "nir_in_a_departement_name",
            vec![Reference("departements.csv", |t| {
                t.replace(",Gironde,", ",Gironde 185057800608436,")
            })],
            "validate",
            PRIVACY_STOP,
            &["departements.csv", "column nom"],
        ),
        case(
            "nir_in_a_configuration_value",
            vec![Config(|c| {
                set_key(c, "exclude", "[\"dossier 1.85.05.78.006.084.36\"]")
            })],
            "validate",
            PRIVACY_STOP,
            &["configuration", "column features.exclude"],
        ),
        case(
            "nir_in_the_run_folder_path",
            vec![Config(|c| {
                set_key(c, "output", "\"run-1-85-05-78-006-084-36\"")
            })],
            "validate",
            PRIVACY_STOP,
            &["configuration", "column output"],
        ),
        case(
            "nir_in_the_configuration_folder",
            vec![ConfigFolder("dossier 1 85 05 78 006 084 36")],
            "validate",
            PRIVACY_STOP,
            &[
                "configuration (its path is not shown)",
                "configuration file's path",
            ],
        ),
        // A formula where the data names a caisse: an unknown caisse, its row rejected.
        Case {
            check: Some(|run| {
                assert_eq!(rejected_with(run, "droits", "caisse_inconnue"), 1);
            }),
            ..case(
                "formula_as_organisme",
                vec![Parquet("droits", |df| set_text(df, "organisme", 3, "=1+2"))],
                "validate",
                OK,
                &[],
            )
        },
        // NIRs however written, in ids and in free text: a privacy stop, nothing written.
        case(
            "nir_with_dots_in_an_id",
            vec![Parquet("personnes", |df| {
                set_text(df, "pseudo_id", 5, "1.85.05.78.006.084.36")
            })],
            "validate",
            PRIVACY_STOP,
            &["table personnes", "column pseudo_id"],
        ),
        case(
            "nir_with_dashes_in_a_resource_id",
            vec![Ressources(|df| {
                set_text(df, "pseudo_id", 7, "1-85-05-78-006-084-36")
            })],
            "validate",
            PRIVACY_STOP,
            &["table ressources", "column pseudo_id"],
        ),
        case(
            "nir_with_nbsp_in_a_contact_id",
            vec![Csv("contacts", |r| {
                set_cell(
                    r,
                    3,
                    "pseudo_id",
                    "1\u{a0}85\u{a0}05\u{a0}78\u{a0}006\u{a0}084\u{a0}36",
                )
            })],
            "validate",
            PRIVACY_STOP,
            &["table contacts", "column pseudo_id"],
        ),
        case(
            "nir_with_a_tab_in_a_code",
            vec![Parquet("droits", |df| {
                set_text(df, "prestation", 2, "185057800608436\t")
            })],
            "validate",
            PRIVACY_STOP,
            &["table droits", "column prestation"],
        ),
        case(
            "nir_in_free_text",
            vec![Csv("logements", |r| {
                r[0].push("commentaire".into());
                for (i, row) in r.iter_mut().enumerate().skip(1) {
                    row.push(if i == 9 {
                        "rappeler, NIR 1 85 05 78 006 084 36 avant lundi".into()
                    } else {
                        "rien".into()
                    });
                }
            })],
            "run",
            PRIVACY_STOP,
            &["table logements", "column commentaire"],
        ),
        // Glued to a short word whose letters are hexadecimal: text, not a hash id.
        case(
            "nir_glued_to_a_short_word",
            vec![Csv("contacts", |r| {
                set_cell(r, 3, "organisme", "dossier de185057800608436")
            })],
            "validate",
            PRIVACY_STOP,
            &["table contacts", "column organisme"],
        ),
        // Amounts: two 1e308 resources of one person and month, a 1e300 campaign outcome.
        Case {
            check: Some(|run| {
                assert_eq!(rejected_with(run, "ressources", "montant_hors_bornes"), 2);
                assert_eq!(rejected_with(run, "retours", "montant_hors_bornes"), 1);
                // The national files (the contact lists hold hexadecimal ids).
                let lists = run.join("lists");
                for file in files_under(&lists) {
                    if file.parent() == Some(lists.as_path())
                        && file.extension().is_some_and(|e| e == "csv")
                    {
                        let text = std::fs::read_to_string(&file).unwrap();
                        let longest = text
                            .split(|c: char| !c.is_ascii_digit())
                            .map(str::len)
                            .max()
                            .unwrap_or(0);
                        assert!(longest < 16, "{}: a {longest}-digit number", file.display());
                        for bad in ["inf", "NaN"] {
                            assert!(!text.contains(bad), "{}: {bad}", file.display());
                        }
                    }
                }
            }),
            ..case(
                "overflowing_amounts",
                vec![
                    Ressources(|df| {
                        let twice = df.slice(0, 1);
                        df.vstack_mut(&twice).unwrap();
                        let last = df.height() - 1;
                        set_amount(df, "montant_net_social", 0, 1e308);
                        set_amount(df, "montant_net_social", last, 1e308);
                    }),
                    Parquet("retours", |df| {
                        let row = df
                            .column("montant_mensuel")
                            .unwrap()
                            .f64()
                            .unwrap()
                            .iter()
                            .position(|v| v.is_some())
                            .unwrap();
                        set_amount(df, "montant_mensuel", row, 1e300);
                    }),
                ],
                "run",
                OK,
                &[],
            )
        },
        // The bound of one nature, from the config: a 30 000 € salary is rejected under a
        // 20 000 € bound, a 30 000 € unemployment benefit is kept under the default one.
        Case {
            check: Some(|run| {
                assert_eq!(rejected_with(run, "ressources", "montant_hors_bornes"), 1);
                let rejects = read_parquet(&run.join("rejects/ressources.parquet"));
                assert_eq!(texts(&rejects, "nature"), ["salaire"]);
            }),
            ..case(
                "amount_bound_per_nature",
                vec![
                    Config(|c| {
                        c + "\n[validation.max_monthly_amount_by_nature]\nsalaire = 20000.0\n"
                    }),
                    Ressources(|df| {
                        for nature in ["salaire", "chomage"] {
                            let row = texts(df, "nature")
                                .iter()
                                .position(|n| *n == nature)
                                .unwrap();
                            set_amount(df, "montant_net_social", row, 30_000.0);
                        }
                    }),
                ],
                "validate",
                OK,
                &[],
            )
        },
        // Money shipped as a Parquet decimal of two places: read as euros, the same lists.
        Case {
            check: Some(|run| {
                assert_eq!(quality(run)["tables"]["droits"]["rows_rejected"], 0);
                // The contact rows of every caisse (the read-mes and workbooks carry the run
                // id, which follows the inputs' bytes).
                let contacts = |lists: &Path| -> Vec<(String, String)> {
                    hash_tree(lists)
                        .into_iter()
                        .filter(|(file, _)| file.ends_with("contacts-rfc4180.csv"))
                        .collect()
                };
                let listed = contacts(&run.join("lists"));
                assert!(!listed.is_empty());
                assert_eq!(
                    listed,
                    contacts(&sample_run().join("lists")),
                    "the lists change with decimal amounts"
                );
            }),
            ..case(
                "decimal_amounts",
                vec![Parquet("droits", |df| {
                    let decimal = df
                        .column("montant_mensuel")
                        .unwrap()
                        .cast(&DataType::Decimal(12, 2))
                        .unwrap();
                    df.with_column(decimal).unwrap();
                })],
                "run",
                OK,
                &[],
            )
        },
        // An objection whose id is in upper case with a trailing blank: kept for its person.
        Case {
            check: Some(|run| {
                let kept =
                    std::fs::read_to_string(run.join("ingest/oppositions-lignes-rejetees.json"))
                        .unwrap();
                let id = OBJECTOR.get().unwrap();
                assert!(
                    kept.contains(id.as_str()),
                    "the objection of {id} is lost: {kept}"
                );
            }),
            ..case(
                "objection_with_an_upper_case_id",
                vec![Csv("contacts", |r| {
                    let (c_id, c_opp) = (col(r, "pseudo_id"), col(r, "opposition"));
                    let id = r[4][c_id].clone();
                    OBJECTOR.get_or_init(|| id.clone());
                    r[4][c_id] = format!("{} ", id.to_uppercase());
                    r[4][c_opp] = "true".into();
                })],
                "validate",
                OK,
                &[],
            )
        },
        // A required table delivered empty: the run stops before anything is listed.
        case(
            "zero_row_droits",
            vec![Parquet("droits", |df| *df = df.slice(0, 0))],
            "run",
            DATA_REJECTED,
            &["table droits", "holds no row"],
        ),
        // A CSV read with the wrong separator: the message points at the setting.
        case(
            "wrong_csv_separator",
            vec![Config(|c| {
                c.replace("separator = \";\"", "separator = \",\"")
            })],
            "validate",
            DATA_REJECTED,
            &["separator", "[inputs.logements]"],
        ),
    ]
}

/// The contact whose objection is written with an upper-case id (set by its case).
static OBJECTOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Rows rejected for a reason code in a table's rejects file.
fn rejected_with(run: &Path, table: &str, rule: &str) -> usize {
    let df = read_parquet(&run.join("rejects").join(format!("{table}.parquet")));
    texts(&df, "motifs")
        .iter()
        .filter(|m| m.split('|').any(|r| r == rule))
        .count()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            // A symbolic link is listed, not followed (a case plants a loop).
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Every path under `dir` but those under `except`.
fn tree_outside(dir: &Path, except: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| !p.starts_with(except))
        .collect()
}

/// Nothing under `run` (names, text, every Parquet value) holds the planted NIR, however
/// separated.
fn assert_no_nir_written(run: &Path) {
    let bare = |t: &str| -> String {
        t.chars()
            .filter(|c| !(c.is_whitespace() || matches!(c, '.' | '-' | '\u{a0}')))
            .collect()
    };
    for p in files_under(run) {
        let mut texts = vec![p.file_name().unwrap().to_string_lossy().into_owned()];
        if p.is_file() {
            if p.extension().is_some_and(|e| e == "parquet") {
                texts.extend(parquet_texts(&p));
            } else {
                texts.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
            }
        }
        for t in texts {
            assert!(
                !bare(&t).contains(PLANTED_NIR),
                "{} holds a NIR",
                p.display()
            );
        }
    }
}

/// Applies a case's changes in `dir`: the config written there (the run folder `dir/run`),
/// the changed files beside it. Returns the config file and the extra arguments.
fn prepare(dir: &Path, changes: &[Change]) -> (PathBuf, Vec<&'static str>) {
    let samples = repo().join("data-samples");
    let mut config = set_key(sample_config_absolute(None), "output", "\"run\"");
    let mut args = Vec::new();
    let mut folder = None;
    for change in changes {
        match change {
            Change::ConfigFolder(name) => {
                folder = Some(*name);
                config = set_key(config, "output", "\"../run\"");
            }
            Change::Config(edit) => config = edit(config),
            Change::ParquetFixture(table, fixture) => {
                let from = samples.join(format!("{table}.parquet"));
                let to = repo().join("tests/fixtures").join(fixture);
                config = config.replace(&from.display().to_string(), &to.display().to_string());
            }
            Change::Args(a) => args.extend_from_slice(a),
            Change::CaisseCode(code) => {
                let reference = dir.join("reference");
                std::fs::create_dir_all(&reference).unwrap();
                for file in ["caisses.csv", "departements.csv"] {
                    let from = repo().join("config").join(file);
                    let text = std::fs::read_to_string(&from)
                        .unwrap()
                        .replace("CAF33,", &format!("{code},"));
                    std::fs::write(reference.join(file), text).unwrap();
                    config = config.replace(
                        &from.display().to_string(),
                        &reference.join(file).display().to_string(),
                    );
                }
            }
            Change::Reference(file, edit) => {
                let from = repo().join("config").join(file);
                let to = dir.join(file);
                std::fs::write(&to, edit(std::fs::read_to_string(&from).unwrap())).unwrap();
                config = config.replace(&from.display().to_string(), &to.display().to_string());
            }
            Change::Parquet(table, edit) => {
                let from = samples.join(format!("{table}.parquet"));
                let mut df = read_parquet(&from);
                edit(&mut df);
                let to = dir.join(format!("{table}.parquet"));
                let mut f = std::fs::File::create(&to).unwrap();
                ParquetWriter::new(&mut f).finish(&mut df).unwrap();
                config = config.replace(&from.display().to_string(), &to.display().to_string());
            }
            Change::Ressources(edit) => {
                let from = samples.join("ressources");
                let to = dir.join("ressources");
                copy_dir(&from, &to);
                let file = to.join("mois=2025-08/part-0.parquet");
                let mut df = read_parquet(&file);
                edit(&mut df);
                let mut f = std::fs::File::create(&file).unwrap();
                ParquetWriter::new(&mut f).finish(&mut df).unwrap();
                config = config.replace(&from.display().to_string(), &to.display().to_string());
            }
            Change::RessourcesFolder(edit) => {
                let from = samples.join("ressources");
                let to = dir.join("ressources");
                copy_dir(&from, &to);
                edit(&to);
                config = config.replace(&from.display().to_string(), &to.display().to_string());
            }
            Change::Csv(table, edit) => {
                let from = samples.join(format!("csv/{table}.csv"));
                let text = std::fs::read_to_string(&from).unwrap();
                let mut rows: Vec<Vec<String>> = text
                    .lines()
                    .map(|l| l.split(';').map(str::to_string).collect())
                    .collect();
                edit(&mut rows);
                let to = dir.join(format!("{table}.csv"));
                let out: String = rows.iter().map(|r| r.join(";") + "\n").collect();
                std::fs::write(&to, out).unwrap();
                config = config.replace(&from.display().to_string(), &to.display().to_string());
            }
        }
    }
    let file = folder
        .map_or(dir.to_path_buf(), |f| dir.join(f))
        .join("config.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, config).unwrap();
    (file, args)
}

/// Every case of [`cases`]: its exit code and message, no NIR written, no file outside the
/// run folder, no list from a run that stopped, and the case's own checks.
#[test]
fn hostile_and_careless_inputs_give_their_exit_code_and_leak_nothing() {
    let root = scratch("adversarial");
    let mut failures = Vec::new();
    for case in cases() {
        // Three folders deep: a path that climbs out of the run folder lands under the
        // case's own folder, where it is seen.
        let top = root.join(case.name);
        let dir = top.join("a/b/c");
        std::fs::create_dir_all(&dir).unwrap();
        let (config, mut args) = prepare(&dir, &case.changes);
        let run = dir.join("run");
        let before = tree_outside(&top, &run);
        args.extend(["--config", config.to_str().unwrap(), case.command]);
        let o = recours(&args);
        let err = stderr(&o);
        let mut problems = Vec::new();
        if code(&o) != case.exit {
            problems.push(format!(
                "exit {} where {} was expected",
                code(&o),
                case.exit
            ));
        }
        for s in case.says {
            if !err.contains(s) {
                problems.push(format!("the message does not say '{s}'"));
            }
        }
        let bare: String = err
            .chars()
            .filter(|c| !(c.is_whitespace() || matches!(c, '.' | '-' | '\u{a0}')))
            .collect();
        if bare.contains(PLANTED_NIR) {
            problems.push("the message shows the planted NIR".into());
        }
        let after = tree_outside(&top, &run);
        if after != before {
            problems.push(format!(
                "files created outside the run folder: {:?}",
                after
                    .iter()
                    .filter(|p| !before.contains(p))
                    .collect::<Vec<_>>()
            ));
        }
        if Path::new("/abs").exists() {
            problems.push("/abs exists".into());
        }
        if case.exit != OK && run.join("lists").exists() {
            problems.push("a run that stopped left lists".into());
        }
        // The checks that read the run folder: a failed one is reported with the others.
        let checks = std::panic::catch_unwind(|| {
            assert_no_nir_written(&run);
            if let Some(check) = case.check {
                check(&run);
            }
        });
        if let Err(panic) = checks {
            let shown = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            problems.push(format!("check failed: {shown}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{err}", case.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// One bad value causing many problems: 500 persons' birth months unreadable, so their
/// foyers, resources, rights and contacts are rejected with them and every table is over
/// its tolerance. The first problems listed, in the message and in `quality.json`, are the
/// persons' own; the rows rejected because of them and the tolerances exceeded come after,
/// `personnes` first.
#[test]
fn a_rejected_person_is_listed_before_the_rows_rejected_because_of_it() {
    let dir = scratch("adversarial_cascade");
    let (config, _) = prepare(
        &dir,
        &[Change::Parquet("personnes", |df| {
            for row in df.height() - 500..df.height() {
                set_text(df, "naissance", row, "vers 1980");
            }
        })],
    );
    let o = recours(&["--config", config.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), DATA_REJECTED, "{}", stderr(&o));
    let err = stderr(&o);
    let message: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("error:"))
        .skip(1)
        .collect();
    assert_eq!(message.first(), Some(&"first problems:"), "{err}");
    let problems: Vec<&str> = message[1..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim())
        .collect();
    let tolerances: Vec<&str> = message[1 + problems.len()..]
        .iter()
        .take_while(|l| l.contains("% allowed"))
        .copied()
        .collect();
    assert!(
        problems[0].starts_with("personnes:") && problems[0].contains("mois_invalide"),
        "{err}"
    );
    let last_root = problems.iter().rposition(|p| p.starts_with("personnes:"));
    let first_consequence = problems.iter().position(|p| p.contains("personne_rejetee"));
    assert!(last_root < first_consequence, "{err}");
    assert!(tolerances.len() >= 4, "{err}");
    assert!(tolerances[0].starts_with("table personnes:"), "{err}");
    let q = quality(&dir.join("run"));
    let listed: Vec<&str> = q["first_problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(listed, problems, "quality.json lists other first problems");
}
