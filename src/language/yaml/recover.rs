//! Reading a whole file's shape mistakes in one pass. serde stops at the first error; this module
//! cuts the node that error is about out of the tree (the misspelt key with its value, the value
//! of the wrong type, the item that lacks a required key) and deserializes again, until the rest
//! reads or [`MAX_SHAPE_ERRORS`] are found. Each pass is serde's own, so every error keeps the
//! code, message and position a single pass gives.
//!
//! What the pruned tree reads as is only good for finding more mistakes: a file with any shape
//! error has errors, and a load with errors is never run.

use serde::de::DeserializeOwned;

use super::{Node, NodeKind, Span, YamlError, parse};

/// The most shape errors reported for one file; past them the file is surely not a rule file.
pub(crate) const MAX_SHAPE_ERRORS: usize = 100;

/// What [`from_str_all`] read.
pub(crate) struct Recovered<T> {
    /// The value read once the mistakes were cut out (`None` when nothing could be read).
    pub value: Option<T>,
    /// The errors, in the order found.
    pub errors: Vec<YamlError>,
    /// Every collection something was cut out of, and the collections around it: a part of the
    /// value whose span is here lost a piece, and checking it further would report what follows
    /// from the cut rather than the user's mistakes.
    pub touched: Vec<Span>,
}

impl<T> Recovered<T> {
    /// Whether the part written at `span` lost a piece to a cut.
    pub(crate) fn was_touched(&self, span: Span) -> bool {
        self.touched.contains(&span)
    }
}

/// Parses and deserializes `source`, collecting every shape error. A syntax error ends the
/// reading at once: past it there is no tree to go on with.
pub(crate) fn from_str_all<T: DeserializeOwned>(source: &str) -> Recovered<T> {
    let done = |value, errors, touched| Recovered {
        value,
        errors,
        touched,
    };
    let mut root = match parse(source) {
        Ok(Some(root)) => root,
        Ok(None) => Node {
            kind: NodeKind::Scalar {
                text: String::new(),
                plain: true,
            },
            span: Span::new(1, 1, 1),
        },
        Err(error) => return done(None, vec![error], Vec::new()),
    };
    let mut errors = Vec::new();
    // Collections something was cut out of: a "missing field" there follows from an error
    // already reported.
    let mut pruned: Vec<Span> = Vec::new();
    let mut touched: Vec<Span> = Vec::new();
    loop {
        let error = match T::deserialize(&root) {
            Ok(value) => return done(Some(value), errors, touched),
            Err(error) => error,
        };
        let target = error.node;
        // An error about a collection something was cut out of (a key now missing, a step with
        // no key left) follows from an error already reported.
        let follows = error.span.is_some_and(|span| pruned.contains(&span));
        if !follows && !errors.contains(&error) {
            errors.push(YamlError {
                node: None,
                ..error
            });
        }
        let mut around = Vec::new();
        let cut = target.is_some_and(|target| cut_out(&mut root, target, &mut around));
        if !cut || errors.len() >= MAX_SHAPE_ERRORS {
            return done(None, errors, touched);
        }
        pruned.extend(around.last().copied());
        touched.extend(around);
    }
}

/// Removes the node at address `target` from the tree: a key takes its value with it, a value
/// its key, a list item only itself. Pushes onto `around` the span of every collection from
/// `node` down to the one it was in. False when `target` is the root or not in the tree.
fn cut_out(node: &mut Node, target: usize, around: &mut Vec<Span>) -> bool {
    let is = |candidate: &Node| std::ptr::from_ref(candidate) as usize == target;
    around.push(node.span);
    let found = match &mut node.kind {
        NodeKind::Scalar { .. } => false,
        NodeKind::Seq(items) => match items.iter().position(is) {
            Some(index) => {
                items.remove(index);
                true
            }
            None => items.iter_mut().any(|item| cut_out(item, target, around)),
        },
        NodeKind::Map(entries) => match entries.iter().position(|(k, v)| is(k) || is(v)) {
            Some(index) => {
                entries.remove(index);
                true
            }
            None => entries
                .iter_mut()
                .any(|(_, value)| cut_out(value, target, around)),
        },
    };
    if !found {
        around.pop();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::yaml::YamlErrorKind;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: String,
        #[serde(default)]
        count: u32,
    }

    fn lines(errors: &[YamlError]) -> Vec<(u32, YamlErrorKind)> {
        errors
            .iter()
            .map(|e| (e.span.map_or(0, |s| s.line), e.kind))
            .collect()
    }

    /// Three mistakes in three places are three errors, and the good item still reads.
    #[test]
    fn every_mistake_is_found_in_one_pass() {
        let source = "items:\n  - name: a\n    cont: 1\n  - name: b\n    count: lots\n  - count: 2\n  - name: c\n";
        let Recovered { value, errors, .. } = from_str_all::<File>(source);
        assert_eq!(
            lines(&errors),
            vec![
                (3, YamlErrorKind::UnknownField),
                (5, YamlErrorKind::InvalidValue),
                (6, YamlErrorKind::MissingField),
            ]
        );
        let items: Vec<(String, u32)> = value
            .expect("the rest reads")
            .items
            .into_iter()
            .map(|i| (i.name, i.count))
            .collect();
        assert_eq!(items, [("a".into(), 0), ("b".into(), 0), ("c".into(), 0)]);
    }

    /// The item a piece was cut from, and the collections around it, are marked; the others not.
    #[test]
    fn the_parts_that_lost_a_piece_are_marked() {
        let read = from_str_all::<File>("items:\n  - name: a\n  - name: b\n    cont: 1\n");
        assert!(read.was_touched(Span::new(3, 5, 1)), "{:?}", read.touched);
        assert!(!read.was_touched(Span::new(2, 5, 1)), "{:?}", read.touched);
    }

    /// A required value of the wrong type is one error, not also a "missing" one.
    #[test]
    fn a_cut_required_value_is_not_reported_missing() {
        let read = from_str_all::<File>("items:\n  - name: [x]\n");
        assert_eq!(lines(&read.errors), vec![(2, YamlErrorKind::InvalidValue)]);
    }

    /// A syntax error stops at once; a wrong root ends after its one error.
    #[test]
    fn unrecoverable_errors_end_the_pass() {
        let read = from_str_all::<File>("items: [unclosed\n");
        assert!(read.value.is_none());
        assert_eq!(read.errors.len(), 1);
        assert_eq!(read.errors[0].kind, YamlErrorKind::Syntax);
        let read = from_str_all::<File>("just text\n");
        assert!(read.value.is_none());
        assert_eq!(read.errors.len(), 1);
    }

    /// A file of nothing but mistakes stops at the limit.
    #[test]
    fn the_error_count_is_bounded() {
        let source: String = std::iter::once("items:\n".to_string())
            .chain((0..300).map(|i| format!("  - name: n{i}\n    bad{i}: 1\n")))
            .collect();
        let read = from_str_all::<File>(&source);
        assert_eq!(read.errors.len(), MAX_SHAPE_ERRORS);
    }
}
