//! The auditor's commands: `verify` (replay a run) and `explain` (one person).

pub mod explain;
pub mod verify;
