//! The `GET /users/v2` query language (contract §6.7): fields, operators, the rules that make
//! every query start from an index, and how a user matches.
//!
//! Stand-alone fields (`id` and the string fields) take primary operators (`eq`, `in`,
//! `start_with`) and `nin`; dates are additional fields and take compare operators only;
//! `user_tags` may be either. A query needs at least one stand-alone field (or `user_tags`)
//! with a primary operator, and `start_with` needs four characters and caps the page at five.

use std::cmp::Ordering;

use serde_json::Value;

use crate::domain::dates::parse_date;
use crate::domain::search::{normalise, normalise_tag};
use crate::domain::search_budget::{MAX_OFFSET, too_deep};
use crate::domain::user::User;
use crate::error::ApiError;
use crate::params::{Field, scalar_text};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 100;
/// `start_with` pages hold at most five users.
pub const START_WITH_LIMIT: usize = 5;
pub const START_WITH_MIN_CHARS: usize = 4;
/// Most values one `in` or `nin` list may carry.
pub const MAX_LIST_VALUES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryField {
    Id,
    Login,
    Email,
    FullName,
    Phone,
    ExternalId,
    FacebookId,
    TwitterId,
    UserTags,
    LastRequestAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    StandAlone,
    Tags,
    Date,
}

impl QueryField {
    pub const ALL: [QueryField; 12] = [
        QueryField::Id,
        QueryField::Login,
        QueryField::Email,
        QueryField::FullName,
        QueryField::Phone,
        QueryField::ExternalId,
        QueryField::FacebookId,
        QueryField::TwitterId,
        QueryField::UserTags,
        QueryField::LastRequestAt,
        QueryField::CreatedAt,
        QueryField::UpdatedAt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueryField::Id => "id",
            QueryField::Login => "login",
            QueryField::Email => "email",
            QueryField::FullName => "full_name",
            QueryField::Phone => "phone",
            QueryField::ExternalId => "external_id",
            QueryField::FacebookId => "facebook_id",
            QueryField::TwitterId => "twitter_id",
            QueryField::UserTags => "user_tags",
            QueryField::LastRequestAt => "last_request_at",
            QueryField::CreatedAt => "created_at",
            QueryField::UpdatedAt => "updated_at",
        }
    }

    pub fn parse(name: &str) -> Option<QueryField> {
        QueryField::ALL.into_iter().find(|f| f.name() == name)
    }

    fn kind(self) -> FieldKind {
        match self {
            QueryField::UserTags => FieldKind::Tags,
            QueryField::LastRequestAt | QueryField::CreatedAt | QueryField::UpdatedAt => FieldKind::Date,
            _ => FieldKind::StandAlone,
        }
    }

    fn text_of(self, user: &User) -> Option<&str> {
        match self {
            QueryField::Login => user.login.as_deref(),
            QueryField::Email => user.email.as_deref(),
            QueryField::FullName => user.full_name.as_deref(),
            QueryField::Phone => user.phone.as_deref(),
            QueryField::ExternalId => user.external_id.as_deref(),
            QueryField::FacebookId => user.facebook_id.as_deref(),
            QueryField::TwitterId => user.twitter_id.as_deref(),
            _ => None,
        }
    }

    /// The longest value the field can hold (a user could not be stored with a longer one),
    /// in characters; a longer search value is refused before any read.
    fn max_chars(self) -> usize {
        use crate::domain::user_input::{EMAIL_MAX, IDENTIFIER_MAX, LOGIN_MAX, NAME_MAX, PHONE_MAX, TAG_MAX};
        match self {
            QueryField::Login => LOGIN_MAX,
            QueryField::Email => EMAIL_MAX,
            QueryField::FullName => NAME_MAX,
            QueryField::Phone => PHONE_MAX,
            QueryField::UserTags => TAG_MAX,
            QueryField::ExternalId | QueryField::FacebookId | QueryField::TwitterId => IDENTIFIER_MAX,
            // Ids are integers and dates are parsed: a long value fails to parse. A JavaScript
            // `Date` string with its zone's name runs to about 80 characters.
            QueryField::Id => 64,
            QueryField::LastRequestAt | QueryField::CreatedAt | QueryField::UpdatedAt => 128,
        }
    }

    fn date_of(self, user: &User) -> Option<i64> {
        match self {
            QueryField::CreatedAt => Some(user.created_at),
            QueryField::UpdatedAt => Some(user.updated_at),
            QueryField::LastRequestAt => user.last_request_at,
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    In,
    StartWith,
    Nin,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Operator {
    fn parse(name: &str) -> Option<Operator> {
        Some(match name {
            "eq" => Operator::Eq,
            "in" => Operator::In,
            "start_with" => Operator::StartWith,
            "nin" => Operator::Nin,
            "gt" => Operator::Gt,
            "lt" => Operator::Lt,
            "gte" => Operator::Gte,
            "lte" => Operator::Lte,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::In => "in",
            Operator::StartWith => "start_with",
            Operator::Nin => "nin",
            Operator::Gt => "gt",
            Operator::Lt => "lt",
            Operator::Gte => "gte",
            Operator::Lte => "lte",
        }
    }

    pub fn is_primary(self) -> bool {
        matches!(self, Operator::Eq | Operator::In | Operator::StartWith)
    }

    fn is_compare(self) -> bool {
        matches!(self, Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte)
    }
}

/// A typed operand: ids are integers, dates Unix seconds, text normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Int(i64),
    Text(String),
    Date(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: QueryField,
    pub op: Operator,
    pub operands: Vec<Operand>,
    /// The values as sent, trimmed: what a login or email names exactly (its marker), where
    /// the operands are normalised for matching ("a\u{a0}b" and "a b" match alike, but
    /// are two logins).
    pub sent: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub field: QueryField,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    pub conditions: Vec<Condition>,
    pub limit: usize,
    pub offset: usize,
    pub sort: Sort,
}

fn rule(message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(message.into())
}

impl UserQuery {
    /// Parses the query-string tree of `GET /users/v2`, enforcing every rule of §6.7.
    /// Parameters that are not fields (or paging and sorting) are ignored.
    pub fn parse(params: &Value) -> Result<UserQuery, ApiError> {
        let fields = Field::of(params);
        let mut conditions = Vec::new();
        if let Some(map) = params.as_object() {
            for (name, value) in map {
                if let Some(field) = QueryField::parse(name) {
                    conditions.extend(parse_conditions(field, value)?);
                }
            }
        }
        let primary = conditions.iter().any(|c| c.field.kind() != FieldKind::Date && c.op.is_primary());
        if !primary {
            return Err(rule(
                "At least one of id, login, email, full_name, phone, external_id, facebook_id, twitter_id or user_tags must be filtered with eq, in or start_with (nin or date filters alone are not enough)",
            ));
        }
        let mut limit = match fields.get("limit").integer() {
            Err(_) => return Err(rule("limit must be an integer")),
            Ok(None) => DEFAULT_LIMIT,
            Ok(Some(n)) if n < 1 => return Err(rule("limit must be at least 1")),
            Ok(Some(n)) => (n as usize).min(MAX_LIMIT),
        };
        if conditions.iter().any(|c| c.op == Operator::StartWith) {
            limit = limit.min(START_WITH_LIMIT);
        }
        let offset = match fields.get("offset").integer() {
            Err(_) => return Err(rule("offset must be an integer")),
            Ok(None) => 0,
            Ok(Some(n)) if n < 0 => return Err(rule("offset must not be negative")),
            Ok(Some(n)) if n as u64 > MAX_OFFSET as u64 => return Err(too_deep("offset")),
            Ok(Some(n)) => n as usize,
        };
        let sort = parse_sort(fields)?;
        Ok(UserQuery { conditions, limit, offset, sort })
    }

    /// Whether `user` satisfies every condition.
    pub fn matches(&self, user: &User) -> bool {
        self.conditions.iter().all(|c| c.matches(user))
    }

    /// Orders users by the sort field (absent values last), then by id; descending reverses
    /// both, as an index read backwards does (search pages come from indexes in either way).
    pub fn order(&self, users: &mut [User]) {
        let sort = self.sort;
        users.sort_by(|a, b| {
            let ordering = compare_field(sort.field, a, b).then(a.id.cmp(&b.id));
            if sort.descending { ordering.reverse() } else { ordering }
        });
    }
}

fn parse_sort(fields: Field<'_>) -> Result<Sort, ApiError> {
    let (name, descending) = match (fields.get("sort_desc").non_blank(), fields.get("sort_asc").non_blank()) {
        (Some(name), _) => (name, true),
        (None, Some(name)) => (name, false),
        (None, None) => return Ok(Sort { field: QueryField::Id, descending: false }),
    };
    let field = QueryField::parse(name.trim()).filter(|f| *f != QueryField::UserTags);
    let field = field.ok_or_else(|| rule(format!("Cannot sort by '{}'", name.chars().take(40).collect::<String>())))?;
    Ok(Sort { field, descending })
}

fn parse_conditions(field: QueryField, value: &Value) -> Result<Vec<Condition>, ApiError> {
    let by_operator: Vec<(Operator, &Value)> = match value {
        Value::Object(map) => {
            let mut pairs = Vec::new();
            for (name, operand) in map {
                let op = Operator::parse(name).ok_or_else(|| {
                    rule(format!(
                        "Unknown operator '{}' on {}",
                        name.chars().take(20).collect::<String>(),
                        field.name()
                    ))
                })?;
                pairs.push((op, operand));
            }
            pairs
        }
        Value::Array(_) => vec![(Operator::In, value)],
        _ => vec![(Operator::Eq, value)],
    };
    by_operator.into_iter().map(|(op, operand)| condition(field, op, operand)).collect()
}

fn condition(field: QueryField, op: Operator, value: &Value) -> Result<Condition, ApiError> {
    match field.kind() {
        FieldKind::Date if !op.is_compare() => {
            return Err(rule(format!(
                "{} is an additional field: filter it with gt, lt, gte or lte, beside a primary filter",
                field.name()
            )));
        }
        FieldKind::StandAlone | FieldKind::Tags if op.is_compare() => {
            return Err(rule(format!(
                "{} does not take the {} operator: compare operators are for dates",
                field.name(),
                op.name()
            )));
        }
        FieldKind::Tags if op == Operator::StartWith => {
            return Err(rule("user_tags does not take start_with: tags match whole"));
        }
        _ if op == Operator::StartWith && field == QueryField::Id => {
            return Err(rule("id does not take start_with"));
        }
        _ => {}
    }
    let raw: Vec<String> = match op {
        Operator::In | Operator::Nin => Field::of(value).list().unwrap_or_default(),
        _ => scalar_text(value).into_iter().collect(),
    };
    let raw: Vec<String> = raw.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if raw.is_empty() {
        return Err(rule(format!("{}[{}] needs a value", field.name(), op.name())));
    }
    if raw.len() > MAX_LIST_VALUES {
        return Err(rule(format!("{}[{}] takes at most {MAX_LIST_VALUES} values", field.name(), op.name())));
    }
    let max = field.max_chars();
    if raw.iter().any(|v| v.len() > max * 4 || v.chars().count() > max) {
        return Err(rule(format!("{} is too long (maximum is {max} characters)", field.name())));
    }
    if op == Operator::StartWith && raw[0].chars().count() < START_WITH_MIN_CHARS {
        return Err(rule(format!("start_with needs at least {START_WITH_MIN_CHARS} characters")));
    }
    let operands = raw
        .iter()
        .map(|text| match field.kind() {
            FieldKind::Date => parse_date(text).map(Operand::Date).ok_or_else(|| {
                rule(format!("{} needs a date (ISO-8601, Unix seconds or a JavaScript date)", field.name()))
            }),
            FieldKind::Tags => Ok(Operand::Text(normalise_tag(text))),
            FieldKind::StandAlone if field == QueryField::Id => {
                text.parse::<i64>().map(Operand::Int).map_err(|_| rule("id values must be integers"))
            }
            FieldKind::StandAlone => Ok(Operand::Text(normalise(text))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Counted again once normalised: "a  b" is "a b", three characters, whose items are in
    // no one partition of four.
    let short = |o: &Operand| matches!(o, Operand::Text(t) if t.chars().count() < START_WITH_MIN_CHARS);
    if op == Operator::StartWith && operands.iter().any(short) {
        return Err(rule(format!("start_with needs at least {START_WITH_MIN_CHARS} characters")));
    }
    Ok(Condition { field, op, operands, sent: raw })
}

impl Condition {
    /// A condition on a text field (or tags) with values already normalised.
    pub fn text(field: QueryField, op: Operator, values: Vec<String>) -> Condition {
        Condition { field, op, operands: values.iter().cloned().map(Operand::Text).collect(), sent: values }
    }

    /// Whether `user` satisfies this condition.
    pub fn matches(&self, user: &User) -> bool {
        match self.field.kind() {
            FieldKind::Date => {
                let Some(value) = self.field.date_of(user) else { return false };
                self.operands.iter().all(|operand| match operand {
                    Operand::Date(bound) => match self.op {
                        Operator::Gt => value > *bound,
                        Operator::Lt => value < *bound,
                        Operator::Gte => value >= *bound,
                        Operator::Lte => value <= *bound,
                        _ => false,
                    },
                    _ => false,
                })
            }
            FieldKind::Tags => {
                let tags = user.tag_keys();
                let any = self.operands.iter().any(|o| matches!(o, Operand::Text(t) if tags.contains(t)));
                if self.op == Operator::Nin { !any } else { any }
            }
            FieldKind::StandAlone => {
                let hit = |operand: &Operand| match (self.field, operand) {
                    (QueryField::Id, Operand::Int(id)) => user.id == *id,
                    (field, Operand::Text(text)) => field.text_of(user).map(normalise).is_some_and(|v| match self.op {
                        Operator::StartWith => v.starts_with(text.as_str()),
                        _ => v == *text,
                    }),
                    _ => false,
                };
                let any = self.operands.iter().any(hit);
                if self.op == Operator::Nin { !any } else { any }
            }
        }
    }
}

fn compare_field(field: QueryField, a: &User, b: &User) -> Ordering {
    fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    match field.kind() {
        FieldKind::Date => nulls_last(field.date_of(a), field.date_of(b)),
        _ if field == QueryField::Id => a.id.cmp(&b.id),
        _ => nulls_last(field.text_of(a).map(normalise), field.text_of(b).map(normalise)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_urlencoded;

    fn parse(query: &str) -> Result<UserQuery, ApiError> {
        UserQuery::parse(&parse_urlencoded(query.as_bytes()).unwrap())
    }

    fn message(query: &str) -> String {
        parse(query).unwrap_err().body().to_string()
    }

    #[test]
    fn the_documented_valid_queries_parse() {
        for query in [
            "id=51946",
            "id[in][]=1&id[in][]=2&last_request_at[gt]=2018-12-06T09:21:41Z",
            "user_tags=guest&created_at[lt]=1690886495",
            "full_name[start_with]=hunter&id[nin][]=68647",
            "login[in]=a,b,c",
            "user_tags[in][]=vip&user_tags[nin][]=banned",
        ] {
            assert!(parse(query).is_ok(), "{query}: {:?}", parse(query));
        }
    }

    #[test]
    fn the_documented_invalid_queries_say_which_rule() {
        assert!(message("login[nin][]=admin19").contains("At least one of"));
        assert!(message("user_tags[nin][]=guest").contains("At least one of"));
        assert!(message("id=1&last_request_at=2018-12-06T09:21:41Z").contains("additional field"));
        assert!(message("created_at[gte]=1690886495").contains("At least one of"));
        assert!(message("login[start_with]=vip").contains("at least 4 characters"));
        assert!(message("full_name[start_with]=a%20%20b").contains("at least 4 characters"));
        assert!(message("id[gt]=5").contains("compare operators are for dates"));
        assert!(message("id=1&bogus_field=2&login[like]=x").contains("Unknown operator"));
        assert!(message("id=abc").contains("integers"));
        assert!(message("id=1&created_at[gt]=someday").contains("needs a date"));
        assert!(message("id=1&sort_desc=custom_data").contains("Cannot sort"));
    }

    #[test]
    fn start_with_caps_the_page_at_five_and_limits_are_clamped() {
        assert_eq!(parse("full_name[start_with]=hunt&limit=50").unwrap().limit, 5);
        assert_eq!(parse("id=1&limit=500").unwrap().limit, 100);
        assert_eq!(parse("id=1").unwrap().limit, 100);
        assert_eq!(parse("id=1&offset=20").unwrap().offset, 20);
        assert_eq!(parse("id=1&offset=1000").unwrap().offset, 1000);
        assert!(message("id=1&offset=1001").contains("offset is too deep"));
        assert!(message("id=1&limit=0").contains("limit"));
    }

    #[test]
    fn values_longer_than_the_field_can_hold_are_refused() {
        assert!(message(&format!("login={}", "a".repeat(71))).contains("login is too long (maximum is 70 characters)"));
        assert!(message(&format!("email={}", "a".repeat(3000))).contains("email is too long"));
        assert!(message(&format!("user_tags={}", "é".repeat(65))).contains("user_tags is too long"));
        assert!(message(&format!("id[in][]={}", "1".repeat(65))).contains("id is too long"));
        parse(&format!("full_name={}", "é".repeat(255))).expect("the longest name is a valid search");
        let js_date = "Fri Nov 10 2017 01:00:00 GMT+0100 (Central European Standard Time)";
        let encoded: String = form_urlencoded::byte_serialize(js_date.as_bytes()).collect();
        parse(&format!("login=a&created_at[gt]={encoded}")).expect("a JavaScript date with its zone's name");
    }

    #[test]
    fn in_lists_are_capped() {
        let many = (0..=MAX_LIST_VALUES).map(|i| format!("id[in][]={i}")).collect::<Vec<_>>().join("&");
        assert!(message(&many).contains("at most 100 values"));
    }

    #[test]
    fn conditions_match_users() {
        let user = User {
            id: 7,
            login: Some("John".into()),
            full_name: Some("Hunter  Smith".into()),
            tags: vec!["VIP".into()],
            created_at: 1000,
            last_request_at: None,
            ..User::default()
        };
        let yes = [
            "login=john",
            "full_name[start_with]=hunter",
            "user_tags=vip",
            "id[in][]=6&id[in][]=7",
            "id=7&created_at[gte]=1000",
        ];
        for query in yes {
            assert!(parse(query).unwrap().matches(&user), "{query}");
        }
        let no = [
            "login=jon",
            "id=7&user_tags[nin][]=vip",
            "id=7&created_at[gt]=1000",
            "id=7&last_request_at[lt]=5000",
            "login=john&id[nin][]=7",
        ];
        for query in no {
            assert!(!parse(query).unwrap().matches(&user), "{query}");
        }
    }

    #[test]
    fn ordering_puts_missing_values_last_and_breaks_ties_by_id() {
        let users = |values: &[(i64, Option<&str>)]| -> Vec<User> {
            values
                .iter()
                .map(|(id, name)| User { id: *id, full_name: name.map(String::from), ..User::default() })
                .collect()
        };
        let mut list = users(&[(3, Some("b")), (1, None), (2, Some("a")), (4, Some("b"))]);
        parse("id[in][]=1&sort_asc=full_name").unwrap().order(&mut list);
        assert_eq!(list.iter().map(|u| u.id).collect::<Vec<_>>(), [2, 3, 4, 1]);
        parse("id[in][]=1&sort_desc=id").unwrap().order(&mut list);
        assert_eq!(list.iter().map(|u| u.id).collect::<Vec<_>>(), [4, 3, 2, 1]);
    }
}
