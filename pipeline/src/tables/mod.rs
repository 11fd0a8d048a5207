//! The files of a run folder that more than one stage or command reads.

pub mod manifest;
