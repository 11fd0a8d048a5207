//! recours: finds people entitled to PPA, RSA or ASPA who do not claim them, and ranks them
//! for the caisses. See ARCHITECTURE.md for the stage pipeline, the code map and the layers:
//! a module imports only from its own layer or the layers listed before it.

pub mod error;
pub mod domain;
pub mod io;
pub mod config;
pub mod tables;
pub mod stages;
pub mod run;
pub mod audit;
pub mod generate;
pub mod bench;
pub mod cli;
