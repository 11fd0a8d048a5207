//! The caisse portal (`recours serve`), started in this process on a loopback port over the
//! bundled sample run and driven by a real HTTP client (and raw requests where a client
//! would clean the path): no access without login, no cross-caisse access by any route, the
//! auditor sees no list, an expired list is refused, a bad upload is rejected whole, every
//! access is in the audit log and its check fails after tampering.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use recours::portal::{self, PortalConfig, accounts::Role, catalog::file_id};

use crate::common::{code, copy_dir, read_parquet, recours, sample_run, scratch, texts};

const PASSWORD: &str = "mot-de-passe-de-test-2025";

/// Two caisses with a list in the sample run.
fn caisses(run: &Path) -> (String, String) {
    let mut found: Vec<String> = std::fs::read_dir(run.join("lists"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("contacts.parquet").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert!(found.len() >= 2, "the sample lists at least two caisses");
    (found[0].clone(), found[1].clone())
}

/// The accounts file, hashed once per test binary: `caisse-a`, `caisse-b`, `national`,
/// `auditeur`, each with `PASSWORD`, through the same code as `recours user add`.
fn accounts() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let (a, b) = caisses(sample_run());
        let dir = scratch("portal_accounts");
        let path = dir.join("acces.toml");
        for (name, role, caisse) in [
            ("caisse-a", Role::Caisse, Some(a.as_str())),
            ("caisse-b", Role::Caisse, Some(b.as_str())),
            ("national", Role::National, None),
            ("auditeur", Role::Auditeur, None),
        ] {
            portal::accounts::add_user(&path, name, role, caisse, PASSWORD).unwrap();
        }
        path
    })
}

struct Server {
    base: String,
    dir: PathBuf,
    run: PathBuf,
    run_id: String,
    a: String,
    b: String,
}

impl Server {
    fn log(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }
    fn store(&self) -> PathBuf {
        self.dir.join("retours")
    }
}

/// A portal on its own port and folder, over `run` (the sample run unless given), with
/// lists served for two months counted to `current_month`.
fn start(name: &str, run: Option<&Path>, current_month: &str) -> Server {
    start_with(name, run, current_month, "")
}

/// `start` with `extra` appended to the configuration (sections such as `[tls]`).
fn start_with(name: &str, run: Option<&Path>, current_month: &str, extra: &str) -> Server {
    let dir = scratch(name);
    let run = run.unwrap_or_else(|| sample_run()).to_path_buf();
    let (a, b) = caisses(&run);
    let config = dir.join("portail.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nruns = [{:?}]\naccounts = {:?}\naudit_log = \"journal.jsonl\"\n\
             outcomes = \"retours\"\nlist_months = 2\ncurrent_month = \"{current_month}\"\n{extra}",
            run.display().to_string(),
            accounts().display().to_string(),
        ),
    )
    .unwrap();
    let cfg = PortalConfig::load(&config).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = portal::spawn(cfg, listener).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    Server {
        base: format!(
            "{}://{addr}",
            if extra.contains("[tls]") {
                "https"
            } else {
                "http"
            }
        ),
        dir,
        run,
        run_id: manifest["run_id"].as_str().unwrap().to_string(),
        a,
        b,
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A browser without a cookie jar: the session cookie is carried by hand.
struct Client {
    agent: ureq::Agent,
    base: String,
    cookie: String,
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("the portal answers");
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Reply {
        status: r.status().as_u16(),
        headers,
        body: r
            .body_mut()
            .with_config()
            .limit(200 << 20)
            .read_to_vec()
            .unwrap(),
    }
}

fn hidden_field(page: &str, name: &str) -> String {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no field {name} in {page}"));
    let rest = &page[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_string()
}

impl Client {
    fn anonymous(server: &Server) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            agent,
            base: server.base.clone(),
            cookie: String::new(),
        }
    }

    fn get(&self, path: &str) -> Reply {
        reply(
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .call(),
        )
    }

    fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .send_form(fields.iter().copied()),
        )
    }

    fn post_file(&self, path: &str, csrf: &str, name: &str, content: &[u8]) -> Reply {
        let boundary = "----recours-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"fichier\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        reply(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Cookie", &self.cookie)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .send(&body[..]),
        )
    }

    /// Logs in through the form (its CSRF cookie and field); returns the reply to the POST.
    fn try_login(&mut self, name: &str, password: &str) -> Reply {
        let form = self.get("/connexion");
        assert_eq!(form.status, 200);
        let login_cookie = form
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("recours_connexion="))
            .expect("a login form cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let csrf = hidden_field(&form.text(), "csrf");
        self.cookie = login_cookie;
        let r = self.post_form(
            "/connexion",
            &[("name", name), ("password", password), ("csrf", &csrf)],
        );
        if let Some(c) = r
            .cookies()
            .into_iter()
            .find(|c| c.starts_with("recours_session="))
        {
            self.cookie = c.split(';').next().unwrap().to_string();
        }
        r
    }

    fn login(server: &Server, name: &str) -> Client {
        let mut c = Client::anonymous(server);
        let r = c.try_login(name, PASSWORD);
        assert_eq!(r.status, 303, "login of {name}: {}", r.text());
        assert_eq!(r.header("location"), Some("/accueil"));
        c
    }

    /// The request line sent as is (no client-side cleaning of `..` or `%2e`).
    fn raw_get(&self, path: &str) -> Reply {
        let addr = self.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            self.cookie
        )
        .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let split = text.find("\r\n\r\n").map_or(text.len(), |i| i + 4);
        Reply {
            status,
            headers: Vec::new(),
            body: out[split.min(out.len())..].to_vec(),
        }
    }
}

fn file_url(server: &Server, name: &str) -> String {
    format!("/runs/{}/fichiers/{}", server.run_id, file_id(name))
}

const FORMATS: [&str; 5] = [
    "contacts.xlsx",
    "contacts.csv",
    "contacts-rfc4180.csv",
    "contacts.parquet",
    "LISEZ-MOI.txt",
];

fn people_of(run: &Path, caisse: &str) -> Vec<String> {
    let df = read_parquet(&run.join("lists").join(caisse).join("contacts.parquet"));
    texts(&df, "pseudo_id")
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn log_entries(server: &Server) -> Vec<serde_json::Value> {
    std::fs::read_to_string(server.log())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn portal_refuses_everything_without_login() {
    let s = start("portal_no_login", None, "2025-09");
    let c = Client::anonymous(&s);
    let mut paths = vec![
        "/".to_string(),
        "/accueil".to_string(),
        format!("/caisses/{}", s.a),
        format!("/runs/{}/audit", s.run_id),
        "/lists/summary.csv".to_string(),
        "/manifest.json".to_string(),
    ];
    for f in FORMATS {
        paths.push(file_url(&s, &format!("lists/{}/{f}", s.a)));
    }
    paths.push(file_url(&s, "lists/summary.csv"));
    paths.push(file_url(&s, "manifest.json"));
    for p in &paths {
        let r = c.get(p);
        assert_eq!(r.status, 303, "{p} without login");
        assert_eq!(r.header("location"), Some("/connexion"), "{p}");
        assert!(r.body.is_empty(), "{p} sends nothing");
    }
    // A form posted without a session goes nowhere either.
    let r = c.post_form("/deconnexion", &[("csrf", "x")]);
    assert_eq!(r.status, 303);
    let r = c.post_file(
        &format!("/caisses/{}/runs/{}/retours", s.a, s.run_id),
        "x",
        "r.csv",
        b"pseudo_id\n",
    );
    assert_eq!(r.status, 303);
    assert!(!s.store().exists());
    // Security headers on every page, the login form included.
    let r = c.get("/connexion");
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let cookie = r.cookies()[0].to_string();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
}

#[test]
fn portal_login_is_throttled_and_csrf_checked() {
    let s = start("portal_throttle", None, "2025-09");
    let mut c = Client::anonymous(&s);
    // A login form posted without its cookie (another site's form) is refused.
    let r = c.post_form(
        "/connexion",
        &[("name", "caisse-a"), ("password", PASSWORD), ("csrf", "0")],
    );
    assert_eq!(r.status, 400);
    for _ in 0..5 {
        let r = c.try_login("caisse-a", "mauvais mot de passe");
        assert_eq!(r.status, 401);
        assert!(r.text().contains("Identifiant ou mot de passe incorrect"));
    }
    // Then even the right password is refused for a while.
    let r = c.try_login("caisse-a", PASSWORD);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(
        !r.cookies()
            .iter()
            .any(|c| c.starts_with("recours_session="))
    );
    let outcomes: Vec<String> = log_entries(&s)
        .iter()
        .filter(|e| e["event"] == "connexion")
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        outcomes,
        [
            "refuse", "echec", "echec", "echec", "echec", "echec", "bloque"
        ]
    );
    // The client address is throttled too: another account from it waits as well.
    let r = Client::anonymous(&s).try_login("national", PASSWORD);
    assert_eq!(r.status, 429);
    // Logout needs the session's CSRF token.
    let s = start("portal_logout", None, "2025-09");
    let c = Client::login(&s, "national");
    assert_eq!(c.post_form("/deconnexion", &[("csrf", "faux")]).status, 403);
    let page = c.get("/accueil").text();
    let r = c.post_form("/deconnexion", &[("csrf", &hidden_field(&page, "csrf"))]);
    assert_eq!(r.status, 303);
    assert_eq!(c.get("/accueil").status, 303, "the session is closed");
}

#[test]
fn portal_caisse_gets_its_own_list_and_no_other_by_any_route() {
    let s = start("portal_cross", None, "2025-10");
    let c = Client::login(&s, "caisse-a");
    // Its own page: French, sizes per channel, every format.
    let home = c.get("/accueil");
    assert_eq!(home.status, 303);
    assert_eq!(
        home.header("location"),
        Some(format!("/caisses/{}", s.a).as_str())
    );
    let page = c.get(&format!("/caisses/{}", s.a));
    assert_eq!(page.status, 200);
    let text = page.text();
    for needle in [
        "Liste de septembre 2025",
        "Téléphone",
        "Total à contacter",
        "Excel (XLSX)",
        "CSV standard (RFC 4180)",
        "Parquet",
        "LISEZ-MOI",
        "Liste servie jusqu'à fin octobre 2025",
        "Déposer les retours",
    ] {
        assert!(text.contains(needle), "{needle} in the caisse page");
    }
    let own = people_of(&s.run, &s.a);
    for f in FORMATS {
        let name = format!("lists/{}/{f}", s.a);
        let r = c.get(&file_url(&s, &name));
        assert_eq!(r.status, 200, "{name}");
        let on_disk = std::fs::read(s.run.join(&name)).unwrap();
        assert_eq!(r.body, on_disk, "{name} sent as it is");
        if f == "contacts.csv" {
            assert!(r.text().contains(&own[0]));
        }
    }
    // Nothing of caisse B, the national files or the audit files, by any route.
    let others = people_of(&s.run, &s.b);
    let mut attempts: Vec<String> = vec![
        format!("/caisses/{}", s.b),
        format!("/runs/{}/audit", s.run_id),
    ];
    for f in FORMATS {
        let name = format!("lists/{}/{f}", s.b);
        attempts.push(file_url(&s, &name));
        attempts.push(format!("/runs/{}/fichiers/{name}", s.run_id));
        attempts.push(format!("/{name}"));
        // Another run id, with B's file id and with A's.
        attempts.push(format!(
            "/runs/2025-08-000000000000/fichiers/{}",
            file_id(&name)
        ));
        attempts.push(format!(
            "/runs/2025-08-000000000000/fichiers/{}",
            file_id(&format!("lists/{}/{f}", s.a))
        ));
    }
    for name in [
        "lists/summary.csv",
        "lists/decisions.parquet",
        "lists/campaign-feedback.csv",
        "manifest.json",
        "report/index.html",
        "scores.parquet",
        "eligibility.parquet",
    ] {
        attempts.push(file_url(&s, name));
    }
    let own_xlsx = file_id(&format!("lists/{}/contacts.xlsx", s.a));
    let b_xlsx = format!("lists/{}/contacts.xlsx", s.b);
    let raw_attempts = vec![
        format!("/runs/{}/fichiers/../../{b_xlsx}", s.run_id),
        format!("/runs/{}/fichiers/%2e%2e/%2e%2e/{b_xlsx}", s.run_id),
        format!(
            "/runs/{}/fichiers/..%2F..%2Flists%2F{}%2Fcontacts.xlsx",
            s.run_id, s.b
        ),
        format!(
            "/runs/{}/fichiers/{own_xlsx}%2F..%2F..%2F{}",
            s.run_id,
            file_id(&b_xlsx)
        ),
        format!(
            "/runs/{}/fichiers/{own_xlsx}/../{}",
            s.run_id,
            file_id(&b_xlsx)
        ),
        format!("/runs/..%2F{}/fichiers/{own_xlsx}", s.run_id),
        format!("/caisses/{}%2F..%2F{}", s.a, s.b),
        format!("/caisses/%2e%2e/{}", s.b),
        format!("/caisses/{}/../{}", s.a, s.b),
        format!("//{b_xlsx}"),
        format!("/runs/{}/fichiers/{}%00", s.run_id, file_id(&b_xlsx)),
        format!(
            "/runs/{}/fichiers/{}",
            s.run_id,
            file_id(&b_xlsx).to_uppercase()
        ),
    ];
    let check = |path: &str, r: &Reply| {
        assert_ne!(r.status, 200, "{path} must not be served to caisse A");
        assert!(!r.body.starts_with(b"PK"), "{path}: no workbook");
        assert!(!r.body.starts_with(b"PAR1"), "{path}: no parquet");
        let text = r.text();
        for id in others.iter().take(50) {
            assert!(
                !text.contains(id.as_str()),
                "{path} shows a person of caisse B"
            );
        }
    };
    for p in &attempts {
        check(p, &c.get(p));
        check(p, &c.raw_get(p));
    }
    for p in &raw_attempts {
        check(p, &c.raw_get(p));
    }
    // Nor can A send outcomes for B.
    let csrf = hidden_field(&text, "csrf");
    let r = c.post_file(
        &format!("/caisses/{}/runs/{}/retours", s.b, s.run_id),
        &csrf,
        "r.csv",
        b"pseudo_id;joint\n",
    );
    assert_eq!(r.status, 404);
    // Every download and refusal is in the log, each with the file's hash when known.
    let entries = log_entries(&s);
    let ok: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["event"] == "telechargement" && e["outcome"] == "ok")
        .collect();
    assert_eq!(ok.len(), FORMATS.len());
    assert!(ok.iter().all(|e| e["user"] == "caisse-a"
        && e["caisse"] == s.a.as_str()
        && e["client"] == "127.0.0.1"
        && e["blake3"].as_str().unwrap().len() == 64));
    let refused = entries
        .iter()
        .filter(|e| e["outcome"] == "refuse" && e["user"] == "caisse-a")
        .count();
    assert!(
        refused >= 2 * attempts.len() + raw_attempts.len(),
        "{refused} refusals logged"
    );
    // The national team reaches B's list and the national files.
    let n = Client::login(&s, "national");
    assert!(
        n.get("/accueil")
            .text()
            .contains(&format!("/caisses/{}", s.b))
    );
    assert_eq!(n.get(&file_url(&s, &b_xlsx)).status, 200);
    assert_eq!(n.get(&file_url(&s, "lists/summary.csv")).status, 200);
    assert_eq!(n.get(&format!("/caisses/{}", s.b)).status, 200);
}

#[test]
fn portal_auditor_sees_the_integrity_check_and_no_list() {
    let s = start("portal_auditor", None, "2025-09");
    let c = Client::login(&s, "auditeur");
    let home = c.get("/accueil");
    assert_eq!(home.status, 200);
    assert!(home.text().contains("conforme au manifeste"));
    let audit = c.get(&format!("/runs/{}/audit", s.run_id));
    assert_eq!(audit.status, 200);
    let text = audit.text();
    assert!(text.contains("Chaque fichier produit correspond"));
    assert!(text.contains("Fiche de modèle"));
    assert!(!text.contains("MODIFIÉ"));
    let manifest = c.get(&file_url(&s, "manifest.json"));
    assert_eq!(manifest.status, 200);
    assert_eq!(
        manifest.body,
        std::fs::read(s.run.join("manifest.json")).unwrap()
    );
    assert_eq!(c.get(&file_url(&s, "report/index.html")).status, 200);
    let people = people_of(&s.run, &s.a);
    for caisse in [&s.a, &s.b] {
        assert_eq!(c.get(&format!("/caisses/{caisse}")).status, 404);
        for f in FORMATS {
            let r = c.get(&file_url(&s, &format!("lists/{caisse}/{f}")));
            assert_eq!(r.status, 404);
            assert!(!r.text().contains(&people[0]));
        }
    }
    for name in ["lists/summary.csv", "lists/decisions.parquet"] {
        assert_eq!(c.get(&file_url(&s, name)).status, 404, "{name}");
    }
}

#[test]
fn portal_refuses_an_expired_list() {
    // Lists are served two months: a September list is gone in November.
    let s = start("portal_expired", None, "2025-11");
    let c = Client::login(&s, "caisse-a");
    let page = c.get(&format!("/caisses/{}", s.a)).text();
    assert!(page.contains("Liste expirée depuis fin octobre 2025"));
    assert!(!page.contains("/fichiers/"), "no download link");
    assert!(!page.contains("Déposer les retours"));
    for f in FORMATS {
        let r = c.get(&file_url(&s, &format!("lists/{}/{f}", s.a)));
        assert_eq!(r.status, 410, "{f}");
    }
    let csrf = hidden_field(&page, "csrf");
    let r = c.post_file(
        &format!("/caisses/{}/runs/{}/retours", s.a, s.run_id),
        &csrf,
        "r.csv",
        b"pseudo_id;joint\n",
    );
    assert_eq!(r.status, 410);
}

/// The caisse's excel-fr CSV with outcome columns filled for its first `n` people by
/// `fill(row) -> [joint, demande, droit_ouvert, montant_mensuel, date_contact]`.
fn filled_csv(csv_text: &str, n: usize, fill: impl Fn(usize) -> [&'static str; 5]) -> Vec<u8> {
    let outcome = [
        "joint",
        "demande",
        "droit_ouvert",
        "montant_mensuel",
        "date_contact",
    ];
    let mut lines: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let header = lines[0].clone();
    let at: Vec<usize> = outcome
        .iter()
        .map(|o| {
            match header
                .iter()
                .position(|h| recours::stages::lists::exports::technical_name(h) == Some(o))
            {
                Some(i) => i,
                None => {
                    for l in lines.iter_mut() {
                        l.push(String::new());
                    }
                    *lines[0].last_mut().unwrap() = o.to_string();
                    lines[0].len() - 1
                }
            }
        })
        .collect();
    for (i, l) in lines.iter_mut().skip(1).take(n).enumerate() {
        for (j, v) in fill(i).iter().enumerate() {
            l[at[j]] = v.to_string();
        }
    }
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    for l in &lines {
        w.write_record(l).unwrap();
    }
    let mut out = "\u{feff}".as_bytes().to_vec();
    out.extend(w.into_inner().unwrap());
    out
}

#[test]
fn portal_upload_is_checked_whole_stored_and_read_by_the_next_run() {
    let s = start("portal_upload", None, "2025-10");
    let c = Client::login(&s, "caisse-a");
    let page = c.get(&format!("/caisses/{}", s.a)).text();
    let csrf = hidden_field(&page, "csrf");
    let csv = c
        .get(&file_url(&s, &format!("lists/{}/contacts.csv", s.a)))
        .text();
    let url = format!("/caisses/{}/runs/{}/retours", s.a, s.run_id);
    // One bad answer and one bad amount: the file is refused whole, rows named.
    let bad = filled_csv(&csv, 3, |i| match i {
        0 => ["oui", "oui", "oui", "612,50", "2025-09-23"],
        1 => ["oui", "non", "peut-être", "", "23/09/2025"],
        _ => ["non", "non", "non", "beaucoup", ""],
    });
    let r = c.post_file(&url, &csrf, "retours.csv", &bad);
    assert_eq!(r.status, 422, "{}", r.text());
    let text = r.text();
    assert!(
        text.contains("rien n&#39;a été enregistré") || text.contains("rien n'a été enregistré")
    );
    assert!(
        text.contains("ligne 3, colonne « droit_ouvert » : réponse illisible"),
        "{text}"
    );
    assert!(
        text.contains("ligne 4, colonne « montant_mensuel » : montant illisible"),
        "{text}"
    );
    assert!(!s.store().exists(), "nothing stored");
    // A person of another caisse is refused too.
    let other = people_of(&s.run, &s.b)[0].clone();
    let mut foreign =
        String::from_utf8(filled_csv(&csv, 1, |_| ["oui", "oui", "non", "", ""])).unwrap();
    let first = people_of(&s.run, &s.a);
    let line_1 = foreign.lines().nth(1).unwrap().to_string();
    let id_in_line = first
        .iter()
        .find(|id| line_1.contains(id.as_str()))
        .unwrap();
    foreign = foreign.replacen(id_in_line.as_str(), &other, 1);
    let r = c.post_file(&url, &csrf, "retours.csv", foreign.as_bytes());
    assert_eq!(r.status, 422);
    assert!(r.text().contains("ne figure pas sur la liste"));
    assert!(!s.store().exists());
    // Corrected, it is stored.
    let good = filled_csv(&csv, 3, |i| match i {
        0 => ["oui", "oui", "oui", "612,50", "2025-09-23"],
        1 => ["oui", "non", "non", "", "23/09/2025"],
        _ => ["non", "non", "non", "", ""],
    });
    let r = c.post_file(&url, &csrf, "retours.csv", &good);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Retours enregistrés"));
    let stored = s.store().join(&s.a).join("2025-09.parquet");
    let df = read_parquet(&stored);
    assert!(df.height() >= 3);
    // Dates of contact become months; a row without one takes the list's month.
    assert_eq!(
        texts(&df, "mois_contact")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        ["2025-09"].into_iter().collect()
    );
    // The same outcomes as an XLSX workbook are accepted as well.
    let xlsx = {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let header = [
            "pseudo_id",
            "prestations",
            "canal",
            "joint",
            "demande",
            "droit_ouvert",
            "montant_mensuel",
            "date_contact",
        ];
        for (j, h) in header.iter().enumerate() {
            sheet.write_string(0, j as u16, *h).unwrap();
        }
        let contacts = read_parquet(&s.run.join("lists").join(&s.a).join("contacts.parquet"));
        let ids = texts(&contacts, "pseudo_id");
        let benefits = texts(&contacts, "prestations");
        let canals = texts(&contacts, "canal");
        for i in 0..2 {
            let row = i as u32 + 1;
            sheet.write_string(row, 0, ids[i]).unwrap();
            sheet.write_string(row, 1, benefits[i]).unwrap();
            sheet.write_string(row, 2, canals[i]).unwrap();
            sheet.write_string(row, 3, "oui").unwrap();
            sheet.write_string(row, 4, "oui").unwrap();
            sheet
                .write_string(row, 5, if i == 0 { "oui" } else { "non" })
                .unwrap();
            if i == 0 {
                sheet.write_number(row, 6, 420.5).unwrap();
            }
            sheet.write_string(row, 7, "2025-09-26").unwrap();
        }
        book.save_to_buffer().unwrap()
    };
    let r = c.post_file(&url, &csrf, "retours.xlsx", &xlsx);
    assert_eq!(r.status, 200, "{}", r.text());
    let df = read_parquet(&stored);
    assert!(df.height() >= 2);
    // Uploads are in the log with the stored file's hash.
    let uploads: Vec<serde_json::Value> = log_entries(&s)
        .into_iter()
        .filter(|e| e["event"] == "depot_retours")
        .collect();
    let outcomes: Vec<&str> = uploads
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refuse", "refuse", "ok", "ok"]);
    assert_eq!(uploads[3]["blake3"].as_str().unwrap().len(), 64);
    // The next run reads the store as its `retours` input: the ingest keeps every row.
    let data = crate::common::repo().join("data-samples");
    std::fs::create_dir_all(s.dir.join("next")).unwrap();
    let cfg = crate::common::write_config(&s.dir.join("next"), &data, "parquet", 0.01);
    let written = std::fs::read_to_string(&cfg).unwrap();
    let retours = data.join("retours.parquet").display().to_string();
    assert!(written.contains(&retours));
    std::fs::write(
        &cfg,
        written.replace(&retours, &s.store().display().to_string()),
    )
    .unwrap();
    let o = recours(&["--config", cfg.to_str().unwrap(), "validate"]);
    assert_eq!(code(&o), 0, "{}", crate::common::stderr(&o));
    let q = crate::common::quality(&s.dir.join("next").join("run"));
    let retours = &q["tables"]["retours"];
    assert_eq!(
        retours["rows_kept"].as_u64(),
        Some(df.height() as u64),
        "{retours}"
    );
}

#[test]
fn portal_audit_log_records_every_access_and_detects_tampering() {
    let s = start("portal_log", None, "2025-09");
    let c = Client::login(&s, "caisse-a");
    let mut bad = Client::anonymous(&s);
    assert_eq!(bad.try_login("caisse-b", "faux-mot-de-passe").status, 401);
    assert_eq!(
        c.get(&file_url(&s, &format!("lists/{}/contacts.xlsx", s.a)))
            .status,
        200
    );
    assert_eq!(
        c.get(&file_url(&s, &format!("lists/{}/contacts.xlsx", s.b)))
            .status,
        404
    );
    let events: Vec<(String, String)> = log_entries(&s)
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("demarrage", "ok"),
        ("connexion", "ok"),
        ("connexion", "echec"),
        ("telechargement", "ok"),
        ("telechargement", "refuse"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(events, expected);
    let log = s.log();
    let o = recours(&["audit-log", "verify", log.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", crate::common::stderr(&o));
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let tampered = [
        (
            "changed",
            vec![
                lines[0].clone(),
                lines[1].clone(),
                lines[2].replace("\"echec\"", "\"ok\""),
                lines[3].clone(),
                lines[4].clone(),
            ],
        ),
        (
            "removed",
            vec![
                lines[0].clone(),
                lines[1].clone(),
                lines[3].clone(),
                lines[4].clone(),
            ],
        ),
        (
            "reordered",
            vec![
                lines[0].clone(),
                lines[2].clone(),
                lines[1].clone(),
                lines[3].clone(),
                lines[4].clone(),
            ],
        ),
    ];
    for (what, content) in tampered {
        let copy = s.dir.join(format!("journal-{what}.jsonl"));
        std::fs::write(&copy, content.join("\n") + "\n").unwrap();
        let o = recours(&["audit-log", "verify", copy.to_str().unwrap()]);
        assert_eq!(code(&o), 6, "{what}: {}", crate::common::stderr(&o));
        assert!(
            crate::common::stderr(&o).contains("line"),
            "{what} names the line"
        );
    }
}

#[test]
fn portal_serves_no_file_that_differs_from_the_manifest() {
    let dir = scratch("portal_tampered_run");
    let run = dir.join("run");
    copy_dir(sample_run(), &run);
    let s = start("portal_tampered", Some(&run), "2025-09");
    let c = Client::login(&s, "caisse-a");
    let name = format!("lists/{}/contacts-rfc4180.csv", s.a);
    // Changed after the portal started: hashed again before it is sent, refused.
    let mut text = std::fs::read_to_string(run.join(&name)).unwrap();
    text.push_str("x,y\r\n");
    std::fs::write(run.join(&name), text).unwrap();
    let r = c.get(&file_url(&s, &name));
    assert_eq!(r.status, 503);
    assert!(r.text().contains("modifié depuis le traitement"));
    // A portal started on the changed run serves none of it and tells the auditor.
    let s2 = start("portal_tampered_restart", Some(&run), "2025-09");
    let c2 = Client::login(&s2, "caisse-a");
    assert_eq!(
        c2.get(&file_url(&s2, &format!("lists/{}/contacts.xlsx", s2.a)))
            .status,
        503
    );
    let auditor = Client::login(&s2, "auditeur");
    let page = auditor.get(&format!("/runs/{}/audit", s2.run_id)).text();
    assert!(page.contains("MODIFIÉ"));
    assert!(page.contains(&name));
}

#[test]
fn portal_user_add_writes_a_hash_only() {
    let dir = scratch("portal_user_add");
    let path = dir.join("acces.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recours"))
        .args([
            "user",
            "add",
            "--accounts",
            path.to_str().unwrap(),
            "--name",
            "agent.caf",
            "--role",
            "caisse",
            "--caisse",
            "CAF33",
        ])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"un mot de passe assez long\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", crate::common::stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("name = \"agent.caf\"") && text.contains("$argon2id$"));
    assert!(!text.contains("un mot de passe"));
    let accounts = recours::portal::accounts::Accounts::load(&path).unwrap();
    let a = accounts.find("agent.caf").unwrap();
    assert!(recours::portal::accounts::verify_password(
        "un mot de passe assez long",
        &a.password_hash
    ));
    // The same name twice, or a short password, is refused (exit 2).
    assert!(
        recours::portal::accounts::add_user(
            &path,
            "agent.caf",
            Role::National,
            None,
            "0123456789abcdef"
        )
        .is_err()
    );
    assert!(
        recours::portal::accounts::add_user(&path, "autre", Role::National, None, "court").is_err()
    );
}

/// The portal speaking HTTPS itself: a self-signed certificate made here and named in the
/// `[tls]` section; a client that trusts that certificate only gets the login page over
/// TLS 1.2+ with HSTS, a client that does not trust it gets no connection, and plain HTTP
/// on the same port gets no page.
#[test]
fn portal_speaks_https_with_its_certificate_and_refuses_plain_http() {
    use rustls_pki_types::{CertificateDer, ServerName};
    use std::sync::Arc;
    use tokio_rustls::rustls;

    let dir = scratch("portal_tls_certificate");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    let s = start_with(
        "portal_tls",
        None,
        "2025-09",
        &format!(
            "[tls]\ncertificate = {:?}\nkey = {:?}\n",
            dir.join("cert.pem").display().to_string(),
            dir.join("key.pem").display().to_string()
        ),
    );
    let addr = s.base.strip_prefix("https://").expect("an https address");
    let client = |trusted: bool| {
        let mut roots = rustls::RootCertStore::empty();
        if trusted {
            roots
                .add(CertificateDer::from(made.cert.der().to_vec()))
                .unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let sent = tls
            .write_all(b"GET /connexion HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let mut out = Vec::new();
        let read = sent.and_then(|()| tls.read_to_end(&mut out));
        (read, String::from_utf8_lossy(&out).into_owned())
    };

    let (_, page) = client(true);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "HSTS when the portal terminates TLS: {page}"
    );
    assert!(page.contains("<form"), "the login page: {page}");

    let (refused, page) = client(false);
    assert!(
        refused.is_err() && page.is_empty(),
        "a certificate the client does not trust: no page ({page})"
    );

    let mut plain = std::net::TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    plain
        .write_all(b"GET /connexion HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out);
    assert!(
        !out.starts_with(b"HTTP/"),
        "plain HTTP on the TLS port gets no page: {}",
        String::from_utf8_lossy(&out)
    );
}

/// The caisse page as its agent sees it: the page served to the logged-in caisse account,
/// saved with the portal's style sheet, screenshotted by a headless Chromium (a PNG of the
/// window's size, with content) and printed to PDF on A4. Without a browser the test says
/// so loudly and stops; `.ci/run` makes it mandatory (`RECOURS_REQUIRE_BROWSER=1`).
#[test]
fn portal_caisse_page_screenshot_and_print() {
    use crate::common::{chromium, file_url, is_a4, pdf_pages, pdf_text, print_tools, run_tool};
    let test = "portal_caisse_page_screenshot_and_print";
    let Some(tools) = print_tools(test, true) else {
        return;
    };
    let s = start("portal_screenshot", None, "2025-09");
    let c = Client::login(&s, "caisse-a");
    let page = c.get(&format!("/caisses/{}", s.a));
    assert_eq!(page.status, 200);
    let css = c.get("/style.css");
    assert_eq!(css.status, 200);
    let html = page.text();
    assert!(html.contains("href=\"/style.css\""));
    let dir = scratch("portal_screenshot_files");
    std::fs::write(dir.join("style.css"), &css.body).unwrap();
    let saved = dir.join("caisse.html");
    std::fs::write(
        &saved,
        html.replace("href=\"/style.css\"", "href=\"style.css\""),
    )
    .unwrap();

    let png = dir.join("caisse.png");
    run_tool(
        chromium(&tools.browser, &dir)
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1280,900")
            .arg(file_url(&saved)),
        180,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (1280, 900), "the window's size");
    // A blank 1280 × 900 page compresses to a few kB; text, tables and buttons do not.
    assert!(
        bytes.len() > 15_000,
        "{} bytes: an empty page?",
        bytes.len()
    );

    let pdf = dir.join("caisse.pdf");
    run_tool(
        chromium(&tools.browser, &dir)
            .arg(format!("--print-to-pdf={}", pdf.display()))
            .arg(file_url(&saved)),
        180,
    );
    let pages = pdf_pages(&tools.pdfinfo, &pdf);
    assert!(
        (1..=3).contains(&pages.len()) && pages.iter().all(|&p| is_a4(p, false)),
        "the caisse page prints on one to three A4 pages: {pages:?}"
    );
    let text = crate::common::squeezed(&pdf_text(&tools.pdftotext, &pdf).concat());
    for words in ["Téléphone", "Excel", "LISEZ-MOI"] {
        assert!(text.contains(words), "{words} printed: {text}");
    }
}
