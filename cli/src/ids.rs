//! Ticket ids as people type them: the whole id, or any prefix that names one ticket.

use crate::CliError;

/// The one id among `known` that `typed` names: itself, or the only id starting with it. An
/// unknown id is passed through unchanged, so the store or server says "no such ticket" in its
/// own words; a prefix shared by several ids is refused with the candidates.
pub fn resolve<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Result<String, CliError> {
    let mut matches = Vec::new();
    for id in known {
        if id == typed {
            return Ok(typed.to_owned());
        }
        if !typed.is_empty() && id.starts_with(typed) {
            matches.push(id);
        }
    }
    match matches.as_slice() {
        [] => Ok(typed.to_owned()),
        [one] => Ok((*one).to_owned()),
        many => {
            let shown: Vec<&str> = many.iter().take(5).copied().collect();
            let more = if many.len() > shown.len() {
                format!(" and {} more", many.len() - shown.len())
            } else {
                String::new()
            };
            Err(CliError(format!(
                "{typed:?} is the start of {} ticket ids ({}{more}): type more of it",
                many.len(),
                shown.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [&str; 3] = ["01jc7a-boiler", "01jc7b-pump", "01jd00-lift"];

    #[test]
    fn a_unique_prefix_names_its_ticket() {
        assert_eq!(resolve("01jd", IDS).expect("resolved"), "01jd00-lift");
        assert_eq!(resolve("01jc7b", IDS).expect("resolved"), "01jc7b-pump");
        assert_eq!(resolve("01jc7a-boiler", IDS).expect("resolved"), "01jc7a-boiler");
    }

    #[test]
    fn a_shared_prefix_is_refused_with_the_candidates_and_an_unknown_id_passes_through() {
        let err = resolve("01jc", IDS).expect_err("refused").0;
        assert!(err.contains("01jc7a-boiler") && err.contains("01jc7b-pump") && err.contains("type more"), "{err}");
        assert_eq!(resolve("zz", IDS).expect("resolved"), "zz");
        assert_eq!(resolve("", IDS).expect("resolved"), "");
    }
}
