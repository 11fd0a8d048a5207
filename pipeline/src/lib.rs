//! recours: finds people entitled to PPA, RSA or ASPA who do not claim them, and ranks them
//! for the caisses. See ARCHITECTURE.md for the stage pipeline and the code map.

pub mod bareme;
pub mod cli;
pub mod config;
pub mod contract;
pub mod eligibility;
pub mod entitlement;
pub mod error;
pub mod generate;
pub mod household;
pub mod ingest;
pub mod month;
pub mod output;
pub mod reference;
pub mod run;
