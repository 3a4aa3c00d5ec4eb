//! Diagnostics: every problem found in a rule file, with its stable code, position, caret snippet
//! and hint, rendered for people or as JSON. The code list is the one documented in
//! `docs/diagnostics.md`; a code never changes meaning once released.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::language::suggest::closest;
use crate::language::yaml::{Span, YamlError, YamlErrorKind};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The rule set cannot be loaded.
    Error,
    /// The rule set loads, but something is probably wrong.
    Warning,
}

/// The stable diagnostic codes. Numbers group by stage: 1xx reading YAML, 2xx compiling rules,
/// 3xx embedded tests, 4xx warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// E100: the file is not valid YAML.
    YamlSyntax,
    /// E101: a mapping repeats a key.
    DuplicateKey,
    /// E102: a key the rule format does not have.
    UnknownField,
    /// E103: a value of the wrong type, or not one of the allowed values.
    InvalidValue,
    /// E104: a required key is missing.
    MissingField,
    /// E105: the file cannot be read.
    Io,
    /// E200: two rules share an id.
    DuplicateRuleId,
    /// E201: a trigger's URI pattern is malformed.
    InvalidUriPattern,
    /// E202: a JSONPath does not parse or does not start at a known root.
    InvalidJsonPath,
    /// E203: a Handlebars template does not compile.
    InvalidTemplate,
    /// E204: a regular expression does not compile.
    InvalidRegex,
    /// E205: a duration is malformed.
    InvalidDuration,
    /// E206: a template or path names a variable that does not exist.
    UnknownVariable,
    /// E207: a condition has no operator, several, or an operand of the wrong kind.
    InvalidCondition,
    /// E208: a request step is malformed (method, path).
    InvalidRequest,
    /// E209: a named value (`let`) has a reserved or repeated name, or a bad shape.
    InvalidBinding,
    /// E300: an embedded test's events cannot be read.
    TestEvents,
    /// W400: a rule setting that has no effect.
    IneffectiveSetting,
    /// W401: a file that holds no rules and no tests.
    EmptyFile,
    /// W402: a request to a path the client's API does not have.
    UnknownEndpoint,
    /// W403: a request with a method the endpoint does not take.
    MethodNotAllowed,
    /// W404: a trigger on URIs the client is not known to send events for.
    UnknownEventUri,
    /// W405: a condition path names a field the event's type does not have.
    UnknownApiField,
    /// W406: a compared value that is not one of the field's enum values.
    UnknownEnumValue,
    /// W407: a request body field the endpoint's body type does not have.
    UnknownBodyField,
    /// W408: a request body value of the wrong JSON type.
    BodyFieldType,
    /// W409: conditions that can never hold together: the rule never fires.
    NeverFires,
    /// W410: two `single` rules that fire on exactly the same events.
    ShadowedRule,
    /// W411: a JSONPath filter compares with a `$` path that cannot exist.
    FilterPathMissing,
}

impl Code {
    /// The stable code text, e.g. `E102`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::YamlSyntax => "E100",
            Code::DuplicateKey => "E101",
            Code::UnknownField => "E102",
            Code::InvalidValue => "E103",
            Code::MissingField => "E104",
            Code::Io => "E105",
            Code::DuplicateRuleId => "E200",
            Code::InvalidUriPattern => "E201",
            Code::InvalidJsonPath => "E202",
            Code::InvalidTemplate => "E203",
            Code::InvalidRegex => "E204",
            Code::InvalidDuration => "E205",
            Code::UnknownVariable => "E206",
            Code::InvalidCondition => "E207",
            Code::InvalidRequest => "E208",
            Code::InvalidBinding => "E209",
            Code::TestEvents => "E300",
            Code::IneffectiveSetting => "W400",
            Code::EmptyFile => "W401",
            Code::UnknownEndpoint => "W402",
            Code::MethodNotAllowed => "W403",
            Code::UnknownEventUri => "W404",
            Code::UnknownApiField => "W405",
            Code::UnknownEnumValue => "W406",
            Code::UnknownBodyField => "W407",
            Code::BodyFieldType => "W408",
            Code::NeverFires => "W409",
            Code::ShadowedRule => "W410",
            Code::FilterPathMissing => "W411",
        }
    }

    /// Every code, in documentation order.
    pub const ALL: [Code; 29] = [
        Code::YamlSyntax,
        Code::DuplicateKey,
        Code::UnknownField,
        Code::InvalidValue,
        Code::MissingField,
        Code::Io,
        Code::DuplicateRuleId,
        Code::InvalidUriPattern,
        Code::InvalidJsonPath,
        Code::InvalidTemplate,
        Code::InvalidRegex,
        Code::InvalidDuration,
        Code::UnknownVariable,
        Code::InvalidCondition,
        Code::InvalidRequest,
        Code::InvalidBinding,
        Code::TestEvents,
        Code::IneffectiveSetting,
        Code::EmptyFile,
        Code::UnknownEndpoint,
        Code::MethodNotAllowed,
        Code::UnknownEventUri,
        Code::UnknownApiField,
        Code::UnknownEnumValue,
        Code::UnknownBodyField,
        Code::BodyFieldType,
        Code::NeverFires,
        Code::ShadowedRule,
        Code::FilterPathMissing,
    ];

    /// Whether this code is a warning rather than an error.
    pub(crate) fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// A one-line message.
    pub message: String,
    /// The file it concerns.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Characters the caret covers.
    #[serde(skip)]
    pub len: u32,
    /// A suggestion, where one can be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// What is too long for one line (every allowed key or value), shown by `check --verbose`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The source line, for the caret snippet.
    #[serde(skip)]
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// Renders the diagnostic the way `check` prints it: header, location, caret snippet, hint.
    pub fn render(&self) -> String {
        self.render_with(false)
    }

    /// [`Diagnostic::render`], with the long `detail` when `verbose`.
    pub fn render_with(&self, verbose: bool) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}[{}]: {}", self.code.as_str(), self.message);
        let _ = writeln!(
            out,
            "  --> {}:{}:{}",
            self.file.display(),
            self.line,
            self.column
        );
        if let Some(line) = &self.source_line {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let shown: String = line
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .collect();
            let caret_at = (self.column as usize).saturating_sub(1);
            let visible = shown.chars().count().saturating_sub(caret_at).max(1);
            let carets = "^".repeat((self.len as usize).clamp(1, visible));
            let _ = writeln!(out, " {pad} |");
            let _ = writeln!(out, " {number} | {shown}");
            let _ = writeln!(out, " {pad} | {}{carets}", " ".repeat(caret_at));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "  = hint: {hint}");
        }
        if verbose && let Some(detail) = &self.detail {
            let _ = writeln!(out, "  = note: {detail}");
        }
        out
    }
}

/// Collects the diagnostics of one file, filling in the file name and the source line.
pub(crate) struct Sink<'a> {
    file: &'a Path,
    source: &'a str,
    /// The source's lines, split on the first report: finding a line by counting from the start
    /// for each diagnostic made a file of 10,000 rules take seconds.
    lines: std::cell::OnceCell<Vec<&'a str>>,
    /// What has been collected so far.
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    /// A sink for `file`, whose text is `source`.
    pub(crate) fn new(file: &'a Path, source: &'a str) -> Sink<'a> {
        Sink {
            file,
            source,
            lines: std::cell::OnceCell::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Line `number` (from 1) of the source.
    pub(crate) fn line(&self, number: u32) -> Option<&'a str> {
        let source = self.source;
        self.lines
            .get_or_init(|| source.lines().collect())
            .get((number as usize).saturating_sub(1))
            .copied()
    }

    /// Records a diagnostic; its severity follows from its code.
    pub(crate) fn report(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let diagnostic = self.make(code, span, message, hint);
        self.diagnostics.push(diagnostic);
    }

    /// A diagnostic at `span` of this file, not recorded: for a mistake that only a later look
    /// at every file can tell (a `cancel` step naming a rule no file defines).
    pub(crate) fn make(
        &self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Diagnostic {
        let source_line = self.line(span.line).map(str::to_string);
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            file: self.file.to_path_buf(),
            line: span.line.max(1),
            column: span.col.max(1),
            len: span.len,
            hint,
            detail: None,
            source_line,
        }
    }

    /// Records a diagnostic with a `detail` for `--verbose`.
    pub(crate) fn report_detailed(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        hint: Option<String>,
        detail: Option<String>,
    ) {
        self.report(code, span, message, hint);
        if let Some(last) = self.diagnostics.last_mut() {
            last.detail = detail;
        }
    }

    /// Records a YAML-stage error.
    pub(crate) fn report_yaml(&mut self, error: YamlError) {
        let code = match error.kind {
            YamlErrorKind::Syntax => Code::YamlSyntax,
            YamlErrorKind::DuplicateKey => Code::DuplicateKey,
            YamlErrorKind::UnknownField => Code::UnknownField,
            YamlErrorKind::MissingField => Code::MissingField,
            YamlErrorKind::InvalidValue => Code::InvalidValue,
        };
        let span = error.span.unwrap_or(Span::new(1, 1, 1));
        self.report_detailed(code, span, error.message, error.hint, error.detail);
    }

    /// Whether any error (not warning) was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Typos find their intended word; unrelated words find nothing.
    #[test]
    fn closest_finds_likely_typos_only() {
        assert_eq!(closest("stat", ["state", "timer"]), Some("state"));
        assert_eq!(
            closest("InProgres", ["Invalid", "InProgress"]),
            Some("InProgress")
        );
        assert_eq!(closest("banana", ["state", "timer"]), None);
    }

    /// The caret sits under the reported column and spans the reported length.
    #[test]
    fn render_puts_the_caret_under_the_span() {
        let mut sink = Sink::new(Path::new("r.yaml"), "rules:\n  - idd: x\n");
        sink.report(
            Code::UnknownField,
            Span::new(2, 5, 3),
            "unknown field `idd`",
            Some("did you mean `id`?".into()),
        );
        let text = sink.diagnostics[0].render();
        assert_eq!(
            text,
            "error[E102]: unknown field `idd`\n  --> r.yaml:2:5\n   |\n 2 |   - idd: x\n   |     ^^^\n  = hint: did you mean `id`?\n"
        );
    }
}
