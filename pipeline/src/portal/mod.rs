//! `recours serve`: the caisse portal, an HTTP service (axum on tokio, optional TLS through
//! rustls) over finished run folders. Each caisse downloads its own lists and sends its
//! campaign outcomes back; the national team sees every caisse; an auditor sees the
//! manifest, the report, the model cards and the integrity check, no list of people.
//! Every login, download, upload and refusal goes to a hash-chained audit log.
//!
//! Modules: `accounts` (accounts file, sessions, throttling), `auditlog` (the chained log
//! and its check), `catalog` (runs and files by id, integrity), `pages` (French HTML),
//! `upload` (outcome files checked against the `retours` contract and stored).

pub mod accounts;
pub mod auditlog;
pub mod catalog;
pub(crate) mod pages;
pub(crate) mod upload;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::month::Month;
use crate::error::{RecoursError, Result};
use accounts::{Accounts, Role, Session, Sessions, Throttle};
use auditlog::{AuditLog, Entry};
use catalog::{Access, Run};

/// The default portal configuration file.
pub const DEFAULT_PORTAL_CONFIG: &str = "config/portail.toml";

/// The portal configuration as written (`config/portail.toml`); paths are relative to the
/// file's folder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPortalConfig {
    listen: String,
    runs: Vec<String>,
    accounts: String,
    audit_log: String,
    outcomes: String,
    list_months: u32,
    #[serde(default = "default_session_minutes")]
    session_minutes: u64,
    #[serde(default)]
    current_month: Option<String>,
    #[serde(default)]
    behind_proxy: bool,
    #[serde(default)]
    tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: String,
    key: String,
}

fn default_session_minutes() -> u64 {
    30
}

/// The checked portal configuration.
#[derive(Clone, Debug)]
pub struct PortalConfig {
    pub listen: SocketAddr,
    pub runs: Vec<PathBuf>,
    pub accounts: PathBuf,
    pub audit_log: PathBuf,
    /// The outcome store: `<outcomes>/<caisse>/<YYYY-MM>.parquet`.
    pub outcomes: PathBuf,
    /// Months a list is served, its own month included.
    pub list_months: u32,
    pub session_minutes: u64,
    /// The month lists' expiry is counted to (default: today's, UTC).
    pub current_month: Option<Month>,
    /// Client addresses from `X-Forwarded-For` (set by the reverse proxy in front).
    pub behind_proxy: bool,
    /// PEM certificate chain and private key: the portal speaks HTTPS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl PortalConfig {
    pub fn load(path: &Path) -> Result<PortalConfig> {
        let err = |message: String| RecoursError::Config {
            file: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let raw: RawPortalConfig = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut problems = Vec::new();
        let listen = raw.listen.parse().unwrap_or_else(|_| {
            problems.push(format!("listen = {:?}: not an address:port", raw.listen));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let current_month = raw.current_month.as_deref().and_then(|m| {
            let parsed = Month::parse(m);
            if parsed.is_none() {
                problems.push(format!("current_month = {m:?}: not YYYY-MM"));
            }
            parsed
        });
        if raw.list_months == 0 {
            problems.push("list_months: at least 1 (the list's own month)".into());
        }
        if raw.runs.is_empty() {
            problems.push("runs: at least one run folder".into());
        }
        if !problems.is_empty() {
            return Err(err(problems.join("; ")));
        }
        Ok(PortalConfig {
            listen,
            runs: raw.runs.iter().map(|r| dir.join(r)).collect(),
            accounts: dir.join(raw.accounts),
            audit_log: dir.join(raw.audit_log),
            outcomes: dir.join(raw.outcomes),
            list_months: raw.list_months,
            session_minutes: raw.session_minutes,
            current_month,
            behind_proxy: raw.behind_proxy,
            tls: raw.tls.map(|t| (dir.join(t.certificate), dir.join(t.key))),
        })
    }
}

/// Everything the handlers share.
pub struct Portal {
    cfg: PortalConfig,
    runs: Vec<Run>,
    accounts: Accounts,
    sessions: Sessions,
    throttle: Throttle,
    log: AuditLog,
    tls: bool,
}

type App = Arc<Portal>;

impl Portal {
    /// Loads the accounts, opens the audit log (refused when its chain is broken) and
    /// checks every run folder against its manifest.
    pub fn load(cfg: PortalConfig) -> Result<Portal> {
        let accounts = Accounts::load(&cfg.accounts)?;
        let log = AuditLog::open(&cfg.audit_log)?;
        let mut runs = Vec::new();
        for root in &cfg.runs {
            let run = catalog::load_run(root)?;
            if runs.iter().any(|r: &Run| r.id == run.id) {
                return Err(RecoursError::Config {
                    file: root.clone(),
                    message: format!("run {} is configured twice", run.id),
                });
            }
            eprintln!(
                "portal: run {} ({}): {}",
                run.id,
                root.display(),
                if run.intact() {
                    "every output matches the manifest: served".to_string()
                } else {
                    format!(
                        "{} output(s) do not match the manifest: NOT served",
                        run.check.mismatches()
                    )
                }
            );
            runs.push(run);
        }
        runs.sort_by(|a, b| b.month.cmp(&a.month).then(a.id.cmp(&b.id)));
        log.append(Entry {
            event: "demarrage".into(),
            outcome: "ok".into(),
            detail: format!("{} traitement(s)", runs.len()),
            ..Entry::default()
        })?;
        Ok(Portal {
            sessions: Sessions::new(Duration::from_secs(cfg.session_minutes * 60)),
            throttle: Throttle::default(),
            tls: cfg.tls.is_some(),
            cfg,
            runs,
            accounts,
            log,
        })
    }

    fn current_month(&self) -> Month {
        self.cfg.current_month.unwrap_or_else(|| {
            let now = auditlog::utc_time(std::time::SystemTime::now());
            Month::parse(&now[..7]).expect("a UTC date starts with YYYY-MM")
        })
    }

    fn run(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.id == id)
    }

    fn list_served(&self, run: &Run) -> bool {
        run.intact() && catalog::list_served(run.month, self.current_month(), self.cfg.list_months)
    }

    /// Appends to the audit log; a log that cannot be written stops the request (no
    /// access goes unrecorded).
    fn record(&self, entry: Entry) -> std::result::Result<(), Box<Response>> {
        self.log.append(entry).map_err(|e| {
            eprintln!("portal: audit log: {e}");
            Box::new(error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "Le journal d'audit ne peut pas être écrit : le service est suspendu.",
            ))
        })
    }
}

/// The router over a loaded portal (the tests serve it on a loopback port).
pub(crate) fn router(portal: Portal) -> Router {
    let app: App = Arc::new(portal);
    Router::new()
        .route("/", get(root))
        .route("/style.css", get(style))
        .route("/connexion", get(login_form).post(login))
        .route("/deconnexion", post(logout))
        .route("/accueil", get(home))
        .route("/caisses/{caisse}", get(caisse_page))
        .route(
            "/caisses/{caisse}/runs/{run}/retours",
            post(upload_outcomes).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/runs/{run}/audit", get(audit_page))
        .route("/runs/{run}/fichiers/{file}", get(download))
        .fallback(not_found)
        .layer(axum::middleware::map_response_with_state(
            app.clone(),
            security_headers,
        ))
        .with_state(app)
}

/// Largest upload accepted (a 1 M-people run's biggest caisse list is far below).
const MAX_UPLOAD: usize = 64 << 20;

/// Serves until the process is stopped.
pub fn serve(cfg: PortalConfig) -> Result<()> {
    let listen = cfg.listen;
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let portal = Portal::load(cfg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RecoursError::io("starting the portal's runtime"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(RecoursError::io(format!("listening on {listen}")))?;
        let addr = listener
            .local_addr()
            .map_err(RecoursError::io("reading the bound address"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        eprintln!("portal: listening on {scheme}://{addr}");
        listen_on(listener, portal, tls).await
    })
}

/// Serves `portal` on `listener`, over TLS when a configuration is given.
async fn listen_on(
    listener: tokio::net::TcpListener,
    portal: Portal,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> Result<()> {
    let app = router(portal).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        Some(tls) => {
            // `tap_io` gives the TLS listener axum's connection info (the client's
            // address) without a type of our own.
            use axum::serve::ListenerExt;
            let listener = TlsListener::start(listener, tls).tap_io(|_| {});
            axum::serve(listener, app)
                .await
                .map_err(RecoursError::io("serving"))
        }
        None => axum::serve(listener, app)
            .await
            .map_err(RecoursError::io("serving")),
    }
}

/// Starts the portal on `listener` in a thread of its own (the tests' in-process server),
/// over TLS when the configuration has a `[tls]` section as `serve` does; returns the
/// address it listens on.
pub fn spawn(cfg: PortalConfig, listener: std::net::TcpListener) -> Result<SocketAddr> {
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    let portal = Portal::load(cfg)?;
    let addr = listener
        .local_addr()
        .map_err(RecoursError::io("reading the bound address"))?;
    listener
        .set_nonblocking(true)
        .map_err(RecoursError::io("listening"))?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the portal's runtime starts");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a bound listener");
            let _ = listen_on(listener, portal, tls).await;
        });
    });
    Ok(addr)
}

fn tls_config(cert: &Path, key: &Path) -> Result<Arc<tokio_rustls::rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |file: &Path, e: String| RecoursError::Config {
        file: file.to_path_buf(),
        message: format!("TLS: {e}"),
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, e.to_string()))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(cert, e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| bad(cert, e.to_string()))?;
    Ok(Arc::new(config))
}

/// TCP connections handshaken in tasks of their own (a slow client does not hold the
/// others), handed to axum once TLS is up.
struct TlsListener {
    addr: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
}

impl TlsListener {
    fn start(
        listener: tokio::net::TcpListener,
        config: Arc<tokio_rustls::rustls::ServerConfig>,
    ) -> TlsListener {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (tx, ready) = tokio::sync::mpsc::channel(256);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let _ = tx.send((stream, peer)).await;
                    }
                });
            }
        });
        TlsListener { addr, ready }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// Headers on every response: no framing, no sniffing, no referrer, nothing cached, a
/// content security policy that allows the portal's own style sheet and forms only, and
/// HSTS when the portal speaks TLS itself.
async fn security_headers(State(app): State<App>, mut res: Response) -> Response {
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(h, "cross-origin-opener-policy", "same-origin");
    if app.tls {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    res
}

const SESSION_COOKIE: &str = "recours_session";
const LOGIN_COOKIE: &str = "recours_connexion";

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    ))
    .expect("cookie values are hex")
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn client(app: &Portal, peer: SocketAddr, headers: &HeaderMap) -> String {
    if app.cfg.behind_proxy {
        // The proxy appends the address it saw last.
        if let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
        {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}

fn session(app: &Portal, headers: &HeaderMap) -> Option<Session> {
    cookie(headers, SESSION_COOKIE).and_then(|t| app.sessions.get(t))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn error_page(status: StatusCode, session: Option<&Session>, text: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Page introuvable",
        StatusCode::GONE => "Liste expirée",
        StatusCode::FORBIDDEN => "Accès refusé",
        StatusCode::TOO_MANY_REQUESTS => "Trop de tentatives",
        _ => "Erreur",
    };
    html(status, pages::message(title, session, text))
}

fn to_login() -> Response {
    Redirect::to("/connexion").into_response()
}

/// An entry about `s`.
fn entry_for(s: &Session, event: &str, outcome: &str, client: String) -> Entry {
    Entry {
        event: event.into(),
        outcome: outcome.into(),
        user: s.user.clone(),
        role: s.role.code().into(),
        caisse: s.caisse.clone().unwrap_or_default(),
        client,
        ..Entry::default()
    }
}

/// A path segment as the log may show it: ids are hex or run ids; anything else the
/// client sent is not written.
fn loggable(segment: &str) -> String {
    if !segment.is_empty()
        && segment.len() <= 64
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !crate::domain::nir::is_nir_like_name(segment)
    {
        segment.to_string()
    } else {
        "(illisible)".to_string()
    }
}

async fn root(State(app): State<App>, headers: HeaderMap) -> Response {
    match session(&app, &headers) {
        Some(_) => Redirect::to("/accueil").into_response(),
        None => to_login(),
    }
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        pages::STYLE,
    )
        .into_response()
}

/// Any other path: the login page without a session, else "not found", logged (the path
/// the client sent is not written).
async fn not_found(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    let mut e = entry_for(&s, "acces_refuse", "refuse", client(&app, peer, &headers));
    e.detail = "page inconnue".into();
    if let Err(r) = app.record(e) {
        return *r;
    }
    error_page(StatusCode::NOT_FOUND, Some(&s), "Cette page n'existe pas.")
}

async fn login_form() -> Response {
    let token = accounts::random_token();
    let mut res = html(StatusCode::OK, pages::login(&token, None));
    res.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, "/connexion", 600),
    );
    res
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let client = client(&app, peer, &headers);
    let form_ok = cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(c, &form.csrf));
    let account = app.accounts.find(&form.name).cloned();
    let mut entry = Entry {
        event: "connexion".into(),
        user: account
            .as_ref()
            .map_or("(compte inconnu)".into(), |a| a.name.clone()),
        role: account
            .as_ref()
            .map_or(String::new(), |a| a.role.code().into()),
        caisse: account
            .as_ref()
            .and_then(|a| a.caisse.clone())
            .unwrap_or_default(),
        client: client.clone(),
        ..Entry::default()
    };
    let retry = |message: &str, status: StatusCode| {
        let token = accounts::random_token();
        let mut res = html(status, pages::login(&token, Some(message)));
        res.headers_mut().insert(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, &token, "/connexion", 600),
        );
        res
    };
    if !form_ok {
        entry.outcome = "refuse".into();
        entry.detail = "jeton de formulaire absent ou invalide".into();
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return retry(
            "Le formulaire a expiré : saisissez à nouveau vos identifiants.",
            StatusCode::BAD_REQUEST,
        );
    }
    let keys = vec![format!("name:{}", form.name), format!("client:{client}")];
    if !app.throttle.allowed(&keys) {
        entry.outcome = "bloque".into();
        entry.detail = "trop d'échecs récents".into();
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return retry(
            "Trop de tentatives échouées : réessayez dans 15 minutes.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let hash = account.as_ref().map_or_else(
        || accounts::decoy_hash().to_string(),
        |a| a.password_hash.clone(),
    );
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    match account {
        Some(account) if matches => {
            app.throttle.succeeded(&keys[..1]);
            entry.outcome = "ok".into();
            if let Err(r) = app.record(entry) {
                return *r;
            }
            let token = app.sessions.open(&account);
            let mut res = Redirect::to("/accueil").into_response();
            let h = res.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &token,
                    "/",
                    app.sessions.lifetime().as_secs(),
                ),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", "/connexion", 0),
            );
            res
        }
        _ => {
            app.throttle.failed(&keys);
            entry.outcome = "echec".into();
            entry.detail = "identifiant ou mot de passe incorrect".into();
            if let Err(r) = app.record(entry) {
                return *r;
            }
            retry(
                "Identifiant ou mot de passe incorrect.",
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    if !same(&s.csrf, &form.csrf) {
        return error_page(StatusCode::FORBIDDEN, Some(&s), "Formulaire invalide.");
    }
    if let Some(t) = cookie(&headers, SESSION_COOKIE) {
        app.sessions.close(t);
    }
    if let Err(r) = app.record(entry_for(
        &s,
        "deconnexion",
        "ok",
        client(&app, peer, &headers),
    )) {
        return *r;
    }
    let mut res = to_login();
    res.headers_mut()
        .insert(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", "/", 0));
    res
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    let runs: Vec<&Run> = app.runs.iter().collect();
    match s.role {
        Role::Caisse => Redirect::to(&format!(
            "/caisses/{}",
            s.caisse.as_deref().unwrap_or_default()
        ))
        .into_response(),
        Role::National => html(StatusCode::OK, pages::national(&s, &runs)),
        Role::Auditeur => html(StatusCode::OK, pages::auditor(&s, &runs)),
    }
}

/// Whether `s` may see caisse `caisse`'s page and lists.
fn sees_caisse(s: &Session, caisse: &str) -> bool {
    match s.role {
        Role::Caisse => s.caisse.as_deref() == Some(caisse),
        Role::National => true,
        Role::Auditeur => false,
    }
}

fn caisse_runs<'a>(
    app: &'a Portal,
    caisse: &str,
    just_uploaded: Option<(&str, std::result::Result<usize, Vec<String>>)>,
) -> Vec<pages::CaisseRun<'a>> {
    let mut just_uploaded = just_uploaded;
    app.runs
        .iter()
        .filter(|r| r.caisses().any(|c| c == caisse))
        .map(|run| {
            let stored =
                std::fs::metadata(upload::stored_path(&app.cfg.outcomes, caisse, run.month))
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .map(|t| {
                        auditlog::utc_time(t)
                            .replace('T', " à ")
                            .replace('Z', " UTC")
                    });
            let mine = just_uploaded.as_ref().is_some_and(|(id, _)| *id == run.id);
            let this_upload = if mine {
                just_uploaded.take().map(|(_, r)| r)
            } else {
                None
            };
            pages::CaisseRun {
                run,
                served: app.list_served(run),
                until: run.month.plus(app.cfg.list_months as i32 - 1),
                stored,
                upload: this_upload,
            }
        })
        .collect()
}

fn caisse_label(app: &Portal, caisse: &str) -> String {
    app.runs
        .iter()
        .find_map(|r| r.reference.caisses.get(caisse).map(|c| c.libelle.clone()))
        .unwrap_or_else(|| caisse.to_string())
}

async fn caisse_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(caisse): axum::extract::Path<String>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    if !sees_caisse(&s, &caisse) {
        let mut e = entry_for(&s, "acces_refuse", "refuse", client(&app, peer, &headers));
        e.detail = format!("page de la caisse {}", loggable(&caisse));
        if let Err(r) = app.record(e) {
            return *r;
        }
        return error_page(StatusCode::NOT_FOUND, Some(&s), "Cette page n'existe pas.");
    }
    let runs = caisse_runs(&app, &caisse, None);
    html(
        StatusCode::OK,
        pages::caisse(&s, &caisse, &caisse_label(&app, &caisse), &runs),
    )
}

async fn audit_page(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path(run): axum::extract::Path<String>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    match (s.role, app.run(&run)) {
        (Role::National | Role::Auditeur, Some(run)) => html(StatusCode::OK, pages::audit(&s, run)),
        _ => {
            let mut e = entry_for(&s, "acces_refuse", "refuse", client(&app, peer, &headers));
            e.run = loggable(&run);
            e.detail = "page d'audit".into();
            if let Err(r) = app.record(e) {
                return *r;
            }
            error_page(StatusCode::NOT_FOUND, Some(&s), "Cette page n'existe pas.")
        }
    }
}

/// Whether `s` may have file `f` of `run`, and if not what it is told.
fn may_download(
    app: &Portal,
    s: &Session,
    run: &Run,
    access: &Access,
) -> std::result::Result<(), (StatusCode, &'static str)> {
    const HIDDEN: (StatusCode, &str) = (StatusCode::NOT_FOUND, "Ce fichier n'existe pas.");
    let allowed = match (s.role, access) {
        (Role::Caisse, Access::Caisse(c)) => s.caisse.as_deref() == Some(c.as_str()),
        (Role::National, _) => true,
        (Role::Auditeur, Access::Audit) => true,
        _ => false,
    };
    if !allowed {
        return Err(HIDDEN);
    }
    if !run.intact() {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "Les fichiers de ce traitement ne correspondent pas à son manifeste : ils ne sont pas servis.",
        ));
    }
    if matches!(access, Access::Caisse(_)) && !app.list_served(run) {
        return Err((
            StatusCode::GONE,
            "Cette liste a expiré : elle n'est plus servie. Travaillez la liste la plus récente.",
        ));
    }
    Ok(())
}

fn content_type(name: &str) -> &'static str {
    use crate::stages::lists::exports::{FORMATS, format_of};
    if let Some(i) = format_of(name) {
        return FORMATS[i].mime;
    }
    match name.rsplit('.').next() {
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("csv") => "text/csv; charset=utf-8",
        Some("parquet") => "application/vnd.apache.parquet",
        Some("txt") | Some("md") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

async fn download(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path((run_id, file_id)): axum::extract::Path<(String, String)>,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    let mut entry = entry_for(&s, "telechargement", "refuse", client(&app, peer, &headers));
    entry.run = loggable(&run_id);
    let found = app
        .run(&run_id)
        .and_then(|run| run.file(&file_id).map(|f| (run, f)));
    let Some((run, f)) = found else {
        entry.file = loggable(&file_id);
        entry.detail = "fichier inconnu".into();
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return error_page(StatusCode::NOT_FOUND, Some(&s), "Ce fichier n'existe pas.");
    };
    entry.file = f.name.clone();
    entry.blake3 = f.blake3.clone();
    if let Err((status, text)) = may_download(&app, &s, run, &f.access) {
        entry.detail = text.into();
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return error_page(status, Some(&s), text);
    }
    let app2 = app.clone();
    let (run_idx, f2) = (
        app.runs.iter().position(|r| r.id == run.id).unwrap_or(0),
        f.clone(),
    );
    let checked = tokio::task::spawn_blocking(move || app2.runs[run_idx].checked_path(&f2))
        .await
        .unwrap_or_else(|e| Err(RecoursError::Internal(e.to_string())));
    let path = match checked {
        Ok(p) => p,
        Err(e) => {
            eprintln!("portal: {}: {e}", f.name);
            entry.detail = "le fichier ne correspond plus au manifeste".into();
            if let Err(r) = app.record(entry) {
                return *r;
            }
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Some(&s),
                "Ce fichier a été modifié depuis le traitement : il n'est pas servi. L'équipe nationale est prévenue par le journal.",
            );
        }
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            eprintln!("portal: {}: {e}", path.display());
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&s),
                "Fichier illisible.",
            );
        }
    };
    entry.outcome = "ok".into();
    if let Err(r) = app.record(entry) {
        return *r;
    }
    let base = f.name.rsplit('/').next().unwrap_or("fichier");
    let shown = match &f.access {
        Access::Caisse(c) => format!("{c}-{}-{base}", run.month),
        _ => format!("{}-{base}", run.month),
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10));
    (
        [
            (header::CONTENT_TYPE, content_type(base).to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{shown}\""),
            ),
            (header::CONTENT_LENGTH, f.size.to_string()),
        ],
        body,
    )
        .into_response()
}

async fn upload_outcomes(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::Path((caisse, run_id)): axum::extract::Path<(String, String)>,
    mut multipart: Multipart,
) -> Response {
    let Some(s) = session(&app, &headers) else {
        return to_login();
    };
    let mut entry = entry_for(&s, "depot_retours", "refuse", client(&app, peer, &headers));
    entry.run = loggable(&run_id);
    let mut csrf = None;
    let mut bytes = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(b) if name == "csrf" => {
                        csrf = Some(String::from_utf8_lossy(&b).into_owned())
                    }
                    Ok(b) if name == "fichier" => bytes = Some(b),
                    Ok(_) => {}
                    Err(_) => {
                        return error_page(
                            StatusCode::BAD_REQUEST,
                            Some(&s),
                            "Envoi interrompu ou trop volumineux.",
                        );
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                return error_page(StatusCode::BAD_REQUEST, Some(&s), "Envoi illisible.");
            }
        }
    }
    if !csrf.is_some_and(|c| same(&c, &s.csrf)) {
        entry.detail = "jeton de formulaire absent ou invalide".into();
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return error_page(
            StatusCode::FORBIDDEN,
            Some(&s),
            "Formulaire invalide : rechargez la page.",
        );
    }
    let run = app.run(&run_id);
    let allowed = s.role == Role::Caisse
        && s.caisse.as_deref() == Some(caisse.as_str())
        && run.is_some_and(|r| r.caisses().any(|c| c == &caisse));
    let Some(run) = run.filter(|_| allowed) else {
        entry.detail = format!("dépôt pour la caisse {}", loggable(&caisse));
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return error_page(StatusCode::NOT_FOUND, Some(&s), "Cette page n'existe pas.");
    };
    if !app.list_served(run) {
        entry.detail = "liste expirée ou non servie".into();
        if let Err(r) = app.record(entry) {
            return *r;
        }
        return error_page(
            StatusCode::GONE,
            Some(&s),
            "Cette liste n'est plus servie : ses retours ne sont plus reçus.",
        );
    }
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            Some(&s),
            "Aucun fichier n'a été joint.",
        );
    };
    let (app2, caisse2, run_idx) = (
        app.clone(),
        caisse.clone(),
        app.runs.iter().position(|r| r.id == run.id).unwrap_or(0),
    );
    let result =
        tokio::task::spawn_blocking(move || store_outcomes(&app2, run_idx, &caisse2, &bytes))
            .await
            .unwrap_or_else(|e| Err(RecoursError::Internal(e.to_string())));
    let (status, outcome) = match result {
        Ok(Ok((rows, path, hash))) => {
            entry.outcome = "ok".into();
            entry.file = upload::stored_path(Path::new(""), &caisse, run.month)
                .to_string_lossy()
                .into_owned();
            entry.blake3 = hash;
            entry.detail = format!("{rows} ligne(s) ; {}", path.display());
            (StatusCode::OK, Ok(rows))
        }
        Ok(Err(upload::Rejected(errors))) => {
            entry.detail = format!("{} erreur(s), rien n'est enregistré", errors.len());
            (StatusCode::UNPROCESSABLE_ENTITY, Err(errors))
        }
        Err(e) => {
            eprintln!("portal: storing outcomes: {e}");
            entry.detail = "erreur interne".into();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Err(vec![
                    "Erreur interne : le fichier n'a pas été enregistré.".to_string(),
                ]),
            )
        }
    };
    if let Err(r) = app.record(entry) {
        return *r;
    }
    let runs = caisse_runs(&app, &caisse, Some((run.id.as_str(), outcome)));
    html(
        status,
        pages::caisse(&s, &caisse, &caisse_label(&app, &caisse), &runs),
    )
}

/// Reads, checks and stores an upload: (rows, stored path, its BLAKE3), or the errors.
fn store_outcomes(
    app: &Portal,
    run_idx: usize,
    caisse: &str,
    bytes: &[u8],
) -> Result<std::result::Result<(usize, PathBuf, String), upload::Rejected>> {
    let run = &app.runs[run_idx];
    let contacts = run
        .files_of(&Access::Caisse(caisse.to_string()))
        .find(|f| f.name.ends_with("contacts.parquet"))
        .ok_or_else(|| RecoursError::Internal(format!("no contacts.parquet for {caisse}")))?;
    let listed = upload::listed_people(&run.checked_path(contacts)?)?;
    let table = match upload::read_upload(bytes) {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    let ctx = upload::Context {
        reference: &run.reference,
        month: run.month,
        listed: &listed,
        amount_bounds: &run.amount_bounds,
    };
    let mut df = match upload::check(&table, &ctx) {
        Ok(df) => df,
        Err(r) => return Ok(Err(r)),
    };
    let rows = df.height();
    let path = upload::store(&app.cfg.outcomes, caisse, run.month, &mut df)?;
    let hash = crate::tables::manifest::Hasher::new(None)
        .record(&path, String::new())?
        .blake3;
    Ok(Ok((rows, path, hash)))
}
