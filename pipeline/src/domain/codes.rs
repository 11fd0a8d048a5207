//! Codes shared by the config, the lists and their exports.

use serde::{Deserialize, Serialize};

/// A contact channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Canal {
    Telephone,
    Sms,
    Email,
    Courrier,
}

impl Canal {
    pub(crate) const ALL: [Canal; 4] =
        [Canal::Telephone, Canal::Sms, Canal::Email, Canal::Courrier];
    pub fn code(self) -> &'static str {
        match self {
            Canal::Telephone => "telephone",
            Canal::Sms => "sms",
            Canal::Email => "email",
            Canal::Courrier => "courrier",
        }
    }
    pub fn from_code(code: &str) -> Option<Canal> {
        Canal::ALL.into_iter().find(|c| c.code() == code)
    }
    /// The words of a channel code (the code itself for one recours does not know).
    pub fn label_of(code: &str) -> &str {
        Canal::from_code(code).map_or(code, |c| c.label())
    }
    /// The channel in words, as a caisse agent reads it.
    pub fn label(self) -> &'static str {
        match self {
            Canal::Telephone => "téléphone",
            Canal::Sms => "SMS",
            Canal::Email => "e-mail",
            Canal::Courrier => "courrier",
        }
    }
    pub fn digital(self) -> bool {
        matches!(self, Canal::Sms | Canal::Email)
    }
}
