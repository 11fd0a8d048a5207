//! What recours knows without reading a file: months, the barèmes' shape, the entitlement
//! formulas, the reference maps, the data contract.

pub mod bareme;
pub mod codes;
pub(crate) mod contract;
pub(crate) mod disclosure;
pub mod entitlement;
pub mod fr;
pub mod month;
pub mod nir;
pub mod reference;
