//! The trigger index: which rules' URI patterns match an event, in time that depends on the URI's
//! depth and on the rules that can match, not on how many rules are loaded. Literal segments are
//! looked up by hash; `{name}` and `*` share one "any segment" edge; a trailing `**` is recorded
//! on the node where it starts. Conditions are not evaluated here (see `rule.rs`).

use rustc_hash::FxHashMap;

use crate::event::{EventType, EventTypeMask};
#[cfg(test)]
use crate::language::pattern::uri_segments;
use crate::language::pattern::{Segment, UriPattern};

/// What the index stores for a trigger: which rule, which of its triggers, which event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    rule: u32,
    trigger: u32,
    types: EventTypeMask,
}

/// A trigger match: rule `rule`'s trigger number `trigger` matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// The rule's index in the rule set.
    pub rule: u32,
    /// Which of the rule's triggers matched (the first one, if several did).
    pub trigger: u32,
}

#[derive(Debug, Default)]
struct Node {
    literal: FxHashMap<Box<str>, u32>,
    any: Option<u32>,
    /// Triggers whose pattern ends exactly here.
    end: Vec<Entry>,
    /// Triggers whose pattern ends with `**` from here.
    rest: Vec<Entry>,
}

/// The compiled index over every trigger of every enabled rule.
#[derive(Debug)]
pub(crate) struct Matcher {
    nodes: Vec<Node>,
}

/// A trigger to index: the rule and trigger numbers, its pattern and its event types.
pub(crate) struct TriggerRef<'a> {
    /// The rule's index in the rule set.
    pub rule: u32,
    /// The trigger's index in the rule.
    pub trigger: u32,
    /// The pattern.
    pub pattern: &'a UriPattern,
    /// The event types it reacts to.
    pub types: EventTypeMask,
}

impl Matcher {
    /// Builds the index.
    pub(crate) fn build<'a>(triggers: impl IntoIterator<Item = TriggerRef<'a>>) -> Matcher {
        let mut matcher = Matcher {
            nodes: vec![Node::default()],
        };
        for trigger in triggers {
            matcher.insert(trigger);
        }
        matcher
    }

    fn insert(&mut self, trigger: TriggerRef<'_>) {
        let entry = Entry {
            rule: trigger.rule,
            trigger: trigger.trigger,
            types: trigger.types,
        };
        let mut node = 0usize;
        for segment in &trigger.pattern.segments {
            let next = match segment {
                Segment::Rest => {
                    self.nodes[node].rest.push(entry);
                    return;
                }
                Segment::Literal(text) => self.nodes[node].literal.get(text.as_str()).copied(),
                Segment::Capture(_) | Segment::Any => self.nodes[node].any,
            };
            node = match next {
                Some(next) => next as usize,
                None => {
                    let created = self.nodes.len() as u32;
                    self.nodes.push(Node::default());
                    match segment {
                        Segment::Literal(text) => {
                            self.nodes[node]
                                .literal
                                .insert(text.as_str().into(), created);
                        }
                        _ => self.nodes[node].any = Some(created),
                    }
                    created as usize
                }
            };
        }
        self.nodes[node].end.push(entry);
    }

    /// The rules whose triggers match `uri` and `event_type`, each rule once (its first matching
    /// trigger), in rule order. `out` is cleared first; reusing it avoids an allocation per event.
    pub(crate) fn matches_into(&self, uri: &str, event_type: EventType, out: &mut Vec<Hit>) {
        out.clear();
        let segments = inline_segments::Segments::of(uri);
        self.walk(0, segments.as_slice(), event_type, out);
        finish(out);
    }

    fn walk(&self, node: usize, rest: &[&str], event_type: EventType, out: &mut Vec<Hit>) {
        let here = &self.nodes[node];
        collect(&here.rest, event_type, out);
        let Some((first, tail)) = rest.split_first() else {
            collect(&here.end, event_type, out);
            return;
        };
        if let Some(&next) = here.literal.get(*first) {
            self.walk(next as usize, tail, event_type, out);
        }
        if let Some(next) = here.any {
            self.walk(next as usize, tail, event_type, out);
        }
    }

    /// Whether any trigger matches; stops at the first.
    pub(crate) fn matches_any(&self, uri: &str, event_type: EventType) -> bool {
        self.matches_any_of(uri, EventTypeMask(event_type.bit()))
    }

    /// Whether any trigger matches this URI for one of the types in `types`.
    pub(crate) fn matches_any_of(&self, uri: &str, types: EventTypeMask) -> bool {
        let segments = inline_segments::Segments::of(uri);
        self.any(0, segments.as_slice(), types)
    }

    fn any(&self, node: usize, rest: &[&str], types: EventTypeMask) -> bool {
        let here = &self.nodes[node];
        let wanted = |e: &Entry| e.types.0 & types.0 != 0;
        if here.rest.iter().any(wanted) {
            return true;
        }
        let Some((first, tail)) = rest.split_first() else {
            return here.end.iter().any(wanted);
        };
        if let Some(&next) = here.literal.get(*first)
            && self.any(next as usize, tail, types)
        {
            return true;
        }
        match here.any {
            Some(next) => self.any(next as usize, tail, types),
            None => false,
        }
    }

    /// Convenience wrapper that allocates the result (for tests).
    #[cfg(test)]
    pub(crate) fn matches(&self, uri: &str, event_type: EventType) -> Vec<Hit> {
        let mut out = Vec::new();
        self.matches_into(uri, event_type, &mut out);
        out
    }
}

/// A URI's segments without allocating for ordinary depths.
mod inline_segments {
    use crate::language::pattern::uri_segments;

    /// Real LCU URIs have at most 9 segments; deeper ones take the heap.
    const INLINE: usize = 12;

    pub(super) enum Segments<'u> {
        Inline([&'u str; INLINE], usize),
        Heap(Vec<&'u str>),
    }

    impl<'u> Segments<'u> {
        /// What [`uri_segments`] gives, in one pass over the bytes (`split` costs a search
        /// call per segment, and this runs twice for every event).
        pub(super) fn of(uri: &'u str) -> Segments<'u> {
            let bytes = uri.as_bytes();
            let mut inline = [""; INLINE];
            let mut depth = 0;
            let mut start = usize::from(bytes.first() == Some(&b'/'));
            let mut at = start;
            loop {
                let byte = bytes.get(at).copied();
                if matches!(byte, None | Some(b'/' | b'?' | b'#')) {
                    if depth == INLINE {
                        return Segments::Heap(uri_segments(uri).collect());
                    }
                    inline[depth] = &uri[start..at];
                    depth += 1;
                    if byte != Some(b'/') {
                        return Segments::Inline(inline, depth);
                    }
                    start = at + 1;
                }
                at += 1;
            }
        }

        pub(super) fn as_slice(&self) -> &[&'u str] {
            match self {
                Segments::Inline(inline, depth) => &inline[..*depth],
                Segments::Heap(all) => all,
            }
        }
    }
}

fn collect(entries: &[Entry], event_type: EventType, out: &mut Vec<Hit>) {
    for entry in entries {
        if entry.types.contains(event_type) {
            out.push(Hit {
                rule: entry.rule,
                trigger: entry.trigger,
            });
        }
    }
}

/// Sorts by rule then trigger and keeps each rule's first trigger. Hits from one node are
/// already in rule order, so the sort is usually skipped.
fn finish(out: &mut Vec<Hit>) {
    if out.len() > 1 {
        if !out.is_sorted() {
            out.sort_unstable();
        }
        out.dedup_by_key(|hit| hit.rule);
    }
}

/// The reference matcher: every trigger tried in turn. Used by tests and by `explain`-style
/// questions about a single rule; never on the hot path.
#[cfg(test)]
pub(crate) fn naive_matches<'a>(
    triggers: impl IntoIterator<Item = TriggerRef<'a>>,
    uri: &str,
    event_type: EventType,
) -> Vec<Hit> {
    let segments: Vec<&str> = uri_segments(uri).collect();
    let mut out: Vec<Hit> = triggers
        .into_iter()
        .filter(|t| t.types.contains(event_type) && t.pattern.matches(&segments))
        .map(|t| Hit {
            rule: t.rule,
            trigger: t.trigger,
        })
        .collect();
    finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn patterns(texts: &[&str]) -> Vec<UriPattern> {
        texts
            .iter()
            .map(|t| UriPattern::parse(t).unwrap())
            .collect()
    }

    fn refs<'a>(patterns: &'a [UriPattern], masks: &[u8]) -> Vec<TriggerRef<'a>> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, p)| TriggerRef {
                rule: (i / 2) as u32,
                trigger: (i % 2) as u32,
                pattern: p,
                types: EventTypeMask(masks[i % masks.len()]),
            })
            .collect()
    }

    /// A rule with two matching triggers is reported once, with its first trigger.
    #[test]
    fn each_rule_once_with_its_first_trigger() {
        let pats = patterns(&["/a/**", "/a/b", "/a/{x}", "/c"]);
        let matcher = Matcher::build(refs(&pats, &[7]));
        assert_eq!(
            matcher.matches("/a/b", EventType::Update),
            vec![
                Hit {
                    rule: 0,
                    trigger: 0
                },
                Hit {
                    rule: 1,
                    trigger: 0
                }
            ]
        );
    }

    /// Event types filter hits.
    #[test]
    fn event_type_mask_filters() {
        let pats = patterns(&["/a", "/a"]);
        let matcher = Matcher::build(refs(
            &pats,
            &[EventType::Delete.bit(), EventType::Update.bit()],
        ));
        assert_eq!(
            matcher.matches("/a", EventType::Update),
            vec![Hit {
                rule: 0,
                trigger: 1
            }]
        );
        assert_eq!(matcher.matches("/a", EventType::Create), vec![]);
    }

    fn arb_segment() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec!["lol-a", "lol-b", "v1", "v2", "x", "17"]).prop_map(String::from),
            1 => Just("*".to_string()),
            1 => prop::sample::select(vec!["{p}", "{q}"]).prop_map(String::from),
        ]
    }

    fn arb_pattern() -> impl Strategy<Value = String> {
        (prop::collection::vec(arb_segment(), 1..5), any::<bool>()).prop_map(|(mut segs, rest)| {
            // Captures must be unique within a pattern.
            let mut seen = Vec::new();
            for s in segs.iter_mut() {
                if s.starts_with('{') {
                    if seen.contains(s) {
                        *s = "*".into();
                    } else {
                        seen.push(s.clone());
                    }
                }
            }
            if rest {
                segs.push("**".into());
            }
            format!("/{}", segs.join("/"))
        })
    }

    fn arb_uri() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!["lol-a", "lol-b", "v1", "v2", "x", "17", "y"]),
            0..7,
        )
        .prop_map(|segs| format!("/{}", segs.join("/")))
    }

    proptest! {
        /// The index's one-pass split gives the reference split's segments, deep URIs included.
        #[test]
        fn inline_split_agrees_with_the_reference(uri in "/?[a/?#é]{0,30}") {
            let fast = inline_segments::Segments::of(&uri);
            let slow: Vec<&str> = uri_segments(&uri).collect();
            prop_assert_eq!(fast.as_slice(), &slow[..]);
        }

        /// For random rule sets and URIs, the index returns exactly what the linear reference does.
        #[test]
        fn index_agrees_with_linear_reference(
            texts in prop::collection::vec(arb_pattern(), 0..40),
            masks in prop::collection::vec(1u8..8, 1..5),
            uris in prop::collection::vec(arb_uri(), 1..20),
            types in prop::collection::vec(prop::sample::select(vec![EventType::Create, EventType::Update, EventType::Delete]), 1..4),
        ) {
            let pats: Vec<UriPattern> = texts.iter().map(|t| UriPattern::parse(t).unwrap()).collect();
            let matcher = Matcher::build(refs(&pats, &masks));
            for uri in &uris {
                for event_type in &types {
                    let fast = matcher.matches(uri, *event_type);
                    let slow = naive_matches(refs(&pats, &masks), uri, *event_type);
                    prop_assert_eq!(matcher.matches_any(uri, *event_type), !slow.is_empty());
                    prop_assert_eq!(fast, slow, "uri {}", uri);
                }
            }
        }
    }
}
