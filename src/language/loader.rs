//! Loading rule files: expands folders, reads and parses every file, compiles every rule and test
//! case, and collects every diagnostic of every file in one pass. Rule ids are checked for
//! uniqueness across all files. Loading never stops at the first problem and never panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use handlebars::Handlebars;

use crate::language::cases::{TestCase, compile_tests};
use crate::language::compile::{RuleCompiler, Suggestions};
use crate::language::diag::{Code, Diagnostic, Severity, Sink};
use crate::language::rule::{Rule, RuleSet};
use crate::language::spec::RuleFile;
use crate::language::template::TemplateCompiler;
use crate::language::yaml::{self, Span};

/// One loaded file.
#[derive(Debug)]
pub struct LoadedFile {
    /// Its path.
    pub path: PathBuf,
    /// Its rules that compiled.
    pub rules: Vec<Arc<Rule>>,
    /// Its test cases.
    pub tests: Vec<TestCase>,
}

/// What the files of a load hold as written, whether or not it compiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Files read.
    pub files: usize,
    /// Items of their `rules:` lists.
    pub rules: usize,
    /// Items of their `tests:` lists.
    pub tests: usize,
}

/// The result of loading a set of paths.
pub struct Loaded {
    /// Every file that loaded, in load order.
    pub files: Vec<LoadedFile>,
    /// What the files read hold as written, mistakes included: `check`'s summary.
    pub written: Written,
    /// The `vars` of every file, one object.
    pub vars: serde_json::Value,
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
    /// The templates of every rule.
    pub registry: Arc<Handlebars<'static>>,
}

impl Loaded {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The rule set the live engine uses: every rule, indexed if enabled.
    pub fn rule_set(&self) -> RuleSet {
        let rules = self
            .files
            .iter()
            .flat_map(|f| f.rules.iter().cloned())
            .collect();
        RuleSet::new(rules, self.registry.clone(), false).with_vars(self.vars.clone())
    }

    /// The rule set a file's tests run against: its own rules, disabled ones included.
    pub fn file_rule_set(&self, file: &LoadedFile) -> RuleSet {
        RuleSet::new(file.rules.clone(), self.registry.clone(), true).with_vars(self.vars.clone())
    }

    /// Every rule, in load order.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.files.iter().flat_map(|f| f.rules.iter())
    }
}

/// Loads files and folders (a folder means every `*.yaml` / `*.yml` directly in it, sorted),
/// checking requests and triggers against the API index shipped with lcu-rules.
pub fn load(paths: &[PathBuf]) -> Loaded {
    load_with(paths, Some(crate::language::api::ApiIndex::embedded()))
}

/// [`load`], with another API index (or none).
pub fn load_with(paths: &[PathBuf], api: Option<&crate::language::api::ApiIndex>) -> Loaded {
    let mut diagnostics = Vec::new();
    let files = expand(paths, &mut diagnostics);
    let mut loading = Loading::new(api, diagnostics);
    for path in files {
        match read_limited(&path) {
            Ok(source) => loading.add(&path, &source),
            Err(error) => loading.diagnostics.push(io_diagnostic(&path, &error)),
        }
    }
    loading.finish()
}

/// Loads one rule file from its text, as if read from `path` (the fuzz targets' entry).
pub(crate) fn load_text(path: &Path, source: &str) -> Loaded {
    let mut loading = Loading::new(Some(crate::language::api::ApiIndex::embedded()), Vec::new());
    loading.add(path, source);
    loading.finish()
}

/// A load in progress: what its files share, and what they gave so far.
struct Loading<'a> {
    api: Option<&'a crate::language::api::ApiIndex>,
    templates: TemplateCompiler,
    seen_ids: HashMap<String, (PathBuf, u32)>,
    suggestions: Suggestions,
    reactions: HashMap<String, (String, PathBuf, u32)>,
    files: Vec<LoadedFile>,
    diagnostics: Vec<Diagnostic>,
    written: Written,
    vars: serde_json::Map<String, serde_json::Value>,
    /// Where each var was defined.
    var_sites: HashMap<String, (PathBuf, u32)>,
}

impl<'a> Loading<'a> {
    fn new(api: Option<&'a crate::language::api::ApiIndex>, diagnostics: Vec<Diagnostic>) -> Self {
        Loading {
            api,
            templates: TemplateCompiler::default(),
            seen_ids: HashMap::new(),
            suggestions: Suggestions::default(),
            reactions: HashMap::new(),
            files: Vec::new(),
            diagnostics,
            written: Written::default(),
            vars: serde_json::Map::new(),
            var_sites: HashMap::new(),
        }
    }

    /// Compiles one file's text into the load.
    fn add(&mut self, path: &Path, source: &str) {
        let mut state = LoadState {
            templates: &mut self.templates,
            seen_ids: &mut self.seen_ids,
            suggestions: &mut self.suggestions,
            api: self.api,
            written: &mut self.written,
            vars: &mut self.vars,
            var_sites: &mut self.var_sites,
        };
        let (file, file_diagnostics) = load_file(path, source, &mut state);
        self.diagnostics.extend(file_diagnostics);
        if let Some(file) = &file {
            self.diagnostics
                .extend(shadowed_rules(file, source, &mut self.reactions));
        }
        self.files.extend(file);
    }

    fn finish(mut self) -> Loaded {
        self.check_cancel_targets();
        Loaded {
            files: self.files,
            written: self.written,
            vars: serde_json::Value::Object(self.vars),
            diagnostics: self.diagnostics,
            registry: Arc::new(self.templates.finish()),
        }
    }
}

impl Loading<'_> {
    /// Every `cancel` step names a rule some loaded file defines (known only now that every
    /// file is compiled).
    fn check_cancel_targets(&mut self) {
        let ids: Vec<&str> = self.seen_ids.keys().map(String::as_str).collect();
        let mut unknown = Vec::new();
        for rule in self.files.iter().flat_map(|f| &f.rules) {
            crate::language::rule::visit_steps(&rule.steps, &mut |step| {
                if let crate::language::rule::Step::Cancel(cancel) = step
                    && !ids.contains(&cancel.rule.as_str())
                {
                    let mut diagnostic = (*cancel.unknown).clone();
                    diagnostic.hint =
                        crate::language::diag::closest(&cancel.rule, ids.iter().copied())
                            .map(|best| format!("did you mean `{best}`?"));
                    unknown.push(diagnostic);
                }
            });
        }
        self.diagnostics.extend(unknown);
    }
}

/// The largest rule file read, in bytes (10,000 rules take about 2 MiB).
pub(crate) const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Reads a rule file of at most [`MAX_FILE_BYTES`]; a longer one is not read at all.
fn read_limited(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut source = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut source)
        .map_err(|e| e.to_string())?;
    if source.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "the file is larger than the limit of {} MiB",
            MAX_FILE_BYTES / (1024 * 1024)
        ));
    }
    Ok(source)
}

/// What the files of one load share.
struct LoadState<'a> {
    /// The templates of every rule.
    templates: &'a mut TemplateCompiler,
    /// Each rule id and where it was first defined.
    seen_ids: &'a mut HashMap<String, (PathBuf, u32)>,
    /// The "did you mean" answers found so far.
    suggestions: &'a mut Suggestions,
    /// The client's API, to check against.
    api: Option<&'a crate::language::api::ApiIndex>,
    /// What the files hold as written.
    written: &'a mut Written,
    /// The vars so far, and where each was defined.
    vars: &'a mut serde_json::Map<String, serde_json::Value>,
    var_sites: &'a mut HashMap<String, (PathBuf, u32)>,
}

fn load_file(
    path: &Path,
    source: &str,
    state: &mut LoadState<'_>,
) -> (Option<LoadedFile>, Vec<Diagnostic>) {
    let LoadState {
        templates,
        seen_ids,
        suggestions,
        api,
        written,
        vars,
        var_sites,
    } = state;
    let mut sink = Sink::new(path, source);
    let (fingerprints, tests_written) = rule_fingerprints(source);
    written.files += 1;
    written.rules += fingerprints.len();
    written.tests += tests_written;
    // Every shape mistake is reported; what reads once they are cut out is still compiled, so
    // that its mistakes are reported too (the file has errors, so none of it runs).
    // A rule or test that lost a piece is not compiled: its errors would follow from the cut.
    let read = yaml::from_str_all::<RuleFile>(source);
    let shape_errors_found = read.errors.len();
    for error in read.errors.iter().cloned() {
        sink.report_yaml(error);
    }
    if shape_errors_found >= yaml::MAX_SHAPE_ERRORS {
        sink.report(
            Code::InvalidValue,
            Span::new(1, 1, 1),
            format!("stopped after {shape_errors_found} errors in this file"),
            Some("is it a rule file?".into()),
        );
    }
    let Some(spec) = &read.value else {
        return (None, sink.diagnostics);
    };
    collect_vars(spec, path, vars, var_sites, &mut sink);
    if spec.rules.is_empty()
        && spec.tests.is_empty()
        && spec.vars.is_empty()
        && shape_errors_found == 0
    {
        sink.report(
            Code::EmptyFile,
            Span::new(1, 1, 1),
            "this file holds no rules and no tests",
            Some("add a `rules:` list".into()),
        );
    }
    let mut rules = Vec::new();
    for (index, rule_spec) in spec.rules.iter().enumerate() {
        if read.was_touched(rule_spec.span) {
            continue;
        }
        let id = &rule_spec.id;
        if let Some((first_file, first_line)) = seen_ids.get(&id.value) {
            sink.report(
                Code::DuplicateRuleId,
                id.span,
                format!("rule id `{}` is already used", id.value),
                Some(format!(
                    "first defined at {}:{first_line}; rule ids are unique across all files",
                    first_file.display()
                )),
            );
        } else {
            seen_ids.insert(id.value.clone(), (path.to_path_buf(), id.span.line));
        }
        let mut compiler = RuleCompiler {
            templates,
            sink: &mut sink,
            suggestions,
            api: *api,
            data_type: None,
        };
        if let Some(mut rule) = compiler.rule(rule_spec, path) {
            rule.fingerprint = fingerprints.get(index).copied().unwrap_or_default();
            rules.push(Arc::new(rule));
        }
    }
    let untouched: Vec<_> = spec
        .tests
        .iter()
        .filter(|test| !read.was_touched(test.span))
        .cloned()
        .collect();
    let tests = compile_tests(&untouched, path, &mut sink);
    // Shape errors were found before the compile errors; the reader wants them in file order.
    sink.diagnostics.sort_by_key(|d| (d.line, d.column));
    let file = LoadedFile {
        path: path.to_path_buf(),
        rules,
        tests,
    };
    (Some(file), sink.diagnostics)
}

/// A digest of each rule's YAML node, positions left out: a reload compares them to tell which
/// rules changed.
/// With the number of `tests:` items written (the same parse counts them).
fn rule_fingerprints(source: &str) -> (Vec<u64>, usize) {
    use std::hash::{Hash as _, Hasher as _};
    let Ok(Some(root)) = yaml::parse(source) else {
        return (Vec::new(), 0);
    };
    let yaml::NodeKind::Map(entries) = &root.kind else {
        return (Vec::new(), 0);
    };
    let items = |name: &str| {
        entries
            .iter()
            .find(
                |(key, _)| matches!(&key.kind, yaml::NodeKind::Scalar { text, .. } if text == name),
            )
            .and_then(|(_, value)| match &value.kind {
                yaml::NodeKind::Seq(items) => Some(items.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let fingerprints = items("rules")
        .iter()
        .map(|item| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            item.canonical().hash(&mut hasher);
            hasher.finish()
        })
        .collect();
    (fingerprints, items("tests").len())
}

/// Adds a file's `vars` to the load's; a name defined twice is an error (E209) at the second.
fn collect_vars(
    spec: &RuleFile,
    path: &Path,
    vars: &mut serde_json::Map<String, serde_json::Value>,
    var_sites: &mut HashMap<String, (PathBuf, u32)>,
    sink: &mut Sink<'_>,
) {
    for (name, value) in &spec.vars {
        let valid = name
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            sink.report(
                Code::InvalidBinding,
                name.span,
                format!("`{}` cannot name a var", name.value),
                Some("use letters, digits and `_`, starting with a letter".into()),
            );
            continue;
        }
        if let Some((file, line)) = var_sites.get(&name.value) {
            sink.report(
                Code::InvalidBinding,
                name.span,
                format!("the var `{}` is already defined", name.value),
                Some(format!(
                    "first defined at {}:{line}; each var is defined once across all files",
                    file.display()
                )),
            );
            continue;
        }
        var_sites.insert(name.value.clone(), (path.to_path_buf(), name.span.line));
        vars.insert(name.value.clone(), value.clone());
    }
}

/// Warns (W410) about enabled `single` rules that fire on exactly the same events as an earlier
/// one: both would run every time.
fn shadowed_rules(
    file: &LoadedFile,
    source: &str,
    reactions: &mut HashMap<String, (String, PathBuf, u32)>,
) -> Vec<Diagnostic> {
    let mut sink = Sink::new(&file.path, source);
    for rule in file
        .rules
        .iter()
        .filter(|r| r.enabled && r.mode == crate::language::spec::Mode::Single)
    {
        let signature = rule.reaction_signature();
        match reactions.get(&signature) {
            Some((other, other_file, line)) => sink.report(
                Code::ShadowedRule,
                rule.span,
                format!(
                    "`{}` fires on exactly the same events as `{other}`: both will run each time",
                    rule.id
                ),
                Some(format!(
                    "`{other}` is at {}:{line}; merge them, or make their conditions differ",
                    other_file.display()
                )),
            ),
            None => {
                reactions.insert(
                    signature,
                    (rule.id.clone(), file.path.clone(), rule.span.line),
                );
            }
        }
    }
    sink.diagnostics
}

fn io_diagnostic(path: &Path, message: &str) -> Diagnostic {
    let mut sink = Sink::new(path, "");
    sink.report(
        Code::Io,
        Span::new(1, 1, 1),
        format!("cannot read `{}`: {message}", path.display()),
        None,
    );
    sink.diagnostics.remove(0)
}

/// Files to load, in order: each named file, and each folder's YAML files sorted by name.
fn expand(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            p.is_file()
                                && matches!(
                                    p.extension().and_then(|e| e.to_str()),
                                    Some("yaml" | "yml")
                                )
                        })
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(error) => diagnostics.push(io_diagnostic(path, &error.to_string())),
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            diagnostics.push(io_diagnostic(path, "no such file or folder"));
        }
    }
    files
}
