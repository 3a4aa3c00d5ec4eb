//! "Did you mean": the closest of a few known words to a misspelt one. Used by YAML loading,
//! diagnostics and the API lint alike, so it depends on none of them.

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance =
                strsim::damerau_levenshtein(&word_lower, &candidate.to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let limit = (candidate.chars().count().max(word.chars().count()) / 3).max(1);
            *distance <= limit
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}
