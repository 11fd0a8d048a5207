//! The portal's accounts (`config/acces.toml`: name, role, caisse, argon2id hash; never a
//! password), its server-side sessions and its login throttling.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use serde::Deserialize;

use crate::error::{RecoursError, Result};

/// What an account may see (issue 22): a caisse its own lists; the national team the
/// summary and every caisse; an auditor the manifest, the report, the model cards and the
/// integrity check, but no list of people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Caisse,
    National,
    Auditeur,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Caisse => "caisse",
            Role::National => "national",
            Role::Auditeur => "auditeur",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// The caisse of a `caisse` account (a code of `config/caisses.csv`).
    #[serde(default)]
    pub caisse: Option<String>,
    /// argon2id in the PHC string format.
    pub password_hash: String,
    /// A demonstration account of the bundled sample: never to be deployed.
    #[serde(default)]
    pub demo: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default)]
    account: Vec<Account>,
}

#[derive(Debug)]
pub struct Accounts {
    pub accounts: Vec<Account>,
}

fn config_error(path: &Path, message: impl Into<String>) -> RecoursError {
    RecoursError::Config {
        file: path.to_path_buf(),
        message: message.into(),
    }
}

/// A name usable in the accounts file and the audit log: letters, digits, `-`, `_`, `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Accounts {
    pub fn load(path: &Path) -> Result<Accounts> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(path, format!("cannot read: {e}")))?;
        let file: AccountsFile =
            toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
        let mut problems = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for a in &file.account {
            if !valid_name(&a.name) {
                problems.push(format!(
                    "account {:?}: a name is letters, digits, '-', '_' or '.'",
                    a.name
                ));
            }
            if !seen.insert(a.name.as_str()) {
                problems.push(format!("account {}: listed twice", a.name));
            }
            match (a.role, &a.caisse) {
                (Role::Caisse, None) => problems.push(format!(
                    "account {}: a caisse account names its caisse",
                    a.name
                )),
                (Role::National | Role::Auditeur, Some(_)) => problems.push(format!(
                    "account {}: only a caisse account names a caisse",
                    a.name
                )),
                _ => {}
            }
            if PasswordHash::new(&a.password_hash).is_err() {
                problems.push(format!(
                    "account {}: password_hash is not an argon2 PHC string",
                    a.name
                ));
            }
        }
        if !problems.is_empty() {
            return Err(config_error(path, problems.join("; ")));
        }
        Ok(Accounts {
            accounts: file.account,
        })
    }

    pub fn find(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

/// The argon2id hash (PHC string, random salt) of a password.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| RecoursError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| RecoursError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches the PHC string `hash` (constant-time comparison in argon2).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash that no password matches in practice, checked when the name is unknown so that
/// an unknown name takes as long as a wrong password.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("recours-decoy").unwrap_or_default())
}

/// `recours user add`: appends an account to the accounts file (its comments kept), after
/// checking the name is new; the file is rewritten under a temporary name, then renamed.
pub fn add_user(
    path: &Path,
    name: &str,
    role: Role,
    caisse: Option<&str>,
    password: &str,
) -> Result<()> {
    if !valid_name(name) {
        return Err(config_error(
            path,
            format!("account {name:?}: a name is letters, digits, '-', '_' or '.'"),
        ));
    }
    if password.chars().count() < 12 {
        return Err(config_error(
            path,
            "a password has at least 12 characters".to_string(),
        ));
    }
    let existing = if path.exists() {
        let accounts = Accounts::load(path)?;
        if accounts.find(name).is_some() {
            return Err(config_error(path, format!("account {name} exists already")));
        }
        std::fs::read_to_string(path)
            .map_err(RecoursError::io(format!("reading {}", path.display())))?
    } else {
        String::new()
    };
    let caisse_line = match (role, caisse) {
        (Role::Caisse, Some(c)) if valid_name(c) => format!("caisse = \"{c}\"\n"),
        (Role::Caisse, _) => {
            return Err(config_error(
                path,
                "a caisse account needs --caisse CODE".to_string(),
            ));
        }
        (_, Some(_)) => {
            return Err(config_error(
                path,
                "only a caisse account names a caisse".to_string(),
            ));
        }
        (_, None) => String::new(),
    };
    let hash = hash_password(password)?;
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n[[account]]\nname = \"{name}\"\nrole = \"{}\"\n{caisse_line}password_hash = \"{hash}\"\n",
        role.code()
    ));
    crate::io::output::write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())
            .map_err(RecoursError::io(format!("writing {}", path.display())))
    })?;
    // The file as written must load.
    Accounts::load(path).map(|_| ())
}

/// A random token of 32 bytes, hex (sessions, CSRF).
pub(crate) fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Who is logged in on a session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub user: String,
    pub role: Role,
    pub caisse: Option<String>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    expires: Instant,
}

/// Sessions kept on the server, by a random token the cookie carries; each ends after a
/// fixed lifetime or at logout.
pub(crate) struct Sessions {
    lifetime: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Sessions {
        Sessions {
            lifetime,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for `account`; returns its token.
    pub fn open(&self, account: &Account) -> String {
        let token = random_token();
        let session = Session {
            user: account.name.clone(),
            role: account.role,
            caisse: account.caisse.clone(),
            csrf: random_token(),
            expires: Instant::now() + self.lifetime,
        };
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(token.clone(), session);
        token
    }

    pub fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(token) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }

    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

/// Failed logins allowed per account name and per client address within `WINDOW` before
/// that name or address is refused for `WINDOW`.
pub(crate) const MAX_FAILURES: u32 = 5;
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Login throttling: failures counted per key (`name:…`, `client:…`).
#[derive(Default)]
pub(crate) struct Throttle {
    map: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Whether every key may try now.
    pub fn allowed(&self, keys: &[String]) -> bool {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().all(|k| match map.get(k) {
            Some((n, since)) => *n < MAX_FAILURES || since.elapsed() >= WINDOW,
            None => true,
        })
    }

    pub fn failed(&self, keys: &[String]) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            let e = map.entry(k.clone()).or_insert((0, Instant::now()));
            if e.1.elapsed() >= WINDOW {
                *e = (0, Instant::now());
            }
            e.0 += 1;
        }
    }

    pub(crate) fn succeeded(&self, keys: &[String]) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            map.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterie", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn throttle_refuses_after_max_failures() {
        let t = Throttle::default();
        let keys = vec!["name:a".to_string()];
        for _ in 0..MAX_FAILURES {
            assert!(t.allowed(&keys));
            t.failed(&keys);
        }
        assert!(!t.allowed(&keys));
        assert!(t.allowed(&["name:b".to_string()]));
        t.succeeded(&keys);
        assert!(t.allowed(&keys));
    }
}
