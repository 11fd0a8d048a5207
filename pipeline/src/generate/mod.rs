//! `recours generate`: a synthetic population shaped like the RNCPS / BRM extracts, with
//! its ground truth (`verite`). See data-samples/README.md for what each table holds.

mod population;
mod realiste;
mod truth;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::Rng;
use rayon::prelude::*;

use crate::domain::bareme::Baremes;
use crate::domain::entitlement::Role;
use crate::domain::month::Month;
use crate::domain::reference::Reference;
use crate::error::{RecoursError, Result};
use crate::io::output::{self, CsvDialect};
use population::{HISTORY_MONTHS, Household, Regime, household_rng, round2, simulate_household};
use truth::{HouseholdTruth, TARGET_ASPA, TARGET_PPA, TARGET_RSA};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Parquet,
    Csv,
}

/// Which synthetic world `generate` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum World {
    /// The bundled sample's world: take-up from a logistic law on the published
    /// determinants (easy: it shares the models' assumptions).
    #[default]
    Simple,
    /// A harder world: hidden states on a finite grid, non-linear interacting take-up
    /// laws, signals of the hidden state, and the exact posterior `verite.p_oracle`.
    Realiste,
    /// The `realiste` generator with other knobs (sharper take-up laws, more hosted adults
    /// and self-employed, adults without contact rows, a smaller and noisier survey that
    /// over-samples allocataires more): a check that models built on `realiste` hold on a
    /// world they were not built from, never a world to tune them on.
    RealisteVariante,
}

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub world: World,
    pub people: usize,
    pub month: Month,
    pub seed: u64,
    pub out: PathBuf,
    pub format: Format,
    /// People in the learning table (default: 17,000, or a quarter of the population when
    /// that is smaller).
    pub learning: Option<usize>,
    /// Tables also written as `csv/<table>.csv` in the French dialect (`;`, decimal comma).
    pub csv_copies: Vec<String>,
    /// Independent shards generated one after the other (bounded memory: one shard's
    /// population at a time). With more than one, every table is a folder of
    /// `part-<shard>` files; shard 0 is the population `--people N/shards` alone would give.
    pub shards: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct GenerateSummary {
    pub people: usize,
    pub households: usize,
    pub rows: std::collections::BTreeMap<&'static str, usize>,
    pub non_take_up: std::collections::BTreeMap<&'static str, (usize, usize)>,
}

fn hex_id(seed: u64, kind: &str, index: usize) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(kind.as_bytes());
    h.update(&(index as u64).to_le_bytes());
    h.finalize().to_hex().to_string()
}

const BENEFITS: [&str; 3] = ["PPA", "RSA", "ASPA"];

/// Per household and benefit: is the unit claiming (after the campaign)?
#[derive(Clone, Copy, Debug, Default)]
struct Claim {
    eligible: bool,
    claiming: bool,
    /// Month offset the right opened (for claimers).
    since: i32,
}

struct Campaign {
    household: usize,
    benefit: usize,
    canal: &'static str,
    joint: bool,
    demande: bool,
    droit_ouvert: bool,
    montant: Option<f64>,
}

const CAMPAIGN_OFFSET: i32 = -4;

/// The seed of shard `s`: the run's seed for shard 0, a BLAKE3 derivation for the others, so
/// that every random stream and every id (keyed by the seed) differs between shards.
fn shard_seed(seed: u64, s: usize) -> u64 {
    if s == 0 {
        return seed;
    }
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(b"shard");
    h.update(&(s as u64).to_le_bytes());
    let b = h.finalize();
    u64::from_le_bytes(b.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// Generates the population, in `opts.shards` shards written one after the other (each holds
/// `people / shards` people, the first ones the remainder, and its share of the learning
/// table): peak memory is one shard's, whatever the population.
pub fn generate(
    opts: &GenerateOptions,
    reference: &Reference,
    baremes: &Baremes,
) -> Result<GenerateSummary> {
    let shards = opts.shards.max(1);
    if shards == 1 {
        return generate_shard(opts, reference, baremes, None);
    }
    if opts.people < shards {
        return Err(RecoursError::Config {
            file: PathBuf::from("--shards"),
            message: format!("{shards} shards for {} people", opts.people),
        });
    }
    let learning = opts.learning.unwrap_or_else(|| 17_000.min(opts.people / 4));
    let mut total = GenerateSummary {
        people: 0,
        households: 0,
        rows: Default::default(),
        non_take_up: Default::default(),
    };
    for s in 0..shards {
        let share = |n: usize| n / shards + usize::from(s < n % shards);
        let shard = GenerateOptions {
            people: share(opts.people),
            seed: shard_seed(opts.seed, s),
            learning: Some(share(learning)),
            shards: 1,
            ..opts.clone()
        };
        eprintln!("shard {}/{shards}: {} people", s + 1, shard.people);
        let one = generate_shard(&shard, reference, baremes, Some(s))?;
        total.people += one.people;
        total.households += one.households;
        for (k, v) in one.rows {
            *total.rows.entry(k).or_default() += v;
        }
        for (k, (a, b)) in one.non_take_up {
            let e = total.non_take_up.entry(k).or_default();
            e.0 += a;
            e.1 += b;
        }
    }
    Ok(total)
}

fn generate_shard(
    opts: &GenerateOptions,
    reference: &Reference,
    baremes: &Baremes,
    part: Option<usize>,
) -> Result<GenerateSummary> {
    if matches!(opts.world, World::Realiste | World::RealisteVariante) {
        return realiste::generate_shard(opts, reference, baremes, part);
    }
    if opts.people == 0 {
        return Err(RecoursError::Config {
            file: PathBuf::from("--people"),
            message: "must be at least 1".into(),
        });
    }
    let clock = std::time::Instant::now();
    let bareme = baremes.in_force(opts.month)?;
    let ppa_params = baremes.ppa_quarter(opts.month, truth::DEFAULT_QUARTERS.rsa_ppa)?;
    let seed = opts.seed;
    let run = opts.month;
    let dep_weights = departement_weights(reference);
    let households = simulate_until(
        opts.people,
        |i| simulate_household(seed, i, run, &dep_weights),
        // The last household is cut so that the population is exact; the demandeur stays.
        |h: &mut Household, left| {
            h.members.truncate(left);
            h.members.len()
        },
    );

    eprintln!(
        "  households simulated in {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let truths: Vec<HouseholdTruth> = households
        .par_iter()
        .map(|h| truth::household_truth(seed, &bareme, &ppa_params, h))
        .collect();

    // Take-up, one exact-count draw per benefit.
    let rural_cut = 500_000;
    let mut claims = vec![[Claim::default(); 3]; households.len()];
    for (b, target) in [(0, TARGET_PPA), (1, TARGET_RSA), (2, TARGET_ASPA)] {
        let units: Vec<usize> = (0..households.len())
            .filter(|&i| amount(&truths[i], b) > 0.0)
            .collect();
        let offsets: Vec<f64> = units
            .iter()
            .map(|&i| {
                let h = &households[i];
                match b {
                    0 => truth::ppa_offset(h, &truths[i]),
                    1 => truth::rsa_offset(
                        h,
                        &truths[i],
                        reference.departements[h.departement].population < rural_cut,
                    ),
                    _ => truth::aspa_offset(h, &truths[i]),
                }
            })
            .collect();
        let uniforms: Vec<f64> = units
            .iter()
            .map(|&i| household_rng(seed, 10 + b as u64, i).r#gen::<f64>())
            .collect();
        let non_take_up =
            recours_models::calibration::select_exact_count(&offsets, &uniforms, target);
        for (k, &i) in units.iter().enumerate() {
            let mut rng = household_rng(seed, 20 + b as u64, i);
            claims[i][b] = Claim {
                eligible: true,
                claiming: !non_take_up[k],
                since: -rng.gen_range(5..48),
            };
        }
    }

    // A past campaign (month M-4) towards people the caisses saw as candidates, with a random
    // control group; contacted eligible people who then claimed have their right opened.
    eprintln!(
        "  entitlements and take-up in {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let mut campaign = Vec::new();
    for (i, h) in households.iter().enumerate() {
        for b in 0..3 {
            let visible = amount_visible(&truths[i], b);
            let c = claims[i][b];
            let receiving_then = c.claiming && c.since < CAMPAIGN_OFFSET;
            if visible <= 0.0 || receiving_then || c.claiming {
                continue;
            }
            let mut rng = household_rng(seed, 30 + b as u64, i);
            if !rng.gen_bool(0.25) {
                continue;
            }
            let canal = ["aucun", "telephone", "sms", "email", "courrier"]
                [population::pick_weighted(&mut rng, &[0.10, 0.30, 0.30, 0.15, 0.15])];
            let (p_reach, p_claim) = match canal {
                "telephone" => (0.55, 0.40),
                "sms" => (0.75, 0.15),
                "email" => (0.60, 0.12),
                "courrier" => (0.70, 0.20),
                _ => (0.0, 0.0),
            };
            let joint = rng.gen_bool(p_reach);
            let eligible = c.eligible;
            let opened = if canal == "aucun" {
                eligible && rng.gen_bool(0.04)
            } else {
                eligible && joint && rng.gen_bool(p_claim)
            };
            let demande = opened || (joint && rng.gen_bool(0.12));
            if opened {
                claims[i][b].claiming = true;
                claims[i][b].since = CAMPAIGN_OFFSET + 1;
            }
            let _ = h;
            campaign.push(Campaign {
                household: i,
                benefit: b,
                canal,
                joint,
                demande,
                droit_ouvert: opened,
                montant: opened.then(|| round2(amount(&truths[i], b))),
            });
        }
    }

    let ctx = Tables {
        opts,
        reference,
        households: &households,
        truths: &truths,
        claims: &claims,
        campaign: &campaign,
    };
    eprintln!("  campaign in {:.1} s", clock.elapsed().as_secs_f64());
    let mut frames = ctx.build()?;

    let mut summary = GenerateSummary {
        people: opts.people,
        households: households.len(),
        rows: Default::default(),
        non_take_up: Default::default(),
    };
    for (b, name) in BENEFITS.iter().enumerate() {
        let eligible = claims.iter().filter(|c| c[b].eligible).count();
        let nr = claims
            .iter()
            .filter(|c| c[b].eligible && !c[b].claiming)
            .count();
        summary.non_take_up.insert(name, (nr, eligible));
    }
    eprintln!("  tables built in {:.1} s", clock.elapsed().as_secs_f64());
    write_tables(opts, part, &mut frames, &mut summary)?;
    Ok(summary)
}

fn amount(t: &HouseholdTruth, b: usize) -> f64 {
    match b {
        0 => t.truth.ppa.montant,
        1 => t.truth.rsa.montant,
        _ => t.truth.aspa.montant,
    }
}

fn amount_visible(t: &HouseholdTruth, b: usize) -> f64 {
    match b {
        0 => t.visible.ppa.montant,
        1 => t.visible.rsa.montant,
        _ => t.visible.aspa.montant,
    }
}

struct Tables<'a> {
    opts: &'a GenerateOptions,
    reference: &'a Reference,
    households: &'a [Household],
    truths: &'a [HouseholdTruth],
    claims: &'a [[Claim; 3]],
    campaign: &'a [Campaign],
}

/// Column builder: a DataFrame assembled column by column.
#[derive(Default)]
struct Cols(Vec<Column>);

impl Cols {
    fn s(mut self, name: &str, v: Vec<String>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn sr(mut self, name: &str, v: Vec<&str>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn os(mut self, name: &str, v: Vec<Option<String>>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn f(mut self, name: &str, v: Vec<f64>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn of(mut self, name: &str, v: Vec<Option<f64>>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn b(mut self, name: &str, v: Vec<bool>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn i(mut self, name: &str, v: Vec<i32>) -> Self {
        self.0.push(Column::new(name.into(), v));
        self
    }
    fn df(self) -> Result<DataFrame> {
        DataFrame::new_infer_height(self.0)
            .map_err(RecoursError::polars("assembling a generated table"))
    }
}

impl Tables<'_> {
    fn person_ids(&self) -> Vec<Vec<String>> {
        let mut next = 0;
        self.households
            .iter()
            .map(|h| {
                h.members
                    .iter()
                    .map(|_| {
                        next += 1;
                        hex_id(self.opts.seed, "personne", next - 1)
                    })
                    .collect()
            })
            .collect()
    }

    fn caf(&self, h: &Household) -> &str {
        let d = &self.reference.departements[h.departement];
        if h.regime == Regime::Agricole {
            &d.msa
        } else {
            &d.caf
        }
    }

    fn pensions(&self, h: &Household) -> &str {
        let d = &self.reference.departements[h.departement];
        if h.regime == Regime::Agricole {
            &d.msa
        } else {
            &d.carsat
        }
    }

    fn build(&self) -> Result<Vec<(&'static str, DataFrame)>> {
        let run = self.opts.month;
        let seed = self.opts.seed;
        let ids = self.person_ids();
        let foyer_ids: Vec<String> = (0..self.households.len())
            .map(|i| hex_id(seed, "foyer", i))
            .collect();

        // personnes, foyers, logements
        let (mut p_id, mut p_naiss, mut p_sexe, mut p_dep, mut p_reg) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut f_foyer, mut f_id, mut f_role) = (vec![], vec![], vec![]);
        let (mut l_foyer, mut l_statut, mut l_loyer) = (vec![], vec![], vec![]);
        for (hi, h) in self.households.iter().enumerate() {
            for (mi, m) in h.members.iter().enumerate() {
                p_id.push(ids[hi][mi].clone());
                p_naiss.push(m.naissance.to_string());
                p_sexe.push(if m.female { "F" } else { "M" }.to_string());
                p_dep.push(self.reference.departements[h.departement].code.clone());
                p_reg.push(h.regime.code().to_string());
                f_foyer.push(foyer_ids[hi].clone());
                f_id.push(ids[hi][mi].clone());
                f_role.push(m.role.code().to_string());
            }
            if h.logement_known {
                l_foyer.push(foyer_ids[hi].clone());
                l_statut.push(h.statut.code().to_string());
                l_loyer.push(h.loyer);
            }
        }

        // droits
        let mut d = DroitsBuilder::default();
        for (hi, h) in self.households.iter().enumerate() {
            let t = &self.truths[hi];
            let dep = &self.reference.departements[h.departement];
            let demandeur = &ids[hi][0];
            let caf = self.caf(h).to_string();
            let mut rng = household_rng(seed, 40, hi);
            let old_start = |rng: &mut rand_chacha::ChaCha8Rng| run.plus(-rng.gen_range(6..60));
            if t.rights.al > 0.0 {
                d.push(
                    demandeur,
                    &caf,
                    "AL",
                    old_start(&mut rng),
                    None,
                    Some(t.rights.al),
                );
            }
            if t.rights.af > 0.0 {
                d.push(
                    demandeur,
                    &caf,
                    "AF",
                    old_start(&mut rng),
                    None,
                    Some(t.rights.af),
                );
            }
            if t.rights.asf > 0.0 {
                d.push(
                    demandeur,
                    &caf,
                    "ASF",
                    old_start(&mut rng),
                    None,
                    Some(t.rights.asf),
                );
            }
            if t.rights.css {
                d.push(demandeur, &dep.cpam, "CSS", old_start(&mut rng), None, None);
            }
            for (mi, m) in h.members.iter().enumerate() {
                let id = &ids[hi][mi];
                if t.rights.aah[mi] > 0.0 {
                    d.push(
                        id,
                        &caf,
                        "AAH",
                        old_start(&mut rng),
                        None,
                        Some(t.rights.aah[mi]),
                    );
                }
                if m.pension {
                    let since = m
                        .naissance
                        .plus(12 * 62 + rng.gen_range(0..60))
                        .min(run.plus(-HISTORY_MONTHS));
                    d.push(id, self.pensions(h), "RETRAITE", since, None, None);
                }
                if m.invalidite {
                    d.push(id, &dep.cpam, "INVALIDITE", old_start(&mut rng), None, None);
                }
                if let Some((s, e)) = m.are_spell {
                    let fin = (e < 0).then(|| run.plus(e));
                    d.push(id, "FT", "ARE", run.plus(s), fin, None);
                }
                if let Some((start, amount)) = t.rights.ass[mi] {
                    d.push(id, "FT", "ASS", run.plus(start), None, Some(amount));
                }
            }
            for (b, name) in BENEFITS.iter().enumerate() {
                let c = self.claims[hi][b];
                let organisme = if b == 2 {
                    self.pensions(h).to_string()
                } else {
                    caf.clone()
                };
                if c.claiming {
                    let total = amount(t, b);
                    if b == 2 {
                        // ASPA is individual: each eligible member holds a right.
                        let eligible: Vec<usize> = h
                            .members
                            .iter()
                            .enumerate()
                            .filter(|(_, m)| m.is_adult_unit_member() && m.age >= 65)
                            .map(|(i, _)| i)
                            .collect();
                        for &mi in &eligible {
                            d.push(
                                &ids[hi][mi],
                                &organisme,
                                name,
                                run.plus(c.since),
                                None,
                                Some(round2(total / eligible.len() as f64)),
                            );
                        }
                    } else {
                        d.push(
                            demandeur,
                            &organisme,
                            name,
                            run.plus(c.since),
                            None,
                            Some(round2(total)),
                        );
                    }
                } else if b < 2 && rng.gen_bool(if c.eligible { 0.08 } else { 0.02 }) {
                    // A right that ended: the household left RSA/PPA some months ago.
                    let fin = run.plus(-rng.gen_range(2..14));
                    d.push(
                        demandeur,
                        &organisme,
                        name,
                        fin.plus(-rng.gen_range(3..30)),
                        Some(fin),
                        Some(round2(rng.gen_range(50.0..600.0))),
                    );
                }
            }
        }

        // ressources (one frame; split by month when written)
        // Borrowed strings: ten million rows, no allocation per row.
        let months: Vec<String> = (-HISTORY_MONTHS..0)
            .map(|k| run.plus(k).to_string())
            .collect();
        let n_rows: usize = self
            .households
            .iter()
            .flat_map(|h| &h.members)
            .map(|m| m.brm.len())
            .sum();
        let mut r_id: Vec<&str> = Vec::with_capacity(n_rows);
        let mut r_mois: Vec<&str> = Vec::with_capacity(n_rows);
        let mut r_nat: Vec<&str> = Vec::with_capacity(n_rows);
        let mut r_src: Vec<&str> = Vec::with_capacity(n_rows);
        let mut r_amt: Vec<f64> = Vec::with_capacity(n_rows);
        for (hi, h) in self.households.iter().enumerate() {
            for (mi, m) in h.members.iter().enumerate() {
                for r in &m.brm {
                    r_id.push(&ids[hi][mi]);
                    r_mois.push(&months[(r.offset + HISTORY_MONTHS) as usize]);
                    r_nat.push(r.nature.code());
                    r_src.push(r.nature.source());
                    r_amt.push(r.amount);
                }
            }
        }

        // contacts
        let mut c = ContactsBuilder::default();
        let contacted: std::collections::BTreeMap<usize, ()> = self
            .campaign
            .iter()
            .filter(|c| c.canal != "aucun")
            .map(|c| (c.household, ()))
            .collect();
        for (hi, h) in self.households.iter().enumerate() {
            let t = &self.truths[hi];
            let dep = &self.reference.departements[h.departement];
            let allocataire = t.rights.al > 0.0
                || t.rights.af > 0.0
                || t.rights.asf > 0.0
                || self.claims[hi][0].claiming
                || self.claims[hi][1].claiming
                || t.rights.aah.iter().any(|a| *a > 0.0)
                || h.children().count() > 0;
            let mut rng = household_rng(seed, 50, hi);
            let campaign_month = contacted
                .contains_key(&hi)
                .then(|| run.plus(CAMPAIGN_OFFSET));
            for (mi, m) in h.members.iter().enumerate() {
                if m.age < 18 {
                    continue;
                }
                let online = {
                    let p =
                        recours_models::calibration::sigmoid(2.6 - 0.065 * (m.age as f64 - 30.0));
                    rng.gen_bool(p.clamp(0.02, 0.98))
                };
                let mut orgs: Vec<(&str, f64)> = vec![(dep.cpam.as_str(), 0.42)];
                if allocataire && m.is_adult_unit_member() {
                    orgs.push((self.caf(h), 0.85));
                }
                if m.pension || m.age >= 62 {
                    orgs.push((self.pensions(h), 0.45));
                }
                orgs.sort_by(|a, b| a.0.cmp(b.0));
                orgs.dedup_by(|a, b| a.0 == b.0);
                for (org, p_digital) in orgs {
                    // Digital channels are known less often for the oldest.
                    let p = if m.age >= 75 {
                        p_digital * 0.6
                    } else {
                        p_digital
                    };
                    let digital = rng.gen_bool(p);
                    let mobile = digital && rng.gen_bool(0.88);
                    let email = digital && (!mobile || rng.gen_bool(0.7));
                    let dernier = if campaign_month.is_some() && m.role == Role::Demandeur {
                        campaign_month
                    } else if rng.gen_bool(0.03) {
                        Some(run.plus(-rng.gen_range(6..24)))
                    } else {
                        None
                    };
                    c.push(
                        &ids[hi][mi],
                        org,
                        mobile,
                        email,
                        rng.gen_bool(0.96),
                        online && (mobile || email),
                        rng.gen_bool(0.015),
                        dernier,
                    );
                }
            }
        }

        // apprentissage: a survey drawn like the CNAF's, over-representing modest households.
        let learning_target = self
            .opts
            .learning
            .unwrap_or_else(|| 17_000.min(self.opts.people / 4));
        let mut keyed: Vec<(f64, usize)> = self
            .households
            .iter()
            .enumerate()
            .map(|(hi, h)| {
                let t = &self.truths[hi];
                let modest = t.visible.rsa.montant_forfaitaire > t.visible.rsa.ressources * 0.8
                    || t.visible.ppa.montant > 0.0
                    || t.visible.aspa.montant > 0.0
                    || h.oldest_unit_age() >= 65 && t.visible.aspa.ressources < 1400.0;
                let w: f64 = if modest { 4.0 } else { 1.0 };
                let u: f64 = household_rng(seed, 60, hi).r#gen::<f64>().max(1e-300);
                // Efraimidis–Spirakis keys: weighted sampling without replacement.
                (u.ln() / w, hi)
            })
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let (mut a_id, mut a_prest, mut a_mois, mut a_label, mut a_orig) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut labelled = 0usize;
        let mut surveyed: Vec<usize> = Vec::new();
        for &(_, hi) in &keyed {
            if labelled >= learning_target {
                break;
            }
            let h = &self.households[hi];
            let t = &self.truths[hi];
            let mut rng = household_rng(seed, 61, hi);
            let origine = if rng.gen_bool(0.85) {
                "enquete"
            } else {
                "campagne"
            };
            let mut persons = std::collections::BTreeSet::new();
            for (b, name) in BENEFITS.iter().enumerate() {
                let claim = self.claims[hi][b];
                if claim.claiming {
                    continue;
                }
                let carriers: Vec<usize> = match b {
                    // RSA: not for households with a member aged 65+ (ASPA first).
                    1 if h.oldest_unit_age() < 65
                        && (h.members[0].age >= 25 || h.children().count() > 0) =>
                    {
                        vec![0]
                    }
                    0 if t.visible.ppa.revenus_activite > 0.0 => vec![0],
                    2 => h
                        .members
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.is_adult_unit_member() && m.age >= 65)
                        .map(|(i, _)| i)
                        .collect(),
                    _ => vec![],
                };
                for mi in carriers {
                    let truth = claim.eligible;
                    let label = if rng.gen_bool(0.03) { !truth } else { truth };
                    a_id.push(ids[hi][mi].clone());
                    a_prest.push(name.to_string());
                    a_mois.push(run.to_string());
                    a_label.push(label as i32);
                    a_orig.push(origine.to_string());
                    persons.insert(mi);
                }
            }
            if !persons.is_empty() {
                surveyed.push(hi);
            }
            labelled += persons.len();
        }

        // retours
        let (
            mut rt_id,
            mut rt_prest,
            mut rt_mois,
            mut rt_canal,
            mut rt_joint,
            mut rt_dem,
            mut rt_ouv,
            mut rt_amt,
        ) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for cp in self.campaign {
            let h = &self.households[cp.household];
            let mi = if cp.benefit == 2 {
                h.members
                    .iter()
                    .position(|m| m.is_adult_unit_member() && m.age >= 65)
                    .unwrap_or(0)
            } else {
                0
            };
            rt_id.push(ids[cp.household][mi].clone());
            rt_prest.push(BENEFITS[cp.benefit].to_string());
            rt_mois.push(run.plus(CAMPAIGN_OFFSET).to_string());
            rt_canal.push(cp.canal.to_string());
            rt_joint.push(cp.joint);
            rt_dem.push(cp.demande);
            rt_ouv.push(cp.droit_ouvert);
            rt_amt.push(cp.montant);
        }

        // verite: per adult of the benefit unit and benefit.
        let (mut v_id, mut v_prest, mut v_elig, mut v_amt, mut v_rec, mut v_porteur, mut v_hidden) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (hi, h) in self.households.iter().enumerate() {
            let t = &self.truths[hi];
            for (mi, m) in h.members.iter().enumerate() {
                if !m.is_adult_unit_member() {
                    continue;
                }
                for (b, name) in BENEFITS.iter().enumerate() {
                    let c = self.claims[hi][b];
                    let (eligible, montant, porteur) = if b == 2 {
                        let n = t.truth.aspa.nb_eligibles.max(1) as f64;
                        let e = c.eligible && m.age >= 65;
                        (
                            e,
                            if e { round2(amount(t, b) / n) } else { 0.0 },
                            m.age >= 65,
                        )
                    } else {
                        (c.eligible, round2(amount(t, b)), m.role == Role::Demandeur)
                    };
                    v_id.push(ids[hi][mi].clone());
                    v_prest.push(name.to_string());
                    v_elig.push(eligible);
                    v_amt.push(montant);
                    v_rec.push(eligible && c.claiming);
                    v_porteur.push(porteur);
                    v_hidden.push(t.has_hidden);
                }
            }
        }

        let verite = Cols::default()
            .s("pseudo_id", v_id)
            .s("prestation", v_prest)
            .b("eligible", v_elig)
            .f("montant_droit", v_amt)
            .b("recourt", v_rec)
            .b("porteur", v_porteur)
            .b("ressources_cachees", v_hidden)
            .df()?;
        ContractRows {
            p_id,
            p_naiss,
            p_sexe,
            p_dep,
            p_reg,
            f_foyer,
            f_id,
            f_role,
            l_foyer,
            l_statut,
            l_loyer,
            r_id,
            r_mois,
            r_nat,
            r_src,
            r_amt,
            a_id,
            a_prest,
            a_mois,
            a_label,
            a_orig,
            rt_id,
            rt_prest,
            rt_mois,
            rt_canal,
            rt_joint,
            rt_dem,
            rt_ouv,
            rt_amt,
        }
        .tables(d.df()?, c.df()?, verite)
    }
}

/// The contract tables every world fills row by row (column vectors named after the
/// tables' columns), turned into the tables in the order they are written.
pub(crate) struct ContractRows<'a> {
    pub(crate) p_id: Vec<String>,
    pub(crate) p_naiss: Vec<String>,
    pub(crate) p_sexe: Vec<String>,
    pub(crate) p_dep: Vec<String>,
    pub(crate) p_reg: Vec<String>,
    pub(crate) f_foyer: Vec<String>,
    pub(crate) f_id: Vec<String>,
    pub(crate) f_role: Vec<String>,
    pub(crate) l_foyer: Vec<String>,
    pub(crate) l_statut: Vec<String>,
    pub(crate) l_loyer: Vec<Option<f64>>,
    pub(crate) r_id: Vec<&'a str>,
    pub(crate) r_mois: Vec<&'a str>,
    pub(crate) r_nat: Vec<&'a str>,
    pub(crate) r_src: Vec<&'a str>,
    pub(crate) r_amt: Vec<f64>,
    pub(crate) a_id: Vec<String>,
    pub(crate) a_prest: Vec<String>,
    pub(crate) a_mois: Vec<String>,
    pub(crate) a_label: Vec<i32>,
    pub(crate) a_orig: Vec<String>,
    pub(crate) rt_id: Vec<String>,
    pub(crate) rt_prest: Vec<String>,
    pub(crate) rt_mois: Vec<String>,
    pub(crate) rt_canal: Vec<String>,
    pub(crate) rt_joint: Vec<bool>,
    pub(crate) rt_dem: Vec<bool>,
    pub(crate) rt_ouv: Vec<bool>,
    pub(crate) rt_amt: Vec<Option<f64>>,
}

impl ContractRows<'_> {
    pub(crate) fn tables(
        self,
        droits: DataFrame,
        contacts: DataFrame,
        verite: DataFrame,
    ) -> Result<Vec<(&'static str, DataFrame)>> {
        Ok(vec![
            (
                "personnes",
                Cols::default()
                    .s("pseudo_id", self.p_id)
                    .s("naissance", self.p_naiss)
                    .s("sexe", self.p_sexe)
                    .s("departement", self.p_dep)
                    .s("regime", self.p_reg)
                    .df()?,
            ),
            (
                "foyers",
                Cols::default()
                    .s("foyer_id", self.f_foyer)
                    .s("pseudo_id", self.f_id)
                    .s("role", self.f_role)
                    .df()?,
            ),
            (
                "logements",
                Cols::default()
                    .s("foyer_id", self.l_foyer)
                    .s("statut", self.l_statut)
                    .of("loyer_mensuel", self.l_loyer)
                    .df()?,
            ),
            ("droits", droits),
            (
                "ressources",
                Cols::default()
                    .sr("pseudo_id", self.r_id)
                    .sr("mois", self.r_mois)
                    .sr("nature", self.r_nat)
                    .sr("source", self.r_src)
                    .f("montant_net_social", self.r_amt)
                    .df()?,
            ),
            ("contacts", contacts),
            (
                "apprentissage",
                Cols::default()
                    .s("pseudo_id", self.a_id)
                    .s("prestation", self.a_prest)
                    .s("mois_reference", self.a_mois)
                    .i("non_recours", self.a_label)
                    .s("origine", self.a_orig)
                    .df()?,
            ),
            (
                "retours",
                Cols::default()
                    .s("pseudo_id", self.rt_id)
                    .s("prestation", self.rt_prest)
                    .s("mois_contact", self.rt_mois)
                    .s("canal", self.rt_canal)
                    .b("joint", self.rt_joint)
                    .b("demande", self.rt_dem)
                    .b("droit_ouvert", self.rt_ouv)
                    .of("montant_mensuel", self.rt_amt)
                    .df()?,
            ),
            ("verite", verite),
        ])
    }
}

/// Départements weighted by their population, for drawing where a household lives.
pub(crate) fn departement_weights(reference: &Reference) -> Vec<f64> {
    reference
        .departements
        .iter()
        .map(|d| d.population as f64)
        .collect()
}

/// Households simulated in parallel blocks (household `i` by `simulate(i)`) until the
/// population has `people` persons; `cut(h, left)` keeps at most `left` of a household's
/// persons and returns how many it has, so that the last one makes the population exact.
pub(crate) fn simulate_until<H: Send>(
    people: usize,
    simulate: impl Fn(usize) -> H + Sync,
    cut: impl Fn(&mut H, usize) -> usize,
) -> Vec<H> {
    let mut households: Vec<H> = Vec::new();
    let mut count = 0usize;
    while count < people {
        let start = households.len();
        let block = ((people - count) / 2).max(64);
        let sims: Vec<H> = (start..start + block)
            .into_par_iter()
            .map(&simulate)
            .collect();
        for mut h in sims {
            if count >= people {
                break;
            }
            count += cut(&mut h, people - count);
            households.push(h);
        }
    }
    households
}

#[derive(Default)]
struct DroitsBuilder {
    id: Vec<String>,
    org: Vec<String>,
    prest: Vec<String>,
    debut: Vec<String>,
    fin: Vec<Option<String>>,
    montant: Vec<Option<f64>>,
}

impl DroitsBuilder {
    fn push(
        &mut self,
        id: &str,
        org: &str,
        prest: &str,
        debut: Month,
        fin: Option<Month>,
        montant: Option<f64>,
    ) {
        self.id.push(id.to_string());
        self.org.push(org.to_string());
        self.prest.push(prest.to_string());
        self.debut.push(debut.to_string());
        self.fin.push(fin.map(|m| m.to_string()));
        self.montant.push(montant);
    }
    fn df(self) -> Result<DataFrame> {
        Cols::default()
            .s("pseudo_id", self.id)
            .s("organisme", self.org)
            .s("prestation", self.prest)
            .s("debut", self.debut)
            .os("fin", self.fin)
            .of("montant_mensuel", self.montant)
            .df()
    }
}

#[derive(Default)]
struct ContactsBuilder {
    id: Vec<String>,
    org: Vec<String>,
    mobile: Vec<bool>,
    email: Vec<bool>,
    adresse: Vec<bool>,
    online: Vec<bool>,
    opposition: Vec<bool>,
    dernier: Vec<Option<String>>,
}

impl ContactsBuilder {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &str,
        org: &str,
        mobile: bool,
        email: bool,
        adresse: bool,
        online: bool,
        opposition: bool,
        dernier: Option<Month>,
    ) {
        self.id.push(id.to_string());
        self.org.push(org.to_string());
        self.mobile.push(mobile);
        self.email.push(email);
        self.adresse.push(adresse);
        self.online.push(online);
        self.opposition.push(opposition);
        self.dernier.push(dernier.map(|m| m.to_string()));
    }
    fn df(self) -> Result<DataFrame> {
        Cols::default()
            .s("pseudo_id", self.id)
            .s("organisme", self.org)
            .b("mobile", self.mobile)
            .b("email", self.email)
            .b("adresse", self.adresse)
            .b("espace_en_ligne", self.online)
            .b("opposition", self.opposition)
            .os("dernier_contact", self.dernier)
            .df()
    }
}

/// `<name>.<ext>` for a whole population, `<name>/part-<shard>.<ext>` for a shard.
fn table_path(dir: &Path, name: &str, ext: &str, part: Option<usize>) -> PathBuf {
    match part {
        None => dir.join(format!("{name}.{ext}")),
        Some(s) => dir.join(name).join(format!("part-{s:03}.{ext}")),
    }
}

fn write_tables(
    opts: &GenerateOptions,
    part: Option<usize>,
    frames: &mut [(&'static str, DataFrame)],
    summary: &mut GenerateSummary,
) -> Result<()> {
    let out = &opts.out;
    std::fs::create_dir_all(out)
        .map_err(RecoursError::io(format!("creating {}", out.display())))?;
    for (name, df) in frames.iter() {
        summary.rows.insert(name, df.height());
    }
    frames
        .par_iter_mut()
        .try_for_each(|(name, df)| -> Result<()> {
            match opts.format {
                Format::Csv => output::write_csv(
                    &table_path(out, name, "csv", part),
                    df,
                    CsvDialect {
                        separator: b',',
                        decimal_comma: false,
                    },
                )?,
                Format::Parquet if *name == "ressources" => {
                    write_monthly_partitions(out, part, df)?
                }
                Format::Parquet => {
                    output::write_parquet_compact(&table_path(out, name, "parquet", part), df)?
                }
            }
            if opts.csv_copies.iter().any(|c| c == name) {
                output::write_csv(
                    &table_path(&out.join("csv"), name, "csv", part),
                    df,
                    CsvDialect {
                        separator: b';',
                        decimal_comma: true,
                    },
                )?;
            }
            Ok(())
        })
}

/// BRM resources arrive as monthly deliveries: `ressources/mois=YYYY-MM/part-0.parquet`
/// (`part-<shard>` for a shard). Rows keep their order within a month; one pass finds each
/// month's rows.
fn write_monthly_partitions(out: &Path, part: Option<usize>, df: &DataFrame) -> Result<()> {
    let mois = df
        .column("mois")
        .and_then(|c| c.str().cloned())
        .map_err(RecoursError::polars("ressources.mois"))?;
    let mut rows: std::collections::BTreeMap<&str, Vec<IdxSize>> =
        std::collections::BTreeMap::new();
    for (i, m) in mois.iter().enumerate() {
        if let Some(m) = m {
            rows.entry(m).or_default().push(i as IdxSize);
        }
    }
    let without_month = df
        .drop("mois")
        .map_err(RecoursError::polars("partitioning ressources"))?;
    let file = match part {
        None => "part-0.parquet".to_string(),
        Some(s) => format!("part-{s:03}.parquet"),
    };
    rows.into_par_iter().try_for_each(|(m, idx)| {
        let idx = IdxCa::from_vec("idx".into(), idx);
        let mut rows = without_month
            .take(&idx)
            .map_err(RecoursError::polars("partitioning ressources"))?;
        output::write_parquet_compact(
            &out.join("ressources").join(format!("mois={m}")).join(&file),
            &mut rows,
        )
    })
}
