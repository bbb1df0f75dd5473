//! The classification taxonomy an admin keeps: the ticket types, products, modules and versions
//! a ticket may be classified with. Pure.

use fieldsync_core::model::Classification;
use serde::{Deserialize, Serialize};

/// One value of a list, with the label people see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stored in documents and the index ("on_site_repair").
    pub value: String,
    /// Shown ("On-site repair"); the value when empty.
    #[serde(default)]
    pub label: String,
}

/// The taxonomy: four lists. Kept in storage as the `taxonomy` setting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Taxonomy {
    /// Ticket types.
    pub types: Vec<Entry>,
    /// Products.
    pub products: Vec<Entry>,
    /// Modules.
    pub modules: Vec<Entry>,
    /// Versions.
    pub versions: Vec<Entry>,
}

/// The ticket types a new installation offers.
pub const DEFAULT_TYPES: [(&str, &str); 9] = [
    ("on_site_repair", "On-site repair"),
    ("installation", "Installation"),
    ("maintenance", "Maintenance"),
    ("inspection", "Inspection"),
    ("consultation", "Consultation"),
    ("bug", "Bug"),
    ("complaint", "Complaint"),
    // What a complaint handler may turn a complaint into, and back (docs/adr/0019).
    ("sales_lead", "Sales lead"),
    ("inquiry", "Inquiry"),
];

impl Default for Taxonomy {
    fn default() -> Self {
        let types = DEFAULT_TYPES.iter().map(|(v, l)| Entry { value: (*v).into(), label: (*l).into() }).collect();
        Taxonomy { types, products: Vec::new(), modules: Vec::new(), versions: Vec::new() }
    }
}

/// A taxonomy or classification that does not hold, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTaxonomy(pub String);

const MAX_ENTRIES: usize = 500;

impl Taxonomy {
    /// The lists with their names, in the classification's order.
    pub fn lists(&self) -> [(&'static str, &[Entry]); 4] {
        [("type", &self.types), ("product", &self.products), ("module", &self.modules), ("version", &self.versions)]
    }

    /// Checks every list: values 1 to 100 printable characters, no white space inside a value,
    /// no value twice, at most 500 per list.
    pub fn validate(&self) -> Result<(), BadTaxonomy> {
        for (name, entries) in self.lists() {
            if entries.len() > MAX_ENTRIES {
                return Err(BadTaxonomy(format!("at most {MAX_ENTRIES} {name} values")));
            }
            let mut seen = std::collections::HashSet::new();
            for e in entries {
                let ok_value = !e.value.is_empty()
                    && e.value.chars().count() <= 100
                    && !e.value.chars().any(|c| c.is_control() || c.is_whitespace());
                if !ok_value {
                    return Err(BadTaxonomy(format!(
                        "{name} value {:?}: 1 to 100 characters, no spaces or control characters",
                        e.value
                    )));
                }
                if e.label.chars().count() > 200 || e.label.chars().any(char::is_control) {
                    return Err(BadTaxonomy(format!("{name} label of {:?} is too long or unprintable", e.value)));
                }
                if !seen.insert(e.value.as_str()) {
                    return Err(BadTaxonomy(format!("{name} value {:?} is listed twice", e.value)));
                }
            }
        }
        Ok(())
    }

    /// Checks a classification against the lists: each field is empty or one of its list's
    /// values. A list an admin left empty accepts nothing but empty.
    pub fn check(&self, classification: &Classification) -> Result<(), BadTaxonomy> {
        for ((name, value), (_, entries)) in classification.fields().into_iter().zip(self.lists()) {
            if !value.is_empty() && !entries.iter().any(|e| e.value == value) {
                let known: Vec<&str> = entries.iter().map(|e| e.value.as_str()).collect();
                return Err(BadTaxonomy(format!("unknown {name} {value:?}; known: {}", known.join(", "))));
            }
        }
        Ok(())
    }

    /// The label of a type value (the value itself when it has none or is unknown).
    pub fn type_label<'a>(&'a self, value: &'a str) -> &'a str {
        self.types.iter().find(|e| e.value == value && !e.label.is_empty()).map_or(value, |e| e.label.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifications_must_come_from_the_lists() {
        let mut taxonomy = Taxonomy::default();
        taxonomy.products.push(Entry { value: "boiler-x".into(), label: "Boiler X".into() });
        assert!(taxonomy.validate().is_ok());
        let ok = Classification { ticket_type: "bug".into(), product: "boiler-x".into(), ..Default::default() };
        assert!(taxonomy.check(&ok).is_ok());
        assert!(taxonomy.check(&Classification::default()).is_ok(), "unclassified is allowed");
        let bad = Classification { ticket_type: "party".into(), ..Default::default() };
        assert!(taxonomy.check(&bad).expect_err("unknown").0.contains("unknown type \"party\""));
        let bad = Classification { module: "pump".into(), ..Default::default() };
        assert!(taxonomy.check(&bad).is_err(), "an empty list accepts nothing");
        assert_eq!(taxonomy.type_label("on_site_repair"), "On-site repair");
    }

    #[test]
    fn bad_lists_are_refused() {
        let mut t = Taxonomy::default();
        t.types.push(Entry { value: "bug".into(), label: String::new() });
        assert!(t.validate().expect_err("twice").0.contains("twice"));
        let t =
            Taxonomy { types: vec![Entry { value: "two words".into(), label: String::new() }], ..Default::default() };
        assert!(t.validate().is_err());
    }
}
