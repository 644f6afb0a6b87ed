//! Request parameters. JSON bodies, `application/x-www-form-urlencoded` bodies and
//! Rails-style bracket query strings (`id[in][]=1`, `user[login]=x`) all become one
//! JSON object tree, so handlers read parameters one way whatever the client sent.
//!
//! Scalars stay as the client sent them (a form value is always a string, a JSON value may
//! be a number); [`Field::text`] and [`Field::integer`] accept both, as the contract demands.

use serde_json::{Map, Value};

/// Most `key=value` pairs one request may carry: far above any SDK call, low enough that a
/// hostile query cannot make us build a huge tree.
pub const MAX_PAIRS: usize = 512;
/// Deepest bracket nesting accepted (`a[b][c][]` is depth 4).
pub const MAX_DEPTH: usize = 6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("Too many parameters (at most {MAX_PAIRS})")]
    TooMany,
    #[error("Parameter nesting is too deep (at most {MAX_DEPTH} levels)")]
    TooDeep,
    #[error("Malformed JSON body")]
    BadJson,
    #[error("JSON body must be an object")]
    NotAnObject,
    #[error("Conflicting types for parameter '{0}'")]
    Conflict(String),
}

/// Parses a query string or form body Rails style: `+` and `%20` are spaces, brackets may
/// be literal or `%5B`/`%5D`, `k[]=a&k[]=b` builds an array, `k[x]=1` builds an object.
pub fn parse_urlencoded(input: &[u8]) -> Result<Value, ParamsError> {
    let mut root = Value::Object(Map::new());
    for (count, (key, value)) in form_urlencoded::parse(input).enumerate() {
        if count >= MAX_PAIRS {
            return Err(ParamsError::TooMany);
        }
        if key.is_empty() {
            continue;
        }
        let path = split_key(&key)?;
        insert(&mut root, &path, Value::String(value.into_owned()), &key)?;
    }
    Ok(root)
}

/// Parses a JSON body. The body must be an object; top-level keys written in bracket form
/// (`"firebase_phone[project_id]": …`, as some apps send) are folded into the nested form.
pub fn parse_json(input: &[u8]) -> Result<Value, ParamsError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_json::from_slice(input).map_err(|_| ParamsError::BadJson)?;
    let Value::Object(map) = value else {
        return Err(ParamsError::NotAnObject);
    };
    let mut root = Value::Object(Map::new());
    let (bracketed, plain): (Vec<_>, Vec<_>) = map.into_iter().partition(|(k, _)| k.contains('['));
    for (key, value) in plain {
        root.as_object_mut().expect("root is an object").insert(key, value);
    }
    for (key, value) in bracketed {
        let path = split_key(&key)?;
        insert(&mut root, &path, value, &key)?;
    }
    Ok(root)
}

/// Merges `overlay` into `base` (overlay wins on scalars, objects merge recursively). Used to
/// lay body parameters over query parameters, as Rails does.
pub fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => merge(existing, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// `user[login]` → `["user", "login"]`; `id[in][]` → `["id", "in", ""]`. A key that does not
/// follow the bracket grammar is kept whole as a literal name.
fn split_key(key: &str) -> Result<Vec<&str>, ParamsError> {
    let Some(open) = key.find('[') else {
        return Ok(vec![key]);
    };
    if open == 0 {
        return Ok(vec![key]);
    }
    let mut parts = vec![&key[..open]];
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return Ok(vec![key]);
        };
        let Some(close) = inner.find(']') else {
            return Ok(vec![key]);
        };
        parts.push(&inner[..close]);
        rest = &inner[close + 1..];
        if parts.len() > MAX_DEPTH {
            return Err(ParamsError::TooDeep);
        }
    }
    Ok(parts)
}

fn insert(node: &mut Value, path: &[&str], value: Value, key: &str) -> Result<(), ParamsError> {
    let conflict = || ParamsError::Conflict(key.to_string());
    let (head, rest) = path.split_first().expect("paths are never empty");
    if head.is_empty() {
        let Value::Array(items) = node else {
            return Err(conflict());
        };
        match rest.first() {
            None => items.push(value),
            // `a[][x]=1&a[][y]=2` fills one object until a key repeats, as Rails does.
            Some(next) if !next.is_empty() && rest.len() == 1 => {
                let reuse = matches!(items.last(), Some(Value::Object(m)) if !m.contains_key(*next));
                if !reuse {
                    items.push(Value::Object(Map::new()));
                }
                insert(items.last_mut().expect("just ensured"), rest, value, key)?;
            }
            Some(next) => {
                items.push(empty_container(next));
                insert(items.last_mut().expect("just pushed"), rest, value, key)?;
            }
        }
        return Ok(());
    }
    let Value::Object(map) = node else {
        return Err(conflict());
    };
    match rest.first() {
        None => {
            map.insert((*head).to_string(), value);
        }
        Some(next) => {
            let child = map.entry((*head).to_string()).or_insert_with(|| empty_container(next));
            let fits = if next.is_empty() { child.is_array() } else { child.is_object() };
            if !fits {
                return Err(conflict());
            }
            insert(child, rest, value, key)?;
        }
    }
    Ok(())
}

fn empty_container(next_segment: &str) -> Value {
    if next_segment.is_empty() { Value::Array(Vec::new()) } else { Value::Object(Map::new()) }
}

/// A parameter that is present but is not an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnInteger;

/// A read-only view of one place in the parameter tree, which may be absent.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a>(Option<&'a Value>);

impl<'a> Field<'a> {
    pub fn of(value: &'a Value) -> Self {
        Field(Some(value))
    }

    pub fn missing() -> Self {
        Field(None)
    }

    /// The member `key` of an object (absent for anything else).
    pub fn get(self, key: &str) -> Field<'a> {
        Field(self.0.and_then(|v| v.as_object()).and_then(|m| m.get(key)))
    }

    pub fn value(self) -> Option<&'a Value> {
        self.0
    }

    /// Present and not JSON `null`.
    pub fn is_present(self) -> bool {
        self.0.is_some_and(|v| !v.is_null())
    }

    pub fn is_object(self) -> bool {
        self.0.is_some_and(Value::is_object)
    }

    /// A scalar as text: strings as sent, numbers in decimal, booleans as `true`/`false`.
    /// Arrays, objects, `null` and absence give `None`, and so does a number beyond 64 bits:
    /// JSON reading keeps it only as a float, whose text would not be the digits sent.
    pub fn text(self) -> Option<String> {
        match self.0? {
            Value::Number(n) if n.as_f64().is_some_and(|f| n.is_f64() && f.abs() >= BEYOND_64_BITS) => None,
            value => scalar_text(value),
        }
    }

    /// Text that is present and not blank after trimming.
    pub fn non_blank(self) -> Option<String> {
        self.text().filter(|s| !s.trim().is_empty())
    }

    /// An integer sent as a JSON number or a decimal string. `Err` when present but not an
    /// integer, so callers can answer 422 instead of silently ignoring the value.
    pub fn integer(self) -> Result<Option<i64>, NotAnInteger> {
        match self.0 {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(NotAnInteger),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| NotAnInteger),
            Some(_) => Err(NotAnInteger),
        }
    }

    /// A truthy flag: `true`, `1`, `"1"`, `"true"`.
    pub fn truthy(self) -> bool {
        match self.0 {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            Some(Value::String(s)) => matches!(s.trim(), "1" | "true" | "yes" | "on"),
            _ => false,
        }
    }

    /// A list sent as an array of scalars, or as one comma-separated string.
    pub fn list(self) -> Option<Vec<String>> {
        match self.0? {
            Value::Array(items) => Some(items.iter().filter_map(scalar_text).collect()),
            Value::Object(map) => Some(map.values().filter_map(scalar_text).collect()),
            Value::Null => None,
            other => Some(scalar_text(other)?.split(',').map(str::to_string).collect()),
        }
    }
}

/// 2⁶³: every integer JSON reading can hold exactly is below it.
const BEYOND_64_BITS: f64 = 9_223_372_036_854_775_808.0;

/// How a scalar is rendered as text, both for reading parameters and for the legacy
/// signature string (which renders numbers the way JavaScript prints them).
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_number_beyond_64_bits_is_no_text() {
        let v = parse_json(br#"{"big": 1180591620717411303424, "max": 18446744073709551615, "small": 1.5}"#).unwrap();
        assert_eq!(Field::of(&v).get("big").text(), None);
        assert_eq!(Field::of(&v).get("max").text().as_deref(), Some("18446744073709551615"));
        assert_eq!(Field::of(&v).get("small").text().as_deref(), Some("1.5"));
    }

    #[test]
    fn rails_brackets_build_nested_arrays_and_objects() {
        let v = parse_urlencoded(b"id[in][]=51941&id[in][]=51946&limit=10&user[login]=john").unwrap();
        assert_eq!(v, json!({"id": {"in": ["51941", "51946"]}, "limit": "10", "user": {"login": "john"}}));
    }

    #[test]
    fn percent_encoded_brackets_and_both_space_forms_are_accepted() {
        let v = parse_urlencoded(b"full_name%5Bstart_with%5D=hunt+er&tags%5B%5D=a%20b").unwrap();
        assert_eq!(v, json!({"full_name": {"start_with": "hunt er"}, "tags": ["a b"]}));
    }

    #[test]
    fn sdk_v1_filter_string_is_one_array_element() {
        let v = parse_urlencoded(b"filter[]=number%20id%20in%2051941%2C51946&page=1&per_page=5").unwrap();
        assert_eq!(v["filter"], json!(["number id in 51941,51946"]));
    }

    #[test]
    fn js_date_text_survives_decoding() {
        let v = parse_urlencoded(
            b"last_request_at[gt]=Fri%20Nov%2010%202017%2000%3A00%3A00%20GMT%2B0000%20(Coordinated%20Universal%20Time)",
        )
        .unwrap();
        assert_eq!(v["last_request_at"]["gt"], json!("Fri Nov 10 2017 00:00:00 GMT+0000 (Coordinated Universal Time)"));
    }

    #[test]
    fn array_of_objects_fills_until_a_key_repeats() {
        let v = parse_urlencoded(b"a[][x]=1&a[][y]=2&a[][x]=3").unwrap();
        assert_eq!(v, json!({"a": [{"x": "1", "y": "2"}, {"x": "3"}]}));
    }

    #[test]
    fn malformed_bracket_keys_are_kept_literally() {
        let v = parse_urlencoded(b"a[b=1&[c]=2&d]e=3").unwrap();
        assert_eq!(v, json!({"a[b": "1", "[c]": "2", "d]e": "3"}));
    }

    #[test]
    fn a_scalar_then_a_nested_key_is_a_conflict_not_a_panic() {
        assert_eq!(parse_urlencoded(b"a=1&a[b]=2"), Err(ParamsError::Conflict("a[b]".into())));
        assert_eq!(parse_urlencoded(b"a[]=1&a[b]=2"), Err(ParamsError::Conflict("a[b]".into())));
    }

    #[test]
    fn limits_are_enforced() {
        let many = (0..=MAX_PAIRS).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join("&");
        assert_eq!(parse_urlencoded(many.as_bytes()), Err(ParamsError::TooMany));
        assert_eq!(parse_urlencoded(b"a[b][c][d][e][f][g]=1"), Err(ParamsError::TooDeep));
    }

    #[test]
    fn json_bodies_fold_flat_bracket_keys() {
        let v = parse_json(
            br#"{"provider":"firebase_phone","firebase_phone[project_id]":"p","firebase_phone[access_token]":"t"}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"provider": "firebase_phone", "firebase_phone": {"project_id": "p", "access_token": "t"}})
        );
    }

    #[test]
    fn json_bodies_must_be_objects() {
        assert_eq!(parse_json(b"[1]"), Err(ParamsError::NotAnObject));
        assert_eq!(parse_json(b"{nope"), Err(ParamsError::BadJson));
        assert_eq!(parse_json(b"  \n"), Ok(json!({})));
    }

    #[test]
    fn fields_read_strings_and_numbers_alike() {
        let v = json!({"a": "1", "b": 2, "c": "x", "d": true, "e": ["p", 3], "f": "p, q"});
        let f = Field::of(&v);
        assert_eq!(f.get("a").integer(), Ok(Some(1)));
        assert_eq!(f.get("b").integer(), Ok(Some(2)));
        assert_eq!(f.get("c").integer(), Err(NotAnInteger));
        assert_eq!(f.get("b").text().as_deref(), Some("2"));
        assert_eq!(f.get("d").text().as_deref(), Some("true"));
        assert_eq!(f.get("e").list(), Some(vec!["p".to_string(), "3".to_string()]));
        assert_eq!(f.get("f").list(), Some(vec!["p".to_string(), " q".to_string()]));
        assert!(f.get("zz").text().is_none());
        assert!(f.get("d").truthy() && !f.get("c").truthy());
    }

    #[test]
    fn merge_lays_body_over_query() {
        let mut base = json!({"a": "1", "user": {"login": "q", "x": "1"}});
        merge(&mut base, json!({"a": "2", "user": {"login": "b"}}));
        assert_eq!(base, json!({"a": "2", "user": {"login": "b", "x": "1"}}));
    }
}
