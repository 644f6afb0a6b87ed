//! Any bytes, as a query string, a form body or a JSON body: parsing never panics, and what
//! it accepts is an object within the nesting cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::params::{parse_json, parse_urlencoded};

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = parse_urlencoded(data) {
        assert!(value.is_object());
        assert!(depth(&value) <= shared::params::MAX_DEPTH + 1);
    }
    if let Ok(value) = parse_json(data) {
        assert!(value.is_object());
    }
});
