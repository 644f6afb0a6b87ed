//! What a user is findable by, and how values are normalised for finding.
//!
//! Each searchable string field of a user is written as a *search item* keyed by the first
//! characters of its normalised value, so `eq` and `start_with` (at least four characters,
//! contract §6.7) are key lookups, and each tag as a *tag item*. Both are written and removed
//! in the same transaction as the user, so they cannot drift from it.

use crate::domain::user::User;

/// How many leading characters pick a search item's partition: `start_with` needs at least
/// this many, so every prefix query hits exactly one partition.
pub const BUCKET_CHARS: usize = 4;

/// String fields with search items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchField {
    FullName,
    Login,
    Email,
    Phone,
    ExternalId,
    FacebookId,
    TwitterId,
}

impl SearchField {
    pub const ALL: [SearchField; 7] = [
        SearchField::FullName,
        SearchField::Login,
        SearchField::Email,
        SearchField::Phone,
        SearchField::ExternalId,
        SearchField::FacebookId,
        SearchField::TwitterId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SearchField::FullName => "full_name",
            SearchField::Login => "login",
            SearchField::Email => "email",
            SearchField::Phone => "phone",
            SearchField::ExternalId => "external_id",
            SearchField::FacebookId => "facebook_id",
            SearchField::TwitterId => "twitter_id",
        }
    }

    pub fn value_of(self, user: &User) -> Option<&str> {
        match self {
            SearchField::FullName => user.full_name.as_deref(),
            SearchField::Login => user.login.as_deref(),
            SearchField::Email => user.email.as_deref(),
            SearchField::Phone => user.phone.as_deref(),
            SearchField::ExternalId => user.external_id.as_deref(),
            SearchField::FacebookId => user.facebook_id.as_deref(),
            SearchField::TwitterId => user.twitter_id.as_deref(),
        }
    }
}

/// Case-insensitive, trimmed, inner whitespace collapsed, control characters dropped:
/// `"  Dacia   Kail"` → `"dacia kail"`. (Search item keys rely on the last: see
/// [`crate::store::keys::SEARCH_VALUE_END`].)
pub fn normalise(value: &str) -> String {
    let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    collapsed.chars().filter(|c| !c.is_control()).collect()
}

/// The partition part of a normalised value: its first [`BUCKET_CHARS`] characters.
pub fn bucket(normalised: &str) -> &str {
    match normalised.char_indices().nth(BUCKET_CHARS) {
        Some((end, _)) => &normalised[..end],
        None => normalised,
    }
}

/// A tag as matched: tags compare case-insensitively.
pub fn normalise_tag(tag: &str) -> String {
    tag.trim().to_lowercase()
}

impl User {
    /// Every (field, normalised value) this user is findable by.
    pub fn search_entries(&self) -> Vec<(SearchField, String)> {
        SearchField::ALL
            .into_iter()
            .filter_map(|field| field.value_of(self).map(normalise).filter(|v| !v.is_empty()).map(|v| (field, v)))
            .collect()
    }

    /// The user's tags as matched.
    pub fn tag_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.tags.iter().map(|t| normalise_tag(t)).filter(|t| !t.is_empty()).collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_folds_case_and_whitespace() {
        assert_eq!(normalise("  Dacia   Kail "), "dacia kail");
        assert_eq!(normalise("ÉMILE"), "émile");
        assert_eq!(normalise("a\tb\u{1}c\u{7f}"), "a bc");
    }

    #[test]
    fn buckets_are_the_first_four_characters_even_for_multibyte_text() {
        assert_eq!(bucket("hunter"), "hunt");
        assert_eq!(bucket("abc"), "abc");
        assert_eq!(bucket("éèêëx"), "éèêë");
    }

    #[test]
    fn entries_cover_every_present_field_and_tags_are_deduplicated() {
        let user = User {
            login: Some("John".into()),
            full_name: Some("John  Smith".into()),
            phone: Some("".into()),
            tags: vec!["VIP".into(), "vip".into(), "a".into()],
            ..User::default()
        };
        assert_eq!(
            user.search_entries(),
            vec![(SearchField::FullName, "john smith".to_string()), (SearchField::Login, "john".to_string())]
        );
        assert_eq!(user.tag_keys(), vec!["a", "vip"]);
    }
}
