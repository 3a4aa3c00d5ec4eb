//! YAML loading: the only module that talks to a YAML parser.
//!
//! A document is parsed (with `saphyr-parser`, event by event) into a tree of [`Node`]s that each
//! carry their position, duplicate keys are rejected while the tree is built, and the tree is then
//! handed to serde through [`from_str`]. Every serde error leaves this module with the position of
//! the innermost node it concerns, and [`Spanned<T>`] lets a rule type keep the position of any
//! value so that checks made after parsing (a bad JSONPath, a bad template) can point at it too.
//! Swapping the parser means rewriting [`parse`] only.
//!
//! One file on purpose (about 900 lines of code): the node tree, its builder with the node and
//! depth budget, and the serde deserializer over it share the node type and the position
//! bookkeeping, and this is the only module that knows the parser; splitting it would spread
//! that knowledge. ARCHITECTURE.md says why serde-saphyr does not replace it yet.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

mod recover;
pub(crate) use recover::{MAX_SHAPE_ERRORS, from_str_all};

/// A place in a source file: 1-based line and column (in characters), and a length in characters
/// on that line (at least 1) for the caret under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// How many characters the caret covers (on the first line only).
    pub len: u32,
}

impl Span {
    /// A span starting at `line:col` that covers `len` characters.
    pub(crate) fn new(line: u32, col: u32, len: u32) -> Span {
        Span {
            line,
            col,
            len: len.max(1),
        }
    }

    /// The same start, shifted right by `chars` characters and covering `len`.
    pub(crate) fn shifted(self, chars: u32, len: u32) -> Span {
        Span::new(self.line, self.col + chars, len)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One node of a parsed YAML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it starts in the file.
    pub span: Span,
}

impl Node {
    /// The node as text without positions: equal for nodes that say the same thing.
    pub(crate) fn canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut String) {
        match &self.kind {
            NodeKind::Scalar { text, plain } => {
                out.push(if *plain { 'p' } else { 'q' });
                out.push_str(&text.len().to_string());
                out.push(':');
                out.push_str(text);
            }
            NodeKind::Seq(items) => {
                out.push('[');
                for item in items {
                    item.write_canonical(out);
                    out.push(',');
                }
                out.push(']');
            }
            NodeKind::Map(entries) => {
                out.push('{');
                for (key, value) in entries {
                    key.write_canonical(out);
                    out.push('=');
                    value.write_canonical(out);
                    out.push(',');
                }
                out.push('}');
            }
        }
    }
}

/// The shape of a [`Node`]. Scalars keep their text; their type is resolved only when serde asks
/// for one, so that `id: 123` can still be read as the string `"123"`.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar and whether it was written plain (unquoted): only plain scalars can be numbers,
    /// booleans or null.
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// What went wrong in this module, with the position it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    /// The kind of problem, which picks the diagnostic code.
    pub kind: YamlErrorKind,
    /// A one-line description.
    pub message: String,
    /// Where; `None` only while the error is travelling up to the node that owns it.
    pub span: Option<Span>,
    /// A suggestion, where one can be made.
    pub hint: Option<String>,
    /// What is too long for the one-line message and hint (the full list of allowed keys or
    /// values): shown by `check --verbose` and in the JSON output.
    pub detail: Option<String>,
    /// The node the error is about, by address: only compared with the addresses of the tree
    /// being deserialized (never dereferenced), so that [`recover`] can cut it out and go on.
    pub(crate) node: Option<usize>,
}

/// The kinds of [`YamlError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The text is not valid YAML.
    Syntax,
    /// A mapping repeats a key.
    DuplicateKey,
    /// A mapping has a key the format does not know.
    UnknownField,
    /// A required key is missing.
    MissingField,
    /// A value has the wrong type or is not one of the allowed values.
    InvalidValue,
}

impl YamlError {
    fn new(kind: YamlErrorKind, message: impl Into<String>) -> YamlError {
        YamlError {
            kind,
            message: message.into(),
            span: None,
            hint: None,
            detail: None,
            node: None,
        }
    }

    /// Gives the error a position unless a more precise one is already set.
    fn at(mut self, span: Span) -> YamlError {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    /// Gives the error `node`'s position, and `node` as what it is about, unless an inner node
    /// already did.
    fn at_node(mut self, node: &Node) -> YamlError {
        if self.span.is_none() {
            self.span = Some(node.span);
            self.node = Some(std::ptr::from_ref(node) as usize);
        }
        self
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            Some(span) => write!(f, "{span}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for YamlError {}

impl de::Error for YamlError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        YamlError::new(YamlErrorKind::InvalidValue, msg.to_string())
    }

    fn invalid_type(found: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        YamlError::new(
            YamlErrorKind::InvalidValue,
            format!(
                "expected {}, found {}",
                plain_expected(&expected.to_string()),
                plain_unexpected(&found)
            ),
        )
    }

    fn invalid_value(found: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::invalid_type(found, expected)
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut error = YamlError::new(
            YamlErrorKind::UnknownField,
            format!("unknown field `{field}`"),
        );
        error.suggest(field, expected, "keys");
        error
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut error = YamlError::new(
            YamlErrorKind::InvalidValue,
            format!("unknown value `{variant}`"),
        );
        error.suggest(variant, expected, "values");
        error
    }

    fn missing_field(field: &'static str) -> Self {
        YamlError::new(
            YamlErrorKind::MissingField,
            format!("missing required field `{field}`"),
        )
    }
}

/// Lists of allowed words up to this long (in characters) fit in a hint; longer ones go to the
/// error's `detail`.
const SHORT_LIST: usize = 60;

impl YamlError {
    /// The hint for a word that is not one of `allowed`: the closest one, or the list itself when
    /// it is short; a long list goes to `detail`.
    fn suggest(&mut self, written: &str, allowed: &[&str], what: &str) {
        let list = quoted_list(allowed);
        let best = crate::language::suggest::closest(written, allowed.iter().copied());
        self.hint = Some(match best {
            Some(best) => format!("did you mean `{best}`?"),
            None if list.len() <= SHORT_LIST => format!("expected one of {list}"),
            None => format!("none of the {} {what} allowed here is close", allowed.len()),
        });
        if list.len() > SHORT_LIST || best.is_some() {
            self.detail = Some(format!("allowed {what}: {list}"));
        }
    }
}

/// serde's names for what it expected, in the words of the rule format.
fn plain_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a boolean" => "`true` or `false`".to_string(),
        "a string" => "text".to_string(),
        other => other.to_string(),
    }
}

/// serde's description of what was found, without Rust's vocabulary.
fn plain_unexpected(found: &de::Unexpected<'_>) -> String {
    use de::Unexpected;
    match found {
        Unexpected::Str(text) => format!("the text `{text}`"),
        Unexpected::Unsigned(n) => format!("the number {n}"),
        Unexpected::Signed(n) => format!("the number {n}"),
        Unexpected::Float(n) => format!("the number {n}"),
        Unexpected::Bool(b) => format!("`{b}`"),
        Unexpected::Unit => "nothing (null)".to_string(),
        Unexpected::Seq => "a list".to_string(),
        Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn span_of(span: &saphyr_parser::Span, text_len: Option<usize>) -> Span {
    let start = span.start;
    let same_line = span.end.line() == start.line();
    let len = match text_len {
        _ if same_line && span.end.index() > start.index() => span.end.index() - start.index(),
        Some(len) => len,
        None => 1,
    };
    Span::new(
        start.line() as u32,
        start.col() as u32 + 1,
        u32::try_from(len).unwrap_or(u32::MAX),
    )
}

/// Parses one YAML document into a node tree. An empty document gives `None`.
pub(crate) fn parse(source: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = TreeBuilder::default();
    for next in Parser::new_from_str(source) {
        let (event, span) = next.map_err(|error| {
            let marker = error.marker();
            YamlError::new(YamlErrorKind::Syntax, error.info().to_string()).at(Span::new(
                marker.line() as u32,
                marker.col() as u32 + 1,
                1,
            ))
        })?;
        builder.push(event, &span)?;
    }
    Ok(builder.finish())
}

/// The most nodes a document may expand to, aliases counted at their full size each time they
/// are used: a 433-byte "billion laughs" file of nested anchors would otherwise expand by a factor
/// of nine per level until memory runs out. 10,000 rules of a dozen keys each use about a tenth.
pub(crate) const MAX_NODES: usize = 1_000_000;
/// How deep collections may nest (the deserializer recurses once per level).
pub(crate) const MAX_DEPTH: usize = 64;

/// Builds the node tree from parser events.
#[derive(Default)]
struct TreeBuilder {
    /// Open collections: the node being filled, its anchor id, and the node count when it opened.
    stack: Vec<(Node, usize, usize)>,
    /// A mapping's key waiting for its value, per open mapping (parallel to `stack`).
    pending_keys: Vec<Option<Node>>,
    /// The plain keys of each open mapping and the line of each (parallel to `stack`), so a
    /// duplicate is found without comparing every pair of keys.
    seen_keys: Vec<HashMap<String, u32>>,
    /// Anchored nodes and how many nodes each expands to.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes made so far, aliases at their full size.
    nodes: usize,
    documents: usize,
    root: Option<Node>,
}

impl TreeBuilder {
    fn push(&mut self, event: Event<'_>, span: &saphyr_parser::Span) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(YamlError::new(
                        YamlErrorKind::Syntax,
                        "a rule file holds one YAML document; found a second `---`",
                    )
                    .at(span_of(span, Some(3))));
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                self.count(1, span)?;
                let plain = matches!(style, ScalarStyle::Plain);
                let text_len = text.chars().count();
                let node = Node {
                    kind: NodeKind::Scalar {
                        text: text.into_owned(),
                        plain,
                    },
                    span: span_of(span, Some(text_len)),
                };
                self.complete(node, anchor, 1)?;
            }
            Event::Alias(anchor) => {
                let size = self.anchors.get(&anchor).map_or(1, |(_, size)| *size);
                self.count(size, span)?;
                let node = self.anchors.get(&anchor).map(|(node, _)| node.clone());
                let node = node.ok_or_else(|| {
                    YamlError::new(YamlErrorKind::Syntax, "alias to an unknown anchor")
                        .at(span_of(span, None))
                })?;
                self.complete(node, 0, size)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(NodeKind::Seq(Vec::new()), span, anchor)?
            }
            Event::MappingStart(anchor, _) => self.open(NodeKind::Map(Vec::new()), span, anchor)?,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, opened_at)) = self.stack.pop() {
                    self.pending_keys.pop();
                    self.seen_keys.pop();
                    let size = self.nodes - opened_at + 1;
                    self.complete(node, anchor, size)?;
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// Counts `size` more nodes against [`MAX_NODES`].
    fn count(&mut self, size: usize, span: &saphyr_parser::Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_NODES {
            let mut error = YamlError::new(
                YamlErrorKind::Syntax,
                format!("this file expands to more than {MAX_NODES} YAML nodes"),
            );
            error.hint = Some("aliases (`*name`) count at their full size each time they are used; split the file or use fewer aliases".into());
            return Err(error.at(span_of(span, None)));
        }
        Ok(())
    }

    fn open(
        &mut self,
        kind: NodeKind,
        span: &saphyr_parser::Span,
        anchor: usize,
    ) -> Result<(), YamlError> {
        self.count(1, span)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::new(
                YamlErrorKind::Syntax,
                format!("collections nest more than {MAX_DEPTH} deep here"),
            )
            .at(span_of(span, None)));
        }
        self.stack.push((
            Node {
                kind,
                span: span_of(span, None),
            },
            anchor,
            self.nodes,
        ));
        self.pending_keys.push(None);
        self.seen_keys.push(HashMap::new());
        Ok(())
    }

    /// Places a finished node of `size` nodes into its parent (or as the root).
    fn complete(&mut self, node: Node, anchor: usize, size: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some((parent, _, _)) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        let pending = self.pending_keys.last_mut().expect("parallel to stack");
        let seen = self.seen_keys.last_mut().expect("parallel to stack");
        match &mut parent.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    let first_line = match &key.kind {
                        NodeKind::Scalar { text, .. } => seen.get(text).copied().or_else(|| {
                            seen.insert(text.clone(), key.span.line);
                            None
                        }),
                        _ => entries
                            .iter()
                            .find(|(k, _)| same_key(k, &key))
                            .map(|(first, _)| first.span.line),
                    };
                    if let Some(first_line) = first_line {
                        let mut error = YamlError::new(
                            YamlErrorKind::DuplicateKey,
                            format!("duplicate key `{}`", key_text(&key)),
                        );
                        error.hint = Some(format!(
                            "it was already given at line {first_line}; keep one of them"
                        ));
                        return Err(error.at(key.span));
                    }
                    entries.push((key, node));
                }
            },
            NodeKind::Scalar { .. } => unreachable!("scalars are never open"),
        }
        Ok(())
    }

    fn finish(self) -> Option<Node> {
        self.root
    }
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (NodeKind::Scalar { text: x, .. }, NodeKind::Scalar { text: y, .. }) => x == y,
        _ => a.kind == b.kind,
    }
}

fn key_text(node: &Node) -> Cow<'_, str> {
    match &node.kind {
        NodeKind::Scalar { text, .. } => Cow::Borrowed(text),
        _ => Cow::Borrowed("<complex key>"),
    }
}

/// The value of a plain scalar under YAML 1.2's core schema.
enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(value) = i64::from_str_radix(hex, 16)
    {
        return Resolved::Int(value);
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(value) = i64::from_str_radix(octal, 8)
    {
        return Resolved::Int(value);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(value) = text.parse::<i64>()
    {
        return Resolved::Int(value);
    }
    let looks_numeric = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(value) = text.parse::<f64>() {
        return Resolved::Float(value);
    }
    Resolved::Str(text)
}

/// Parses and deserializes a whole document (an empty document reads as null).
pub(crate) fn from_str<T: de::DeserializeOwned>(source: &str) -> Result<T, YamlError> {
    let null = Node {
        kind: NodeKind::Scalar {
            text: String::new(),
            plain: true,
        },
        span: Span::new(1, 1, 1),
    };
    match parse(source)? {
        Some(node) => T::deserialize(&node),
        None => T::deserialize(&null),
    }
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = YamlError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, YamlError> {
        let result = match &self.kind {
            NodeKind::Scalar { text, plain: false } => visitor.visit_str(text),
            NodeKind::Scalar { text, plain: true } => match resolve_plain(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.at_node(self))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, YamlError> {
        match &self.kind {
            // A plain `123` or `true` is still fine where text is wanted.
            NodeKind::Scalar { text, plain } if !(*plain && text.is_empty()) => visitor
                .visit_str(text)
                .map_err(|e: YamlError| e.at_node(self)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, YamlError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, YamlError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, YamlError> {
        match &self.kind {
            NodeKind::Scalar { text, plain: true }
                if matches!(resolve_plain(text), Resolved::Null) =>
            {
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, YamlError> {
        if name == SPANNED_NAME {
            return visitor.visit_map(SpannedAccess {
                node: self,
                state: 0,
            });
        }
        match &self.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(YamlError::new(
                YamlErrorKind::InvalidValue,
                format!(
                    "expected a mapping with {}, found {}",
                    quoted_list(&fields[..fields.len().min(4)]),
                    describe(self)
                ),
            )
            .at_node(self)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, YamlError> {
        if name == ONE_OR_MANY_NAME {
            let result = match &self.kind {
                NodeKind::Seq(items) => visitor.visit_seq(SeqAccess {
                    items: items.iter(),
                }),
                _ => visitor.visit_seq(SeqAccess {
                    items: std::slice::from_ref(self).iter(),
                }),
            };
            return result.map_err(|e| e.at_node(self));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, YamlError> {
        let whole = match &self.kind {
            NodeKind::Map(entries) => entries.iter().map(|(key, _)| key).find(|key| {
                matches!(&key.kind, NodeKind::Scalar { text, .. }
                    if WHOLE_MAPPING_VARIANTS.contains(&text.as_str()) && variants.contains(&text.as_str()))
            }),
            _ => None,
        };
        if let Some(key) = whole {
            return visitor
                .visit_enum(EnumAccess { key, value: self })
                .map_err(|e| e.at_node(self));
        }
        let result = match &self.kind {
            NodeKind::Scalar { text, .. } => visitor.visit_enum(text.as_str().into_deserializer()),
            NodeKind::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumAccess {
                key: &entries[0].0,
                value: &entries[0].1,
            }),
            _ => {
                let mut error = YamlError::new(
                    YamlErrorKind::InvalidValue,
                    format!("expected exactly one of the keys {}", quoted_list(variants)),
                );
                if let NodeKind::Map(entries) = &self.kind
                    && entries.len() > 1
                {
                    let condition = entries.iter().map(|(key, _)| key).find(
                        |key| matches!(&key.kind, NodeKind::Scalar { text, .. } if text == "when"),
                    );
                    if let Some(key) = condition {
                        // The one map a step's kind is read from that carries a condition.
                        error.message = format!("a step cannot have its own `{}`", key_text(key));
                        error.hint = Some(
                            "to run steps only when conditions hold, use an `if` step: `- if: [...]` with `then: [...]` (and `else: [...]`)".to_string(),
                        );
                        return Err(error.at_node(key));
                    }
                    error.hint = Some(
                        "each step is its own list item: start the next one with `- `".to_string(),
                    );
                }
                Err(error)
            }
        };
        result.map_err(|e| e.at_node(self))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        seq tuple tuple_struct map ignored_any
    }
}

/// Enum variants whose content is the whole mapping they are written in, not the value of
/// their key: a rule's `if` step is `{if, then, else}`, its `for_each` step `{for_each, as, do,
/// max}`. Only enums that have a variant of this name are read this way.
const WHOLE_MAPPING_VARIANTS: [&str; 2] = ["if", "for_each"];

fn describe(node: &Node) -> &'static str {
    match &node.kind {
        NodeKind::Scalar { .. } => "a single value",
        NodeKind::Seq(_) => "a list",
        NodeKind::Map(_) => "a mapping",
    }
}

struct SeqAccess<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = YamlError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, YamlError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(node)
                .map(Some)
                .map_err(|e| e.at_node(node)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = YamlError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, YamlError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key).map(Some).map_err(|e| e.at_node(key))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, YamlError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| YamlError::new(YamlErrorKind::Syntax, "value without a key"))?;
        seed.deserialize(node).map_err(|e| e.at_node(node))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAccess<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = YamlError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAccess<'de>), YamlError> {
        let variant = seed
            .deserialize(self.key)
            .map_err(|e| e.at_node(self.key))?;
        Ok((variant, VariantAccess { value: self.value }))
    }
}

struct VariantAccess<'de> {
    value: &'de Node,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = YamlError;

    fn unit_variant(self) -> Result<(), YamlError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, YamlError> {
        seed.deserialize(self.value)
            .map_err(|e| e.at_node(self.value))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, YamlError> {
        de::Deserializer::deserialize_seq(self.value, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, YamlError> {
        de::Deserializer::deserialize_struct(self.value, "", fields, visitor)
    }
}

const SPANNED_NAME: &str = "$__lcu_rules_spanned";
const SPANNED_SPAN: &str = "$__span";
const SPANNED_VALUE: &str = "$__value";
const ONE_OR_MANY_NAME: &str = "$__lcu_rules_one_or_many";

/// Hands a [`Spanned`] visitor the node's position, then the node itself.
struct SpannedAccess<'de> {
    node: &'de Node,
    state: u8,
}

impl<'de> de::MapAccess<'de> for SpannedAccess<'de> {
    type Error = YamlError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, YamlError> {
        let key = match self.state {
            0 => SPANNED_SPAN,
            1 => SPANNED_VALUE,
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, YamlError> {
        self.state += 1;
        if self.state == 1 {
            let span = self.node.span;
            let parts = [span.line, span.col, span.len];
            seed.deserialize(de::value::SeqDeserializer::new(parts.into_iter()))
        } else {
            seed.deserialize(self.node)
        }
    }
}

/// A value together with where it was written. Only the YAML deserializer of this module fills
/// the position; the rule types use it wherever a later check may need to point at a value.
#[derive(Debug, Clone)]
pub(crate) struct Spanned<T> {
    /// Where the value starts.
    pub span: Span,
    /// The value.
    pub value: T,
}

impl<T> Spanned<T> {
    /// Wraps a value written at `span`.
    pub(crate) fn new(span: Span, value: T) -> Spanned<T> {
        Spanned { span, value }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Spanned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpannedVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
            type Value = Spanned<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value read by the lcu-rules YAML loader")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
                let _: Option<String> = map.next_key()?;
                let [line, col, len]: [u32; 3] = map.next_value()?;
                let _: Option<String> = map.next_key()?;
                let value = map.next_value()?;
                Ok(Spanned::new(Span::new(line, col, len), value))
            }
        }

        deserializer.deserialize_struct(
            SPANNED_NAME,
            &[SPANNED_SPAN, SPANNED_VALUE],
            SpannedVisitor(std::marker::PhantomData),
        )
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// One value or a list of them: `on: /a` and `on: [/a, /b]` both read as a list.
#[derive(Debug, Clone)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = OneOrMany<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one value or a list of values")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }

        deserializer
            .deserialize_newtype_struct(ONE_OR_MANY_NAME, ListVisitor(std::marker::PhantomData))
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = generator.subschema_for::<T>();
        schemars::json_schema!({
            "anyOf": [one.clone(), {"type": "array", "items": one, "minItems": 1}]
        })
    }
}

/// Reads a value written either as a short string or as a full mapping (`request: POST /x` or
/// `request: {method: POST, path: /x}`). `T::Fields` is the mapping form.
pub(crate) trait Shorthand: Sized {
    /// The mapping form.
    type Fields: de::DeserializeOwned;
    /// Reads the short string form.
    fn from_short(text: &str) -> Result<Self, String>;
    /// Converts the mapping form.
    fn from_fields(fields: Self::Fields) -> Self;
}

/// Deserializes a [`Shorthand`] type; call it from the type's `Deserialize` impl.
pub(crate) fn deserialize_shorthand<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: de::Deserializer<'de>,
    T: Shorthand,
{
    struct ShortVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: Shorthand> Visitor<'de> for ShortVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a short string or a mapping")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            T::from_short(text).map_err(E::custom)
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let fields = <T::Fields as de::Deserialize>::deserialize(
                de::value::MapAccessDeserializer::new(map),
            )?;
            Ok(T::from_fields(fields))
        }
    }

    deserializer.deserialize_any(ShortVisitor(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: Spanned<String>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        tags: Option<OneOrMany<String>>,
    }

    fn error_of(source: &str) -> YamlError {
        from_str::<Sample>(source).expect_err("should fail")
    }

    /// Values keep the position they were written at.
    #[test]
    fn spanned_values_know_their_position() {
        let sample: Sample = from_str("count: 3\nname:   hello\n").unwrap();
        assert_eq!(sample.name.value, "hello");
        assert_eq!(sample.name.span, Span::new(2, 9, 5));
        assert_eq!(sample.count, Some(3));
    }

    /// A misspelt key is reported at the key, with a suggestion.
    #[test]
    fn unknown_field_points_at_the_key_and_suggests() {
        let error = error_of("name: x\ncont: 3\n");
        assert_eq!(error.kind, YamlErrorKind::UnknownField);
        assert_eq!(error.span, Some(Span::new(2, 1, 4)));
        assert_eq!(error.hint.as_deref(), Some("did you mean `count`?"));
    }

    /// Repeating a key is an error, not a silent overwrite.
    #[test]
    fn duplicate_keys_are_rejected() {
        let error = error_of("name: x\ncount: 1\ncount: 2\n");
        assert_eq!(error.kind, YamlErrorKind::DuplicateKey);
        assert_eq!(error.span.map(|s| (s.line, s.col)), Some((3, 1)));
    }

    /// A wrong type points at the value.
    #[test]
    fn wrong_type_points_at_the_value() {
        let error = error_of("name: x\ncount: lots\n");
        assert_eq!(error.kind, YamlErrorKind::InvalidValue);
        assert_eq!(error.span, Some(Span::new(2, 8, 4)));
    }

    /// A missing field points at the mapping that lacks it.
    #[test]
    fn missing_field_is_reported() {
        let error = error_of("count: 1\n");
        assert_eq!(error.kind, YamlErrorKind::MissingField);
        assert!(error.message.contains("`name`"));
    }

    /// One value and a list of values read alike.
    #[test]
    fn one_or_many_accepts_both_forms() {
        let one: Sample = from_str("name: x\ntags: a\n").unwrap();
        assert_eq!(one.tags.unwrap().0, vec!["a"]);
        let many: Sample = from_str("name: x\ntags: [a, b]\n").unwrap();
        assert_eq!(many.tags.unwrap().0, vec!["a", "b"]);
    }

    /// Broken YAML is a syntax error with a position.
    #[test]
    fn syntax_errors_have_positions() {
        let error = error_of("name: [unclosed\n");
        assert_eq!(error.kind, YamlErrorKind::Syntax);
        assert!(error.span.is_some());
    }

    /// Plain scalars resolve by the core schema; quoted ones stay strings.
    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let value: serde_json::Value =
            from_str("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: None\ng: -3\n").unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": "None", "g": -3})
        );
    }
}
