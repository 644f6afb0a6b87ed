//! The deprecated V1 listing language (contract §6.8): `filter[]=<type> <field> <op> <value>`
//! and `order=<asc|desc> <type> <field>`.

use std::cmp::Ordering;

use crate::domain::dates::parse_date;
use crate::domain::user::{UniqueField, User};
use crate::error::ApiError;

const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Lt,
    Ge,
    Le,
    Eq,
    Ne,
    Between,
    In,
}

/// The value of a user field as V1 compares it.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum FieldValue {
    Number(i64),
    Text(String),
}

/// Fields V1 may filter and order by: every user field except `custom_data`.
const FIELDS: &[&str] = &[
    "id",
    "login",
    "email",
    "full_name",
    "phone",
    "website",
    "created_at",
    "updated_at",
    "last_request_at",
    "external_user_id",
    "external_id",
    "facebook_id",
    "twitter_id",
    "blob_id",
    "avatar",
    "user_tags",
    "timezone",
];

fn field_value(user: &User, field: &str) -> Option<FieldValue> {
    let text = |v: &Option<String>| v.clone().map(FieldValue::Text);
    match field {
        "id" => Some(FieldValue::Number(user.id)),
        "login" => text(&user.login),
        "email" => text(&user.email),
        "full_name" => text(&user.full_name),
        "phone" => text(&user.phone),
        "website" => text(&user.website),
        "created_at" => Some(FieldValue::Number(user.created_at)),
        "updated_at" => Some(FieldValue::Number(user.updated_at)),
        "last_request_at" => user.last_request_at.map(FieldValue::Number),
        "external_user_id" => user.external_user_id.map(FieldValue::Number),
        "external_id" => text(&user.external_id),
        "facebook_id" => text(&user.facebook_id),
        "twitter_id" => text(&user.twitter_id),
        "blob_id" => user.blob_id.map(FieldValue::Number),
        "avatar" => text(&user.avatar),
        "user_tags" => (!user.tags.is_empty()).then(|| FieldValue::Text(user.tags.join(","))),
        "timezone" => user.timezone.map(FieldValue::Number),
        _ => None,
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(message.into())
}

fn known_field(field: &str) -> Result<&str, ApiError> {
    if FIELDS.contains(&field) {
        Ok(field)
    } else {
        Err(invalid(format!("Cannot filter or order by '{}'", field.chars().take(40).collect::<String>())))
    }
}

fn kind(name: &str) -> Result<Kind, ApiError> {
    match name {
        "number" => Ok(Kind::Number),
        "string" => Ok(Kind::Text),
        "date" => Ok(Kind::Date),
        other => Err(invalid(format!(
            "Unknown filter type '{}': use number, string or date",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

/// One `filter[]` term.
#[derive(Debug, Clone, PartialEq)]
pub struct V1Filter {
    field: String,
    kind: Kind,
    op: Op,
    values: Vec<FieldValue>,
}

impl V1Filter {
    /// Parses `<type> <field> <op> <value>`; `between` and `in` take comma lists.
    pub fn parse(text: &str) -> Result<V1Filter, ApiError> {
        let mut parts = text.trim().splitn(4, ' ');
        let (Some(kind_name), Some(field), Some(op), Some(value)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("A filter is '<type> <field> <operator> <value>'"));
        };
        let kind = kind(kind_name)?;
        let field = known_field(field)?.to_string();
        let op = match op {
            "gt" => Op::Gt,
            "lt" => Op::Lt,
            "ge" => Op::Ge,
            "le" => Op::Le,
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "between" => Op::Between,
            "in" => Op::In,
            other => {
                return Err(invalid(format!(
                    "Unknown filter operator '{}'",
                    other.chars().take(20).collect::<String>()
                )));
            }
        };
        let raw: Vec<&str> = if matches!(op, Op::Between | Op::In) { value.split(',').collect() } else { vec![value] };
        if op == Op::Between && raw.len() != 2 {
            return Err(invalid("between takes two comma-separated values"));
        }
        if raw.len() > crate::domain::user_query::MAX_LIST_VALUES {
            return Err(invalid("in takes at most 100 values"));
        }
        let values = raw
            .iter()
            .map(|v| {
                let v = v.trim();
                match kind {
                    Kind::Number => v
                        .parse::<i64>()
                        .map(FieldValue::Number)
                        .map_err(|_| invalid(format!("'{field}' needs numbers"))),
                    Kind::Date => {
                        parse_date(v).map(FieldValue::Number).ok_or_else(|| invalid(format!("'{field}' needs dates")))
                    }
                    Kind::Text => Ok(FieldValue::Text(v.to_string())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(V1Filter { field, kind, op, values })
    }

    /// An equality filter from a plain parameter (`?external_user_id=5`), as SDK 6 sends
    /// `users.get({external_user_id})`.
    pub fn equality(field: &str, value: &str) -> Option<V1Filter> {
        let kind = match field {
            "id" | "external_user_id" | "blob_id" | "timezone" => Kind::Number,
            "login" | "email" | "full_name" | "phone" | "external_id" | "facebook_id" | "twitter_id" => Kind::Text,
            _ => return None,
        };
        V1Filter::parse(&format!("{} {field} eq {value}", if kind == Kind::Number { "number" } else { "string" })).ok()
    }

    /// The users this filter can only be met by, when it names them: ids (`id eq`/`in`), or
    /// values of a unique field (`login`, `email`, `external_user_id`, `facebook_id`,
    /// `twitter_id`), whose markers name their users. Such a filter is answered by reading
    /// those users, whatever the application's size, rather than by walking its users.
    pub fn names(&self) -> Option<Named> {
        if !matches!(self.op, Op::Eq | Op::In) || self.kind == Kind::Date {
            return None;
        }
        let unique = match self.field.as_str() {
            "id" => {
                let ids =
                    self.values.iter().filter_map(|v| if let FieldValue::Number(n) = v { Some(*n) } else { None });
                return Some(Named::Ids(ids.collect()));
            }
            "login" => UniqueField::Login,
            "email" => UniqueField::Email,
            "external_user_id" => UniqueField::ExternalUserId,
            "facebook_id" => UniqueField::FacebookId,
            "twitter_id" => UniqueField::TwitterId,
            _ => return None,
        };
        let values = self.values.iter().map(|v| match v {
            FieldValue::Number(n) => n.to_string(),
            FieldValue::Text(t) => t.clone(),
        });
        Some(Named::Unique(unique, values.collect()))
    }

    pub fn matches(&self, user: &User) -> bool {
        let Some(actual) = field_value(user, &self.field) else {
            return self.op == Op::Ne;
        };
        // A date compared with `eq` means "on that day".
        let day = self.kind == Kind::Date;
        let cmp = |expected: &FieldValue| actual.partial_cmp(expected);
        let first = &self.values[0];
        match self.op {
            Op::Gt => cmp(first) == Some(Ordering::Greater),
            Op::Lt => cmp(first) == Some(Ordering::Less),
            Op::Ge => matches!(cmp(first), Some(Ordering::Greater | Ordering::Equal)),
            Op::Le => matches!(cmp(first), Some(Ordering::Less | Ordering::Equal)),
            Op::Eq if day => on_day(&actual, first),
            Op::Ne if day => !on_day(&actual, first),
            Op::Eq => actual == *first,
            Op::Ne => actual != *first,
            Op::Between => {
                matches!(cmp(first), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(cmp(&self.values[1]), Some(Ordering::Less | Ordering::Equal))
            }
            Op::In => self.values.iter().any(|v| if day { on_day(&actual, v) } else { actual == *v }),
        }
    }
}

/// The users a filter names (see [`V1Filter::names`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    Ids(Vec<i64>),
    Unique(UniqueField, Vec<String>),
}

fn on_day(actual: &FieldValue, day: &FieldValue) -> bool {
    match (actual, day) {
        (FieldValue::Number(t), FieldValue::Number(start)) => *t >= *start && *t < start + DAY,
        _ => false,
    }
}

/// `order=<asc|desc> <type> <field>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Order {
    pub field: String,
    pub descending: bool,
}

impl Default for V1Order {
    fn default() -> Self {
        V1Order { field: "id".into(), descending: false }
    }
}

impl V1Order {
    pub fn parse(text: &str) -> Result<V1Order, ApiError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [direction, type_name, field] = parts.as_slice() else {
            return Err(invalid("order is '<asc|desc> <type> <field>'"));
        };
        let descending = match *direction {
            "asc" => false,
            "desc" => true,
            _ => return Err(invalid("order direction is asc or desc")),
        };
        // SDK 6 computes the type wrongly (usually `string`); the field decides how to compare.
        kind(type_name)?;
        Ok(V1Order { field: known_field(field)?.to_string(), descending })
    }

    /// Sorts by the field then id, both reversed for `desc` (the order of the listing
    /// indexes); absent values always last.
    pub fn sort(&self, users: &mut [User]) {
        users.sort_by(|a, b| match (field_value(a, &self.field), field_value(b, &self.field)) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal).then(a.id.cmp(&b.id));
                if self.descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => a.id.cmp(&b.id),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: 51941,
            login: Some("john".into()),
            created_at: 1_510_272_000 + 3600,
            external_user_id: Some(7),
            ..User::default()
        }
    }

    #[test]
    fn sdk_and_docs_filters_parse_and_match() {
        let u = user();
        for (filter, expected) in [
            ("number id in 51941,51946", true),
            ("number id gt 51941", false),
            ("number id ge 51941", true),
            ("number id between 51000,52000", true),
            ("string login eq john", true),
            ("string login ne john", false),
            ("date created_at eq 2017-11-10", true),
            ("date created_at gt 2017.11.11", false),
            ("date created_at lt 2017-11-11", true),
            ("number external_user_id eq 7", true),
            ("string email eq x@y.z", false),
        ] {
            assert_eq!(V1Filter::parse(filter).unwrap().matches(&u), expected, "{filter}");
        }
    }

    #[test]
    fn bad_filters_are_422_with_a_reason() {
        for (filter, reason) in [
            ("number id", "<type> <field>"),
            ("color id eq 1", "Unknown filter type"),
            ("number custom_data eq 1", "Cannot filter"),
            ("number id like 1", "Unknown filter operator"),
            ("number id eq x", "needs numbers"),
            ("number id between 1", "two comma-separated"),
        ] {
            let body = V1Filter::parse(filter).unwrap_err().body().to_string();
            assert!(body.contains(reason), "{filter}: {body}");
        }
    }

    #[test]
    fn order_parses_and_sorts() {
        let order = V1Order::parse("desc string id").unwrap();
        let mut users = vec![User { id: 1, ..User::default() }, User { id: 3, ..User::default() }];
        order.sort(&mut users);
        assert_eq!(users[0].id, 3);
        assert!(V1Order::parse("sideways string id").is_err());
    }

    #[test]
    fn plain_parameters_become_equality_filters() {
        assert!(V1Filter::equality("external_user_id", "7").unwrap().matches(&user()));
        assert!(V1Filter::equality("page", "1").is_none());
    }
}
