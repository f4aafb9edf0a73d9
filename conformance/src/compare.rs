//! Semantic JSON comparison with a readable first difference (a JSON pointer).

use serde_json::Value;

/// Escapes a member name for a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return x == y;
            }
            x.as_f64() == y.as_f64()
        }
        _ => false,
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(117).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// The first place where `actual` does not contain `expected`: objects may have more members,
/// arrays must match element by element (same length), scalars must be equal.
pub fn first_subset_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let at = format!("{path}/{}", escape(key));
                match a.get(key) {
                    Some(av) => {
                        if let Some(d) = first_subset_difference(ev, av, &at) {
                            return Some(d);
                        }
                    }
                    None if ev.is_null() => {}
                    None => return Some(format!("{at}: expected {}, missing", show(ev))),
                }
            }
            None
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{}: expected {} elements, got {} ({})",
                    if path.is_empty() { "/" } else { path },
                    e.len(),
                    a.len(),
                    show(actual)
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (ev, av))| first_subset_difference(ev, av, &format!("{path}/{i}")))
        }
        (Value::Number(_), Value::Number(_)) if numbers_equal(expected, actual) => None,
        _ if expected == actual => None,
        _ => Some(format!(
            "{}: expected {}, got {}",
            if path.is_empty() { "/" } else { path },
            show(expected),
            show(actual)
        )),
    }
}

/// The first difference between two values, both ways (exact semantic equality), ignoring the
/// members at `ignore` (JSON pointers).
pub fn first_difference(expected: &Value, actual: &Value, ignore: &[String]) -> Option<String> {
    let mut e = expected.clone();
    let mut a = actual.clone();
    for pointer in ignore {
        remove_pointer(&mut e, pointer);
        remove_pointer(&mut a, pointer);
    }
    first_subset_difference(&e, &a, "").or_else(|| {
        first_subset_difference(&a, &e, "")
            .map(|d| format!("{d} (unexpected in the plugin's output)"))
    })
}

fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = if parent.is_empty() {
        Some(v)
    } else {
        v.pointer_mut(parent)
    };
    match target {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < items.len() {
                    items.remove(i);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_reports_the_first_pointer() {
        let expected =
            json!({"choices": [{"message": {"content": "Paris"}}], "usage": {"total_tokens": 3}});
        let actual = json!({"choices": [{"message": {"content": "Rome", "role": "assistant"}}], "usage": {"total_tokens": 3.0}});
        assert_eq!(
            first_subset_difference(&expected, &actual, "").unwrap(),
            "/choices/0/message/content: expected \"Paris\", got \"Rome\""
        );
        let actual = json!({"choices": [{"message": {"content": "Paris"}}], "usage": {}});
        assert_eq!(
            first_subset_difference(&expected, &actual, "").unwrap(),
            "/usage/total_tokens: expected 3, missing"
        );
    }

    #[test]
    fn exact_comparison_ignores_pointers() {
        let a = json!({"model": "x", "stream_options": {"include_usage": true}, "n": 1});
        let b = json!({"model": "x", "n": 1.0});
        assert!(first_difference(&b, &a, &[])
            .unwrap()
            .contains("/stream_options"));
        assert_eq!(
            first_difference(&b, &a, &["/stream_options".to_owned()]),
            None
        );
    }
}
