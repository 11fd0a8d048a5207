//! `scores.parquet`'s rows: every person of a benefit's scoring population with the
//! probability and the reasons the score stage gave. The reasons are indices into the
//! feature dictionary, so the file is written and read back by the score stage
//! (`stages::score`), which also gives them their wording.

/// Contributions kept per score: three are shown, the others stand in when a reason
/// repeats what the entitlement estimate already says.
pub(crate) const TOP_REASONS: usize = 6;

/// One scored (person, benefit) with its reasons.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScoreRow {
    pub pseudo_id: String,
    pub prestation: &'static str,
    pub probabilite: f64,
    pub montant_estime: f64,
    pub candidat_deterministe: bool,
    /// The largest positive contributions, largest first: feature name, contribution, reason.
    pub raisons: Reasons,
    /// The person's row in the run's [`Households`](crate::tables::households::Households) when known (from
    /// [`FeatureTable::person`](crate::tables::features::FeatureTable::person) of a feature table computed in this run); `None` when read
    /// back from `scores.parquet` or scored from a feature table read back.
    pub person: Option<u32>,
}

/// A score's largest positive contributions, largest first, held in place: the feature (its
/// index in the dictionary), whether its "low value" phrase applies, the contribution. 16
/// bytes each, no allocation per score (millions of rows at national scale).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Reasons {
    len: u8,
    items: [(u16, bool, f64); TOP_REASONS],
}

impl Reasons {
    /// Appends a contribution of the dictionary's feature `index`; `low` when its "low
    /// value" phrase applies (see `stages::score::reason`). Beyond [`TOP_REASONS`], ignored.
    pub fn push(&mut self, index: usize, contribution: f64, low: bool) {
        let n = self.len as usize;
        if n == self.items.len() {
            return;
        }
        self.items[n] = (index as u16, low, contribution);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The `k`-th largest: the feature's index in the dictionary, whether its "low value"
    /// phrase applies, the contribution.
    pub(crate) fn item(&self, k: usize) -> Option<(usize, bool, f64)> {
        (k < self.len()).then(|| {
            let (i, low, c) = self.items[k];
            (i as usize, low, c)
        })
    }
}
