//! The `features` stage: the feature dictionary, computed for each scoring population.

pub mod dictionary;
