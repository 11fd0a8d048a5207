//! recours: finds people entitled to PPA, RSA or ASPA who do not claim them, and ranks them
//! for the caisses. See ARCHITECTURE.md for the stage pipeline and the code map.

pub mod bareme;
pub mod bench;
pub mod cli;
pub mod config;
pub mod contract;
pub mod eligibility;
pub mod entitlement;
pub mod error;
pub mod evaluation;
pub mod explain;
pub mod exports;
pub mod fairness;
pub mod features;
pub mod feedback;
pub mod frame;
pub mod generate;
pub mod household;
pub mod ingest;
pub mod listing;
pub mod lists;
pub mod manifest;
pub mod modelcard;
pub mod month;
pub mod notebooks;
pub mod output;
pub mod reference;
pub mod report;
pub mod run;
pub mod scoring;
pub mod svg;
pub mod training;
pub mod verify;
