//! The solver against known answers: scikit-learn optima and statsmodels standard errors
//! (tests/fixtures/logistic_reference.json, made by tests/reference/), and linfa-logistic's
//! optimum on the same data.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use recours_models::logistic::{SolverSettings, covariance, fit, predict};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    datasets: Vec<Dataset>,
}

#[derive(Deserialize)]
struct Dataset {
    name: String,
    x: Vec<Vec<f64>>,
    y: Vec<f64>,
    fits: Vec<RefFit>,
    statsmodels: Statsmodels,
}

#[derive(Deserialize)]
struct RefFit {
    alpha: f64,
    intercept: f64,
    coef: Vec<f64>,
}

#[derive(Deserialize)]
struct Statsmodels {
    intercept: f64,
    coef: Vec<f64>,
    se_intercept: f64,
    se: Vec<f64>,
}

fn fixture() -> Fixture {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/logistic_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn matrix(rows: &[Vec<f64>]) -> Array2<f64> {
    let p = rows[0].len();
    Array2::from_shape_vec((rows.len(), p), rows.iter().flatten().copied().collect()).unwrap()
}

fn settings(alpha: f64) -> SolverSettings {
    SolverSettings {
        alpha,
        ..SolverSettings::default()
    }
}

#[test]
fn coefficients_match_scikit_learn_within_1e_6() {
    for d in fixture().datasets {
        let x = matrix(&d.x);
        for r in &d.fits {
            let f = fit(x.view(), &d.y, &settings(r.alpha)).unwrap();
            assert!(
                f.converged,
                "{} alpha {}: gradient {}",
                d.name, r.alpha, f.gradient_norm
            );
            assert!(
                (f.intercept - r.intercept).abs() < 1e-6,
                "{} alpha {} intercept",
                d.name,
                r.alpha
            );
            for (j, (a, b)) in f.coef.iter().zip(&r.coef).enumerate() {
                assert!(
                    (a - b).abs() < 1e-6,
                    "{} alpha {} coef {j}: {a} vs {b}",
                    d.name,
                    r.alpha
                );
            }
        }
    }
}

#[test]
fn standard_errors_match_statsmodels_within_1e_4() {
    for d in fixture().datasets {
        let x = matrix(&d.x);
        let f = fit(x.view(), &d.y, &settings(0.0)).unwrap();
        let sm = &d.statsmodels;
        assert!((f.intercept - sm.intercept).abs() < 1e-6, "{}", d.name);
        for (a, b) in f.coef.iter().zip(&sm.coef) {
            assert!((a - b).abs() < 1e-6, "{}: {a} vs {b}", d.name);
        }
        let cov = covariance(x.view(), &f, 0.0).unwrap();
        let p = f.coef.len();
        for (j, se) in sm.se.iter().enumerate() {
            assert!((cov[[j, j]].sqrt() - se).abs() < 1e-4, "{} se {j}", d.name);
        }
        assert!(
            (cov[[p, p]].sqrt() - sm.se_intercept).abs() < 1e-4,
            "{} se intercept",
            d.name
        );
    }
}

/// linfa-logistic's "positive" class is the majority class: with 8 % positives its
/// probabilities are P(y = 0). Our fit is oriented on y = 1 by construction; both reach the
/// same optimum once linfa's orientation is undone.
#[test]
fn same_optimum_as_linfa_logistic_and_oriented_on_the_positive_class() {
    let data = fixture();
    let d = data
        .datasets
        .iter()
        .find(|d| d.name == "rare_8pct")
        .unwrap();
    let x = matrix(&d.x);
    let alpha = 1.0;
    let ours = fit(x.view(), &d.y, &settings(alpha)).unwrap();

    let targets: Array1<usize> = d.y.iter().map(|v| *v as usize).collect();
    let dataset = DatasetBase::new(x.view(), targets.view());
    let linfa = LogisticRegression::default()
        .alpha(alpha)
        .gradient_tolerance(1e-7)
        .max_iterations(2_000)
        .fit(&dataset)
        .unwrap();
    let sign = if linfa.labels().pos.class == 1 {
        1.0
    } else {
        -1.0
    };
    assert_eq!(sign, -1.0, "linfa orients on the majority class (0) here");
    assert!((sign * linfa.intercept() - ours.intercept).abs() < 1e-5);
    for (a, b) in linfa.params().iter().zip(&ours.coef) {
        assert!((sign * a - b).abs() < 1e-5, "{a} vs {b}");
    }

    // Our probabilities are P(y = 1): higher for positives, and their mean equals the
    // label rate (the unpenalised intercept's first-order condition).
    let p = predict(x.view(), ours.intercept, &ours.coef);
    let mean = |pos: bool| {
        let v: Vec<f64> = p
            .iter()
            .zip(&d.y)
            .filter(|(_, y)| (**y == 1.0) == pos)
            .map(|(p, _)| *p)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean(true) > mean(false) + 0.1);
    let rate = d.y.iter().sum::<f64>() / d.y.len() as f64;
    assert!((p.iter().sum::<f64>() / p.len() as f64 - rate).abs() < 1e-8);
}

#[test]
fn too_few_iterations_is_reported_as_not_converged() {
    let data = fixture();
    let d = &data.datasets[0];
    let x = matrix(&d.x);
    let f = fit(
        x.view(),
        &d.y,
        &SolverSettings {
            max_iterations: 2,
            newton_steps: 0,
            ..settings(1.0)
        },
    )
    .unwrap();
    assert!(!f.converged, "gradient {}", f.gradient_norm);
    assert!(f.iterations <= 2);
}
