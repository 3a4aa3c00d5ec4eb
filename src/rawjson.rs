//! JSON text without a tree. Two scanners: the *checking* one reads a frame once, proving it is
//! valid JSON while it finds where each value is (what serde_json would otherwise do in a pass of
//! its own, and a frame's member lookups in a third); the *finding* one reads one value out of
//! text already checked, skipping every other member. Conditions mostly read a field or two of a
//! payload, and a full tree of it costs several times the scan. Property tests check both against
//! serde_json for arbitrary JSON.

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

/// Containers nested deeper than this are left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// Where the JSON value starting at `at` ends, if the text from there is valid JSON that serde_json
/// reads the same way. `None` for invalid text, and for what the checker leaves to serde_json:
/// `\u` escapes of surrogates and nesting deeper than [`MAX_DEPTH`]. `depth`: how many containers
/// enclose `at`.
pub fn checked_value(text: &str, at: usize, depth: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    match *bytes.get(at)? {
        b'"' => checked_string(bytes, at).map(|(end, _)| end),
        b'{' => checked_object(text, at, depth, |_, start| {
            checked_value(text, start, depth + 1)
        }),
        b'[' => checked_array(text, at, depth),
        b't' => literal(bytes, at, b"true"),
        b'f' => literal(bytes, at, b"false"),
        b'n' => literal(bytes, at, b"null"),
        b'-' | b'0'..=b'9' => checked_number(bytes, at),
        _ => None,
    }
}

/// Checks the object starting at `at` (enclosed by `depth` containers) and returns where it ends.
/// For each member, `value(name, start)` is given the name and where its value starts, and must
/// check the value and return where it ends (so a caller can look inside the values it cares
/// about while they are checked).
pub fn checked_object<'a>(
    text: &'a str,
    at: usize,
    depth: usize,
    mut value: impl FnMut(Name<'a>, usize) -> Option<usize>,
) -> Option<usize> {
    let bytes = text.as_bytes();
    if depth >= MAX_DEPTH || bytes.get(at) != Some(&b'{') {
        return None;
    }
    let mut at = skip_ws(bytes, at + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let (name_end, escaped) = checked_string(bytes, at)?;
        let name = Name {
            raw: text.get(at + 1..name_end - 1)?,
            escaped,
        };
        at = skip_ws(bytes, name_end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let end = value(name, skip_ws(bytes, at + 1))?;
        at = skip_ws(bytes, end);
        match *bytes.get(at)? {
            b',' => at = skip_ws(bytes, at + 1),
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

fn checked_array(text: &str, at: usize, depth: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if depth >= MAX_DEPTH {
        return None;
    }
    let mut at = skip_ws(bytes, at + 1);
    if bytes.get(at) == Some(&b']') {
        return Some(at + 1);
    }
    loop {
        at = skip_ws(bytes, checked_value(text, at, depth + 1)?);
        match *bytes.get(at)? {
            b',' => at = skip_ws(bytes, at + 1),
            b']' => return Some(at + 1),
            _ => return None,
        }
    }
}

/// Where the string starting at `at` (its opening quote) ends (after its closing quote), and
/// whether it has escapes; `None` if no valid JSON string starts there (or it has a surrogate
/// escape).
pub fn checked_string(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let mut at = at + 1;
    let mut escaped = false;
    loop {
        // Eight bytes at a time while none of them needs a closer look (string bytes are most of
        // a frame), then byte by byte to the one that does: it is within those eight.
        while let Some(chunk) = bytes.get(at..at + 8) {
            if may_end_string(u64::from_le_bytes(chunk.try_into().ok()?)) {
                break;
            }
            at += 8;
        }
        loop {
            match *bytes.get(at)? {
                b'"' => return Some((at + 1, escaped)),
                b'\\' => break,
                0..=0x1F => return None,
                _ => at += 1,
            }
        }
        escaped = true;
        match *bytes.get(at + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
            b'u' => {
                let hex = bytes.get(at + 2..at + 6)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                // Whether a surrogate pairs up is serde_json's to judge.
                if matches!(hex[0], b'd' | b'D')
                    && matches!(hex[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                {
                    return None;
                }
                at += 6;
            }
            _ => return None,
        }
    }
}

/// Whether any of the eight bytes of `word` may be a quote, a backslash or a control character.
/// Never wrong when it says no (the bit tricks for "has a zero byte" and "has a byte below n");
/// when it says yes, the caller looks byte by byte.
fn may_end_string(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    quote | backslash | control != 0
}

fn checked_number(bytes: &[u8], mut at: usize) -> Option<usize> {
    let digits = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    };
    if bytes[at] == b'-' {
        at += 1;
    }
    match *bytes.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at = digits(at + 1),
        _ => return None,
    }
    if bytes.get(at) == Some(&b'.') {
        if !bytes.get(at + 1)?.is_ascii_digit() {
            return None;
        }
        at = digits(at + 1);
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if !bytes.get(at)?.is_ascii_digit() {
            return None;
        }
        at = digits(at);
    }
    Some(at)
}

fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    bytes[at..].starts_with(word).then_some(at + word.len())
}

/// Skips JSON whitespace from `at`.
pub fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
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

    fn checks_whole(text: &str) -> bool {
        let bytes = text.as_bytes();
        checked_value(text, skip_ws(bytes, 0), 0)
            .is_some_and(|end| skip_ws(bytes, end) == bytes.len())
    }

    proptest::proptest! {
        /// The eight-byte test never misses a byte that can end a string.
        #[test]
        fn word_test_never_misses(word in proptest::prelude::any::<[u8; 8]>()) {
            let wanted = word.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert!(!wanted || may_end_string(u64::from_le_bytes(word)));
        }

        /// Whatever the checker passes, serde_json reads; escapes, numbers, literals, nesting and
        /// stray bytes included.
        #[test]
        fn checker_never_passes_what_serde_rejects(
            text in "([\\[\\]{}\",:0-9eE.+\\- tfrueasnl\u{1}é]|\\\\u[0-9a-fA-F]{4}|\\\\[nrtbf/\"\\\\x]){0,24}"
        ) {
            if checks_whole(&text) {
                proptest::prop_assert!(
                    serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                    "passed {:?}", text
                );
            }
        }
    }

    /// Valid JSON passes, invalid JSON and surrogate escapes do not.
    #[test]
    fn checker_reads_json() {
        for text in [
            "0",
            "-0",
            "1.5e-3",
            "-12E+2",
            "true",
            "null",
            r#""a\"\\\/\b\f\n\r\t\u00e9""#,
            r#" { "a" : [ ] , "b" : { } , "c" : [ 1 , { "d" : "é" } ] } "#,
        ] {
            assert!(checks_whole(text), "{text}");
        }
        for text in [
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\"}",
            "{1:2}",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\u{1}\"",
            r#""\ud83d\ude00""#,
            "[1 2]",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(!checks_whole(text), "{text}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(!checks_whole(&deep));
        let fine = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(checks_whole(&fine));
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
