//! Event URI patterns: `/lol-champ-select/v1/session/actions/{id}`, `*` and a trailing `**`.
//! Compiling checks the pattern once; matching a URI against one pattern is the reference the
//! indexed matcher is tested against.

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Matches any one segment and captures it under this name.
    Capture(String),
    /// Matches any one segment.
    Any,
    /// Matches whatever is left, including nothing (last segment only).
    Rest,
}

/// A compiled URI pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriPattern {
    /// The text as written.
    pub text: String,
    /// The segments after the leading `/`.
    pub segments: Vec<Segment>,
}

/// A pattern error: the message and the character offset in the pattern it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternError {
    /// What is wrong.
    pub message: String,
    /// Character offset of the offending segment in the pattern text.
    pub offset: usize,
    /// The offending segment's length in characters.
    pub len: usize,
}

impl UriPattern {
    /// Compiles a pattern; see the module docs for the syntax.
    pub(crate) fn parse(text: &str) -> Result<UriPattern, PatternError> {
        let Some(body) = text.strip_prefix('/') else {
            return Err(PatternError {
                message: format!("a URI pattern starts with `/`: write `/{text}`"),
                offset: 0,
                len: 1,
            });
        };
        let mut segments = Vec::new();
        let mut offset = 1;
        let parts: Vec<&str> = body.split('/').collect();
        for (index, part) in parts.iter().enumerate() {
            let len = part.chars().count();
            let error = |message: String| PatternError {
                message,
                offset,
                len: len.max(1),
            };
            let segment = match *part {
                "" if parts.len() == 1 => {
                    return Err(error(
                        "the pattern `/` matches nothing; use `/**` for every URI".into(),
                    ));
                }
                "" => return Err(error("empty segment (`//` or a trailing `/`)".into())),
                "*" => Segment::Any,
                "**" if index + 1 == parts.len() => Segment::Rest,
                "**" => return Err(error("`**` may only be the last segment".into())),
                _ if part.starts_with('{') && part.ends_with('}') => {
                    let name = &part[1..part.len() - 1];
                    if !is_identifier(name) {
                        return Err(error(format!(
                            "`{part}`: a capture name is letters, digits, `_` and `-`, starting with a letter or `_`"
                        )));
                    }
                    let taken = segments
                        .iter()
                        .any(|s| matches!(s, Segment::Capture(n) if n == name));
                    if taken {
                        return Err(error(format!("the capture `{name}` appears twice")));
                    }
                    Segment::Capture(name.to_string())
                }
                _ => {
                    if let Some(bad) = part
                        .chars()
                        .find(|c| matches!(c, '{' | '}' | '*' | '?' | '#') || c.is_whitespace())
                    {
                        return Err(error(format!(
                            "`{part}` contains `{bad}`: a segment is literal text, `{{name}}`, `*` or `**`"
                        )));
                    }
                    Segment::Literal(part.to_string())
                }
            };
            segments.push(segment);
            offset += len + 1;
        }
        Ok(UriPattern {
            text: text.to_string(),
            segments,
        })
    }

    /// The names of this pattern's captures, in order.
    pub(crate) fn capture_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Capture(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the pattern matches a URI given as its segments.
    #[cfg(test)]
    pub(crate) fn matches(&self, uri_segments: &[&str]) -> bool {
        for (index, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest => return true,
                Segment::Literal(text) => {
                    if uri_segments.get(index) != Some(&text.as_str()) {
                        return false;
                    }
                }
                Segment::Capture(_) | Segment::Any => {
                    if index >= uri_segments.len() {
                        return false;
                    }
                }
            }
        }
        uri_segments.len() == self.segments.len()
    }

    /// The captured values of a URI this pattern matches, in capture order.
    pub(crate) fn captures<'u>(&self, uri_segments: &[&'u str]) -> Vec<&'u str> {
        self.segments
            .iter()
            .zip(uri_segments)
            .filter(|(segment, _)| matches!(segment, Segment::Capture(_)))
            .map(|(_, value)| *value)
            .collect()
    }

    /// Whether the pattern is a plain URI with no wildcard or capture.
    pub(crate) fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Splits an event URI into the segments patterns match against: the path after the leading `/`,
/// without any query string.
pub(crate) fn uri_segments(uri: &str) -> impl Iterator<Item = &str> {
    // Byte search: `split` with a character set is several times slower on this hot path.
    let end = uri
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(uri.len());
    let path = &uri[..end];
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(uri: &str) -> Vec<&str> {
        uri_segments(uri).collect()
    }

    fn check(pattern: &str, uri: &str, expected: bool) {
        let compiled = UriPattern::parse(pattern).unwrap();
        assert_eq!(compiled.matches(&segs(uri)), expected, "{pattern} vs {uri}");
    }

    /// Literal, capture, single and rest wildcards match as documented.
    #[test]
    fn matching_rules() {
        check(
            "/lol-matchmaking/v1/ready-check",
            "/lol-matchmaking/v1/ready-check",
            true,
        );
        check(
            "/lol-matchmaking/v1/ready-check",
            "/lol-matchmaking/v1/ready-check/accept",
            false,
        );
        check(
            "/lol-matchmaking/v1/ready-check",
            "/lol-matchmaking/v1",
            false,
        );
        check(
            "/lol-champ-select/v1/session/actions/{id}",
            "/lol-champ-select/v1/session/actions/17",
            true,
        );
        check(
            "/lol-champ-select/v1/session/actions/{id}",
            "/lol-champ-select/v1/session/actions",
            false,
        );
        check("/*/v1/x", "/lol-a/v1/x", true);
        check("/lol-chat/**", "/lol-chat", true);
        check(
            "/lol-chat/**",
            "/lol-chat/v1/conversations/a/messages",
            true,
        );
        check("/lol-chat/**", "/lol-chatter", false);
        check("/**", "/anything/at/all", true);
        check("/a/b", "/a/b?x=1", true);
    }

    /// Captures come back in order.
    #[test]
    fn captures_in_order() {
        let pattern = UriPattern::parse("/a/{x}/*/{product-id}").unwrap();
        assert_eq!(pattern.captures(&segs("/a/1/2/3")), vec!["1", "3"]);
        assert_eq!(
            pattern.capture_names().collect::<Vec<_>>(),
            vec!["x", "product-id"]
        );
    }

    /// Malformed patterns are refused with the offending segment's offset.
    #[test]
    fn malformed_patterns() {
        let cases = [
            ("lol/x", 0),
            ("/a//b", 3),
            ("/a/**/b", 3),
            ("/a/{1x}", 3),
            ("/a/b{c}", 3),
            ("/{x}/{x}", 5),
            ("/a/", 3),
            ("/", 1),
            ("/lol-*/v1", 1),
        ];
        for (text, offset) in cases {
            let error = UriPattern::parse(text).unwrap_err();
            assert_eq!(error.offset, offset, "{text}: {}", error.message);
        }
    }
}
