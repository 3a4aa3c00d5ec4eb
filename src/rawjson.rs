//! Reading one value out of JSON text without building a tree: a scan that skips every other
//! member. Conditions mostly read a field or two of a payload, and a full tree of it costs several
//! times the scan. The text must be valid JSON (it is: it was validated when the frame was read),
//! so the scanner only has to find boundaries, never to reject anything; a property test checks
//! it against the tree for arbitrary JSON.

/// The text of member `key` of the object `text`, if `text` is an object that has it (the last
/// one, when a key repeats, as a tree keeps).
pub fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    members(text)
        .filter(|(name, _)| name.is(key))
        .last()
        .map(|(_, value)| value)
}

/// A member's name as written: its text between the quotes, and whether it has escapes.
#[derive(Debug, Clone, Copy)]
pub struct Name<'a> {
    /// The text between the quotes.
    pub raw: &'a str,
    /// Whether `raw` has escapes (and must be decoded to be compared).
    pub escaped: bool,
}

impl Name<'_> {
    /// Whether this is the name `key`.
    pub fn is(&self, key: &str) -> bool {
        if self.escaped {
            serde_json::from_str::<String>(&format!("\"{}\"", self.raw)).is_ok_and(|n| n == key)
        } else {
            self.raw == key
        }
    }
}

/// The members of the object `text` in order, as (name, value text); nothing if `text` is not an
/// object.
pub fn members(text: &str) -> Members<'_> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    let inside = bytes.get(at) == Some(&b'{');
    if inside {
        at = skip_ws(bytes, at + 1);
    }
    Members {
        text,
        at: if inside { at } else { bytes.len() },
    }
}

/// See [`members`].
pub struct Members<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Name<'a>, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let (text, bytes) = (self.text, self.text.as_bytes());
        let at = self.at;
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let (end, escaped) = string_end(bytes, at);
        if end < at + 2 || end >= bytes.len() {
            // Not reachable for valid JSON: an unterminated name.
            self.at = bytes.len();
            return None;
        }
        let name = Name {
            raw: &text[at + 1..end - 1],
            escaped,
        };
        // The `:` between the name and its value.
        let start = skip_ws(bytes, skip_ws(bytes, end) + 1).min(bytes.len());
        let value_end = value_end(bytes, start).min(bytes.len());
        let mut next = skip_ws(bytes, value_end);
        if bytes.get(next) == Some(&b',') {
            next = skip_ws(bytes, next + 1);
        }
        self.at = next;
        Some((name, &text[start..value_end]))
    }
}

/// The text of element `index` of the list `text` (negative: from the end), if `text` is a list
/// that long.
pub fn element(text: &str, index: i64) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_ws(bytes, at + 1);
    let mut elements: Vec<&str> = Vec::new();
    let mut position = 0i64;
    while at < bytes.len() && bytes[at] != b']' {
        let end = value_end(bytes, at);
        if position == index {
            return Some(&text[at..end]);
        }
        if index < 0 {
            elements.push(&text[at..end]);
        }
        position += 1;
        at = skip_ws(bytes, end);
        if bytes.get(at) == Some(&b',') {
            at = skip_ws(bytes, at + 1);
        }
    }
    if index < 0 {
        let from_end = elements.len().checked_sub(index.unsigned_abs() as usize)?;
        return elements.get(from_end).copied();
    }
    None
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && matches!(bytes[at], b' ' | b'\t' | b'\n' | b'\r') {
        at += 1;
    }
    at
}

/// Where the string starting at `at` (its opening quote) ends (after its closing quote), and
/// whether it has escapes.
fn string_end(bytes: &[u8], at: usize) -> (usize, bool) {
    let mut at = at + 1;
    let mut escaped = false;
    while at < bytes.len() {
        let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[at..]) else {
            break;
        };
        at += offset;
        if bytes[at] == b'\\' {
            escaped = true;
            at += 2;
        } else {
            return (at + 1, escaped);
        }
    }
    (bytes.len(), escaped)
}

/// Where the value starting at `at` ends.
fn value_end(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at) {
        Some(b'"') => string_end(bytes, at).0,
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut at = at;
            while at < bytes.len() {
                match bytes[at] {
                    b'"' => {
                        at = string_end(bytes, at).0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return at + 1;
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            bytes.len()
        }
        _ => {
            let mut at = at;
            while at < bytes.len()
                && !matches!(bytes[at], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                at += 1;
            }
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members and elements are found around whitespace, nesting, escapes and repeats.
    #[test]
    fn finds_members_and_elements() {
        let text =
            r#" { "a" : [1, {"x":"]}"}, "q\"b"] , "s\u0074ate":"In\"Progress" , "a":{"k":[2]} } "#;
        assert_eq!(member(text, "a"), Some(r#"{"k":[2]}"#));
        assert_eq!(member(text, "state"), Some(r#""In\"Progress""#));
        assert_eq!(member(text, "nope"), None);
        assert_eq!(member("[1]", "a"), None);
        assert_eq!(member("{}", "a"), None);
        let list = r#"[ 1 , "two" , {"3":[]} ]"#;
        assert_eq!(element(list, 0), Some("1"));
        assert_eq!(element(list, 2), Some(r#"{"3":[]}"#));
        assert_eq!(element(list, -1), Some(r#"{"3":[]}"#));
        assert_eq!(element(list, -3), Some("1"));
        assert_eq!(element(list, 3), None);
        assert_eq!(element(list, -4), None);
        assert_eq!(element("[]", 0), None);
        assert_eq!(element("{}", 0), None);
    }

    /// Text that is not valid JSON (which the scanner is never given) still never panics.
    #[test]
    fn broken_text_never_panics() {
        for text in [
            "{",
            "{\"",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":\"",
            "{\"a\\",
            "[",
            "[1,",
            "[\"",
            "{\"a\":[1,{",
            "\"",
            "}",
            "]",
            "",
            " ",
        ] {
            let _ = member(text, "a");
            let _ = element(text, 0);
            let _ = element(text, -1);
        }
    }
}
