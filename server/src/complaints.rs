//! The complaint analysis (docs/adr/0019), pure: complaints counted by the organisation unit
//! they concern, by product and by customer tier, each split by level and by whether they are
//! still open. The console renders what it gives; the rows come from the index (no document is
//! loaded per page view).

use std::collections::BTreeMap;

use fieldsync_core::model::ComplaintLevel;
use fieldsync_core::workflow::Status;

/// What the analysis needs of one complaint (an index row's complaint columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComplaintFacts<'a> {
    /// Its level, if set.
    pub level: Option<ComplaintLevel>,
    /// The organisation unit it concerns ("" when not given).
    pub unit: &'a str,
    /// Its product ("" when unclassified).
    pub product: &'a str,
    /// The customer's tier ("" when none).
    pub tier: &'a str,
    /// Its status.
    pub status: Status,
}

/// One line of a breakdown: a unit, product or tier and its counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The unit, product or tier ("" for none given).
    pub key: String,
    /// Complaints in all.
    pub total: u64,
    /// Of those, per level in [`ComplaintLevel::ALL`] order.
    pub by_level: [u64; 4],
    /// Of those, without a level yet.
    pub unleveled: u64,
    /// Of those, still open (not completed or cancelled).
    pub open: u64,
}

/// The three breakdowns, each most complaints first (ties by key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Complaints in all.
    pub total: u64,
    /// By organisation unit.
    pub by_unit: Vec<Line>,
    /// By product.
    pub by_product: Vec<Line>,
    /// By customer tier.
    pub by_tier: Vec<Line>,
}

impl Analysis {
    /// Counts the complaints.
    pub fn of<'a>(complaints: impl IntoIterator<Item = ComplaintFacts<'a>>) -> Analysis {
        let mut units = BTreeMap::new();
        let mut products = BTreeMap::new();
        let mut tiers = BTreeMap::new();
        let mut total = 0;
        for c in complaints {
            total += 1;
            for (map, key) in [(&mut units, c.unit), (&mut products, c.product), (&mut tiers, c.tier)] {
                let line: &mut Line = map.entry(key.trim().to_owned()).or_default();
                line.total += 1;
                match c.level.and_then(|l| ComplaintLevel::ALL.iter().position(|x| *x == l)) {
                    Some(i) => line.by_level[i] += 1,
                    None => line.unleveled += 1,
                }
                line.open += u64::from(c.status.is_open());
            }
        }
        let lines = |map: BTreeMap<String, Line>| {
            let mut lines: Vec<Line> = map.into_iter().map(|(key, line)| Line { key, ..line }).collect();
            lines.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
            lines
        };
        Analysis { total, by_unit: lines(units), by_product: lines(products), by_tier: lines(tiers) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complaints_are_counted_by_unit_product_and_tier_with_their_levels() {
        let c = |level, unit, product, tier, status| ComplaintFacts { level, unit, product, tier, status };
        let analysis = Analysis::of([
            c(Some(ComplaintLevel::Crisis), "billing", "boiler-x", "gold", Status::Dispatched),
            c(Some(ComplaintLevel::Grumble), "billing", "pump-2", "gold", Status::Completed),
            c(None, "field team", "boiler-x", "", Status::New),
        ]);
        assert_eq!(analysis.total, 3);
        assert_eq!(
            analysis.by_unit[0],
            Line { key: "billing".into(), total: 2, by_level: [0, 1, 0, 1], unleveled: 0, open: 1 }
        );
        assert_eq!(
            analysis.by_unit[1],
            Line { key: "field team".into(), total: 1, by_level: [0; 4], unleveled: 1, open: 1 }
        );
        let products: Vec<(&str, u64)> = analysis.by_product.iter().map(|l| (l.key.as_str(), l.total)).collect();
        assert_eq!(products, [("boiler-x", 2), ("pump-2", 1)]);
        let tiers: Vec<(&str, u64)> = analysis.by_tier.iter().map(|l| (l.key.as_str(), l.total)).collect();
        assert_eq!(tiers, [("gold", 2), ("", 1)]);
        assert_eq!(Analysis::of([]), Analysis::default());
    }
}
