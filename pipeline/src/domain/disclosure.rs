//! Small-cell suppression: the rule by which no count of 1 to `min_cell - 1` people leaves
//! the national team, directly or by subtraction. Every count the report publishes and the
//! past campaign's effect on the lists' operator line go through it.

/// How a suppressed cell reads in every table that leaves the national team ("non
/// diffusé"): fewer than `min_cell` people, or hidden so that such a cell cannot be
/// recovered by subtraction.
pub(crate) const HIDDEN: &str = crate::domain::fr::ND;

/// Small-cell suppression of one set of counts that add up to a published total (a row of a
/// table, the groups of one dimension): counts from 1 to `min_cell - 1` are hidden
/// (primary), and when exactly one is hidden the smallest other non-zero count is hidden
/// too (complementary), so that no hidden count can be recovered by subtraction.
pub(crate) fn suppress_counts(values: &[usize], min_cell: usize) -> Vec<Option<usize>> {
    let small = |n: usize| is_small(n, min_cell);
    let mut out: Vec<Option<usize>> = values.iter().map(|&v| (!small(v)).then_some(v)).collect();
    if out.iter().filter(|v| v.is_none()).count() == 1 {
        let other = values
            .iter()
            .enumerate()
            .filter(|(i, v)| out[*i].is_some() && **v > 0)
            .min_by_key(|(i, v)| (**v, *i))
            .map(|(i, _)| i);
        if let Some(i) = other {
            out[i] = None;
        }
    }
    out
}

/// Small-cell suppression of a table whose row sums and column sums are both published
/// (cells of caisses × channels, with each caisse's total as the last column): primary
/// suppression, then complementary suppression on rows and columns until no row or column
/// has exactly one hidden cell.
pub(crate) fn suppress_table(cells: &[Vec<usize>], min_cell: usize) -> Vec<Vec<Option<usize>>> {
    let small = |n: usize| is_small(n, min_cell);
    let mut out: Vec<Vec<Option<usize>>> = cells
        .iter()
        .map(|r| r.iter().map(|&v| (!small(v)).then_some(v)).collect())
        .collect();
    let width = cells.first().map_or(0, Vec::len);
    // Hides the smallest shown non-zero cell among `at` when exactly one of them is hidden.
    let fix = |out: &mut Vec<Vec<Option<usize>>>, at: &[(usize, usize)]| -> bool {
        if at.iter().filter(|&&(r, c)| out[r][c].is_none()).count() != 1 {
            return false;
        }
        let other = at
            .iter()
            .filter(|&&(r, c)| out[r][c].is_some_and(|v| v > 0))
            .min_by_key(|&&(r, c)| (cells[r][c], r, c));
        match other {
            Some(&(r, c)) => {
                out[r][c] = None;
                true
            }
            None => false,
        }
    };
    loop {
        let mut changed = false;
        for r in 0..cells.len() {
            let at: Vec<(usize, usize)> = (0..width).map(|c| (r, c)).collect();
            changed |= fix(&mut out, &at);
        }
        for c in 0..width {
            let at: Vec<(usize, usize)> = (0..cells.len()).map(|r| (r, c)).collect();
            changed |= fix(&mut out, &at);
        }
        if !changed {
            return out;
        }
    }
}

/// Whether counts that add up to a published total can all be shown: none of them is from
/// 1 to `min_cell - 1` (then [`suppress_counts`] hides none).
pub fn publishable(counts: &[usize], min_cell: usize) -> bool {
    counts.iter().all(|&n| !is_small(n, min_cell))
}

/// A count that may not be shown: from 1 to `min_cell - 1` people.
fn is_small(n: usize, min_cell: usize) -> bool {
    n > 0 && n < min_cell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complementary_suppression_hides_a_second_cell_when_one_would_be_alone() {
        assert_eq!(
            suppress_counts(&[500, 7, 40, 0], 11),
            [Some(500), None, None, Some(0)]
        );
        assert_eq!(
            suppress_counts(&[500, 7, 3, 40], 11),
            [Some(500), None, None, Some(40)]
        );
        assert_eq!(suppress_counts(&[500, 40], 11), [Some(500), Some(40)]);
        assert_eq!(suppress_counts(&[0, 9], 11), [Some(0), None]);
    }

    #[test]
    fn table_suppression_leaves_no_row_or_column_with_a_single_hidden_cell() {
        // caisses × (sms, courrier, total)
        let cells = vec![vec![30, 5, 35], vec![40, 20, 60], vec![50, 30, 80]];
        let s = suppress_table(&cells, 11);
        for r in &s {
            assert_ne!(r.iter().filter(|v| v.is_none()).count(), 1, "{s:?}");
        }
        for c in 0..3 {
            assert_ne!(s.iter().filter(|r| r[c].is_none()).count(), 1, "{s:?}");
        }
        assert_eq!(s[0][1], None);
        assert_eq!(
            (s[0][0], s[1][0], s[1][1], s[2][2]),
            (None, None, None, Some(80))
        );
    }

    #[test]
    fn publishable_counts_are_those_suppression_leaves_whole() {
        for counts in [[0, 9], [11, 0], [11, 12], [10, 500], [0, 0], [1, 40]] {
            let whole = suppress_counts(&counts, 11).iter().all(Option::is_some);
            assert_eq!(publishable(&counts, 11), whole, "{counts:?}");
        }
        assert!(publishable(&[0, 11], 11));
        assert!(!publishable(&[10, 500], 11));
    }
}
