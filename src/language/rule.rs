//! Compiled rules and the rule set: what the engine runs. A [`RuleSet`] is immutable once built;
//! reloading builds a new one to the side. Evaluating a rule against an event gives a
//! [`Decision`]: fire (with the captures and named values the run will see), or where it stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use handlebars::Handlebars;
use serde_json::Value;

use crate::event::{Event, EventType, EventTypeMask};
use crate::language::condition::{Binding, Condition, Miss};
use crate::language::matcher::{Hit, Matcher, TriggerRef};
use crate::language::pattern::{UriPattern, uri_segments};
use crate::language::scope::{CompiledPath, Scope};
use crate::language::spec::{MethodName, Mode};
use crate::language::template::{BodyTemplate, PathTemplate, Template};
use crate::language::yaml::Span;

/// One trigger of a rule.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The URI pattern.
    pub pattern: UriPattern,
    /// The event types it reacts to.
    pub types: EventTypeMask,
}

/// One step of a rule's actions.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send a request.
    Request(Box<RequestStep>),
    /// Wait (and give the run up if a `while` condition stops holding meanwhile).
    Delay(DelayStep),
    /// Log a message.
    Log(Template),
    /// Run one list of steps or another.
    If(Box<IfStep>),
    /// Run steps once per selected value.
    ForEach(Box<ForEachStep>),
    /// Remember a value.
    Set(Box<SetStep>),
    /// Give up the runs of another rule.
    Cancel(Box<CancelStep>),
}

/// A compiled `cancel` step.
#[derive(Debug, Clone)]
pub struct CancelStep {
    /// The id of the rule whose runs are given up.
    pub rule: String,
    /// The error to report if no loaded file defines that rule (known only once every file is
    /// compiled).
    pub(crate) unknown: Box<crate::language::diag::Diagnostic>,
}

/// The URI prefix of manual triggers: `on: manual` is a trigger on `MANUAL_PREFIX` + the rule's
/// id, and `lcu-rules trigger ID` hands the engine an event there. The client has no such URI.
pub(crate) const MANUAL_PREFIX: &str = "/lcu-rules/manual/";

/// A compiled `cancel_on` entry.
#[derive(Debug, Clone)]
pub struct CancelTrigger {
    /// Which events.
    pub trigger: Trigger,
    /// Conditions the event must meet.
    pub conditions: Vec<Condition>,
}

/// A compiled `if` step.
#[derive(Debug, Clone)]
pub struct IfStep {
    /// Conditions that must all hold for `then`.
    pub conditions: Vec<Condition>,
    /// The steps when they hold.
    pub then: Vec<Step>,
    /// The steps when one does not.
    pub otherwise: Vec<Step>,
}

/// A compiled `for_each` step.
#[derive(Debug, Clone)]
pub struct ForEachStep {
    /// What to loop over (a single selected list is looped over element by element).
    pub items: CompiledPath,
    /// The name each value is read by.
    pub name: String,
    /// The most values looped over.
    pub max: usize,
    /// The steps run for each value.
    pub steps: Vec<Step>,
}

/// The most values a `for_each` loops over by default, and at most (SECURITY.md).
pub(crate) const FOR_EACH_DEFAULT_MAX: u32 = 25;
/// The highest `max` a `for_each` may ask for.
pub(crate) const FOR_EACH_MAX: u32 = 100;

/// A compiled `set` step.
#[derive(Debug, Clone)]
pub struct SetStep {
    /// The name.
    pub name: String,
    /// The value.
    pub value: BodyTemplate,
    /// How long it lasts.
    pub scope: crate::language::spec::StateScope,
    /// Forget it after this long.
    pub expires: Option<Duration>,
}

/// Calls `visit` on every step of `steps`, nested ones included, outer ones first.
pub(crate) fn visit_steps<'s>(steps: &'s [Step], visit: &mut dyn FnMut(&'s Step)) {
    for step in steps {
        visit(step);
        match step {
            Step::If(branch) => {
                visit_steps(&branch.then, visit);
                visit_steps(&branch.otherwise, visit);
            }
            Step::ForEach(each) => visit_steps(&each.steps, visit),
            Step::Delay(delay) => visit_steps(&delay.otherwise, visit),
            Step::Request(_) | Step::Log(_) | Step::Set(_) | Step::Cancel(_) => {}
        }
    }
}

/// A compiled delay.
#[derive(Debug, Clone)]
pub struct DelayStep {
    /// How long.
    pub duration: Wait,
    /// Conditions every newer event on the triggering URI must meet while waiting.
    pub hold: Vec<Condition>,
    /// Steps run when one of them breaks, before the run is given up.
    pub otherwise: Vec<Step>,
}

/// How long a delay waits.
#[derive(Debug, Clone)]
pub enum Wait {
    /// As written (`2s`).
    Fixed(Duration),
    /// Computed when the run reaches the delay (`"{{sub data.timer 2}}s"`), then clamped to
    /// [`MAX_COMPUTED_DELAY`].
    Computed(Template),
}

/// The longest a computed delay waits: data from the client (a timer of hours, say) cannot hold
/// a run for longer.
pub(crate) const MAX_COMPUTED_DELAY: Duration = Duration::from_secs(600);

impl Wait {
    /// The wait for this run: a computed one is rendered, read as a duration (a bare number is
    /// seconds) and clamped to between zero and [`MAX_COMPUTED_DELAY`].
    pub(crate) fn resolve(
        &self,
        scope: &crate::language::scope::Scope<'_>,
        registry: &handlebars::Handlebars<'_>,
    ) -> Result<Duration, String> {
        let template = match self {
            Wait::Fixed(duration) => return Ok(*duration),
            Wait::Computed(template) => template,
        };
        let text = template
            .render_string(scope, registry)
            .map_err(|e| e.to_string())?;
        let text = text.trim();
        let seconds = match text.parse::<f64>() {
            Ok(seconds) => seconds,
            Err(_) if text.starts_with('-') => 0.0,
            Err(_) => {
                return crate::event::parse_duration(text)
                    .map(|d| d.min(MAX_COMPUTED_DELAY))
                    .map_err(|e| format!("the delay rendered to `{text}`: {e}"));
            }
        };
        if !seconds.is_finite() {
            return Err(format!(
                "the delay rendered to `{text}`, which is not a duration"
            ));
        }
        Ok(Duration::from_secs_f64(
            seconds.clamp(0.0, MAX_COMPUTED_DELAY.as_secs_f64()),
        ))
    }
}

/// A compiled `debounce` or `throttle`.
#[derive(Debug, Clone)]
pub struct Rate {
    /// The window.
    pub duration: Duration,
    /// What is limited separately; `None`: the whole rule.
    pub key: Option<Template>,
}

/// A circuit breaker's limits: more than `max` firings within `within` trips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// Firings allowed in the window.
    pub max: u32,
    /// The window.
    pub within: Duration,
}

/// A rule's circuit-breaker setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BreakerSetting {
    /// The engine's default limits.
    #[default]
    Default,
    /// Never trips.
    Off,
    /// These limits.
    Limits(Breaker),
}

/// A compiled request step.
#[derive(Debug, Clone)]
pub struct RequestStep {
    /// The method.
    pub method: MethodName,
    /// The path template.
    pub path: PathTemplate,
    /// Query parameters.
    pub query: Vec<(String, Template)>,
    /// The JSON body.
    pub body: Option<BodyTemplate>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Statuses that count as success; `None` means any 2xx.
    pub expect_status: Option<Vec<u16>>,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Wait before the first retry; doubled each time.
    pub backoff: Duration,
    /// Name to save the response under.
    pub save_as: Option<String>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Unique id.
    pub id: String,
    /// What it does.
    pub description: Option<String>,
    /// Whether the live engine fires it.
    pub enabled: bool,
    /// Whether snapshot events (the state read after connecting) can trigger it.
    pub snapshots: bool,
    /// The file it came from.
    pub file: PathBuf,
    /// Where its definition starts.
    pub span: Span,
    /// Its triggers.
    pub triggers: Vec<Trigger>,
    /// Events that give its runs up.
    pub cancel_on: Vec<CancelTrigger>,
    /// Named values, in order.
    pub bindings: Vec<Binding>,
    /// Their names (parallel to `bindings`).
    pub binding_names: Vec<String>,
    /// Conditions, in order.
    pub conditions: Vec<Condition>,
    /// Steps, in order.
    pub steps: Vec<Step>,
    /// Concurrency mode.
    pub mode: Mode,
    /// Queue length (`queued`) or concurrency (`parallel`).
    pub max: u32,
    /// Quiet time after firing.
    pub cooldown: Option<Duration>,
    /// Fire once the trigger has been quiet this long.
    pub debounce: Option<Rate>,
    /// Fire at most once per window.
    pub throttle: Option<Rate>,
    /// Gameflow phases the rule is scoped to; `None`: all.
    pub phases: Option<Vec<String>>,
    /// Whether the echo of its own write may trigger it again.
    pub allow_echo: bool,
    /// Its circuit breaker.
    pub breaker: BreakerSetting,
    /// What a reload that changes or removes it does to its runs.
    pub on_reload: crate::language::spec::OnReload,
    /// A digest of its definition as written: equal digests mean a reload left it unchanged.
    pub fingerprint: u64,
}

impl Rule {
    /// Whether the rule applies in gameflow phase `phase` (`None`: not known yet).
    pub(crate) fn applies_in(&self, phase: Option<&str>) -> bool {
        match (&self.phases, phase) {
            (None, _) => true,
            (Some(phases), Some(phase)) => phases.iter().any(|p| p == phase),
            (Some(_), None) => false,
        }
    }

    /// Whether the rule runs when asked (`on: manual`).
    pub fn is_manual(&self) -> bool {
        self.triggers
            .iter()
            .any(|t| t.pattern.text.starts_with(MANUAL_PREFIX))
    }

    /// Whether any delay step watches newer events.
    pub(crate) fn has_guarded_delays(&self) -> bool {
        self.any_step(|s| matches!(s, Step::Delay(d) if !d.hold.is_empty()))
    }

    /// Whether any step, nested ones included, is one `is` accepts.
    pub(crate) fn any_step(&self, is: impl Fn(&Step) -> bool) -> bool {
        let mut found = false;
        visit_steps(&self.steps, &mut |step| found |= is(step));
        found
    }

    /// The literal URIs whose latest payload the rule reads (`let: NAME: {uri: ...}`).
    pub(crate) fn read_uris(&self) -> impl Iterator<Item = &str> {
        self.bindings.iter().filter_map(|b| match &b.source {
            crate::language::condition::Source::Latest(uri) => Some(uri.as_str()),
            _ => None,
        })
    }
}

/// What a run starts from: the captures and named values computed while evaluating.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// URI captures by name.
    pub params: Vec<(String, String)>,
    /// Named values, parallel to the rule's `binding_names`.
    pub bindings: Vec<Value>,
}

/// The outcome of evaluating one rule against one event whose URI its trigger matched.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Every condition held.
    Fire(Firing),
    /// Evaluation stopped here.
    Stop(Box<Miss>),
}

impl Rule {
    /// What the rule reacts to, as text: the same for two rules that fire on exactly the same
    /// events (triggers, named values and conditions alike).
    pub(crate) fn reaction_signature(&self) -> String {
        let mut triggers: Vec<String> = self
            .triggers
            .iter()
            .map(|t| format!("{} {}", t.pattern.text, t.types.0))
            .collect();
        triggers.sort();
        let bindings: Vec<String> = self
            .bindings
            .iter()
            .map(|b| {
                let source = match &b.source {
                    crate::language::condition::Source::Path(path) => path.text.to_string(),
                    crate::language::condition::Source::List(items) => {
                        serde_json::Value::Array(items.clone()).to_string()
                    }
                    crate::language::condition::Source::Latest(uri) => format!("latest {uri}"),
                };
                let filter: Vec<String> = b.filter.iter().map(Condition::signature).collect();
                format!(
                    "{}={source} where {} take {:?} default {:?}",
                    b.name,
                    filter.join("; "),
                    b.take,
                    b.default
                )
            })
            .collect();
        let conditions: Vec<String> = self.conditions.iter().map(Condition::signature).collect();
        format!(
            "on {} let {} when {}",
            triggers.join(" | "),
            bindings.join(", "),
            conditions.join("; ")
        )
    }

    /// Evaluates named values then conditions, in order, for an event that matched trigger
    /// `trigger`.
    pub fn evaluate(
        &self,
        event: &Event,
        trigger: usize,
        registry: &Handlebars<'_>,
        vars: &Value,
        memory: Option<&crate::language::memory::Memory>,
    ) -> Decision {
        let params = self.captures(event, trigger);
        let mut bindings = Vec::with_capacity(self.bindings.len());
        for binding in &self.bindings {
            let scope = Scope {
                event,
                params: &params,
                bindings: &bindings,
                binding_names: &self.binding_names,
                steps: None,
                item: None,
                vars: Some(vars),
                memory,
            };
            match binding.evaluate(&scope, registry) {
                Ok(value) => bindings.push(value),
                Err(miss) => return Decision::Stop(miss),
            }
        }
        let scope = Scope {
            event,
            params: &params,
            bindings: &bindings,
            binding_names: &self.binding_names,
            steps: None,
            item: None,
            vars: Some(vars),
            memory,
        };
        for condition in &self.conditions {
            if let Err(miss) = condition.check(&scope, registry) {
                return Decision::Stop(miss);
            }
        }
        Decision::Fire(Firing { params, bindings })
    }

    fn captures(&self, event: &Event, trigger: usize) -> Vec<(String, String)> {
        let Some(trigger) = self.triggers.get(trigger) else {
            return Vec::new();
        };
        if trigger.pattern.capture_names().next().is_none() {
            return Vec::new();
        }
        let segments: Vec<&str> = uri_segments(&event.uri).collect();
        trigger
            .pattern
            .capture_names()
            .zip(trigger.pattern.captures(&segments))
            // The URI carries a captured segment percent-encoded; the rule sees the value, so a
            // path template that re-encodes it sends the segment the client sent.
            .map(|(name, value)| {
                let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
                (name.to_string(), value.into_owned())
            })
            .collect()
    }
}

/// The rules in force, their trigger index, and the templates they render with.
pub struct RuleSet {
    /// Every loaded rule, enabled or not, in load order.
    pub rules: Vec<Arc<Rule>>,
    /// The index over the triggers of the rules that take part.
    matcher: Matcher,
    /// Handlebars registry holding the rules' text templates.
    pub registry: Arc<Handlebars<'static>>,
    /// The `vars` of every loaded file, one object: what `$.vars...` and `{{vars...}}` read.
    pub vars: Arc<Value>,
    /// Whether an indexed rule is scoped to gameflow phases or remembers values (the phase URI
    /// must then reach the engine even when no trigger names it).
    tracks_phase: bool,
    /// The literal URIs whose latest payload an indexed rule reads, sorted.
    read_uris: Vec<String>,
    /// The index over the `cancel_on` triggers of the rules that take part (a rule matches
    /// once, by its first matching trigger).
    cancels: Matcher,
    /// Whether any rule that takes part has `cancel_on` triggers.
    has_cancels: bool,
    /// Whether disabled rules take part too (embedded tests).
    include_disabled: bool,
}

/// An index over the triggers `of` picks from each rule that takes part (its `on`, or its
/// `cancel_on`), numbered by their position in that list.
fn index_triggers<'r>(
    rules: &'r [Arc<Rule>],
    include_disabled: bool,
    of: impl Fn(&'r Rule) -> Vec<&'r Trigger>,
) -> Matcher {
    Matcher::build(
        rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| include_disabled || rule.enabled)
            .flat_map(|(index, rule)| {
                of(rule)
                    .into_iter()
                    .enumerate()
                    .map(move |(trigger, t)| TriggerRef {
                        rule: index as u32,
                        trigger: trigger as u32,
                        pattern: &t.pattern,
                        types: t.types,
                    })
            }),
    )
}

/// The URI of the gameflow phase, which the engine tracks for phase-scoped rules.
pub(crate) const GAMEFLOW_PHASE: &str = "/lol-gameflow/v1/gameflow-phase";
/// The gameflow session, whose `phase` field says the phase too: a recording made in the middle
/// of a game may hold no phase event, only session updates.
pub(crate) const GAMEFLOW_SESSION: &str = "/lol-gameflow/v1/session";

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RuleSet {
    /// A rule set whose index covers the enabled rules (or every rule, with `include_disabled`,
    /// which is how embedded tests exercise rules that ship disabled).
    pub fn new(
        rules: Vec<Arc<Rule>>,
        registry: Arc<Handlebars<'static>>,
        include_disabled: bool,
    ) -> RuleSet {
        let matcher = index_triggers(&rules, include_disabled, |rule| {
            rule.triggers.iter().collect()
        });
        let cancels = index_triggers(&rules, include_disabled, |rule| {
            rule.cancel_on.iter().map(|c| &c.trigger).collect()
        });
        let indexed = || rules.iter().filter(|r| include_disabled || r.enabled);
        let tracks_phase =
            indexed().any(|r| r.phases.is_some() || r.any_step(|s| matches!(s, Step::Set(_))));
        let has_cancels = indexed().any(|r| !r.cancel_on.is_empty());
        let mut read_uris: Vec<String> = indexed()
            .flat_map(|r| r.read_uris())
            .map(str::to_string)
            .collect();
        read_uris.sort();
        read_uris.dedup();
        RuleSet {
            rules,
            matcher,
            registry,
            vars: Arc::new(Value::Object(serde_json::Map::new())),
            tracks_phase,
            read_uris,
            cancels,
            has_cancels,
            include_disabled,
        }
    }

    /// The same rule set, reading these `vars` (an object).
    pub fn with_vars(mut self, vars: Value) -> RuleSet {
        self.vars = Arc::new(vars);
        self
    }

    /// Which rules' triggers match (conditions not yet evaluated). `out` is reused.
    pub fn candidates(&self, uri: &str, event_type: EventType, out: &mut Vec<Hit>) {
        self.matcher.matches_into(uri, event_type, out);
    }

    /// Whether any indexed rule's trigger matches this URI and type, or a rule reads its latest
    /// payload (before parsing a payload).
    pub(crate) fn watches(&self, uri: &str, event_type: EventType) -> bool {
        self.matcher.matches_any(uri, event_type)
            || self.says_phase(uri)
            || self.reads(uri)
            || self.cancels.matches_any(uri, event_type)
    }

    /// The rules that take part: the enabled ones (every one in an embedded test).
    pub(crate) fn taking_part(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.rules
            .iter()
            .filter(|r| self.include_disabled || r.enabled)
    }

    /// Whether an indexed rule has `cancel_on` triggers.
    pub(crate) fn has_cancel_triggers(&self) -> bool {
        self.has_cancels
    }

    /// Which rules' `cancel_on` triggers match (their conditions not yet checked).
    pub(crate) fn cancel_candidates(&self, uri: &str, event_type: EventType, out: &mut Vec<Hit>) {
        self.cancels.matches_into(uri, event_type, out);
    }

    /// Whether an indexed rule reads the latest payload of `uri`.
    pub(crate) fn reads(&self, uri: &str) -> bool {
        !self.read_uris.is_empty()
            && self
                .read_uris
                .binary_search_by(|u| u.as_str().cmp(uri))
                .is_ok()
    }

    /// Whether events on `uri` tell the engine the phase it follows.
    fn says_phase(&self, uri: &str) -> bool {
        self.tracks_phase && (uri == GAMEFLOW_PHASE || uri == GAMEFLOW_SESSION)
    }

    /// Whether the engine must follow the gameflow phase.
    pub(crate) fn tracks_phase(&self) -> bool {
        self.tracks_phase
    }

    /// Whether any indexed rule's trigger matches this URI for some event type.
    pub(crate) fn watches_uri(&self, uri: &str) -> bool {
        self.matcher.matches_any_of(uri, EventTypeMask::ALL)
            || self.says_phase(uri)
            || self.reads(uri)
    }

    /// The rule with this index.
    pub fn rule(&self, index: u32) -> &Arc<Rule> {
        &self.rules[index as usize]
    }

    /// The rule with this id.
    pub fn find(&self, id: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Every literal URI that an enabled rule triggers on or reads (what a resync reads after
    /// connecting).
    pub(crate) fn literal_trigger_uris(&self) -> Vec<String> {
        let enabled = || self.rules.iter().filter(|r| r.enabled);
        let mut uris: Vec<String> = enabled()
            .flat_map(|r| r.triggers.iter())
            .filter(|t| t.pattern.is_literal() && !t.pattern.text.starts_with(MANUAL_PREFIX))
            .map(|t| t.pattern.text.clone())
            .chain(enabled().flat_map(|r| r.read_uris()).map(str::to_string))
            .collect();
        uris.sort();
        uris.dedup();
        uris
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A computed delay reads a bare number as seconds, a duration as written, and is clamped.
    #[test]
    fn computed_delays_are_read_and_clamped() {
        let event = crate::event::Event::new(
            "/x",
            crate::event::EventType::Update,
            serde_json::json!({"s": "2.5", "neg": -4, "big": 99999, "text": "soon", "d": "1500ms"}),
        );
        let scope = crate::language::scope::Scope::of_event(&event, None, None);
        let mut compiler = crate::language::template::TemplateCompiler::default();
        let roots = crate::language::scope::RootRules {
            bindings: &[],
            steps: &[],
            params: &[],
            item: false,
        };
        let mut wait = |text: &str| {
            let template = compiler.compile(text, &roots).unwrap();
            Wait::Computed(template)
        };
        let cases = [
            ("{{data.s}}", Ok(Duration::from_millis(2500))),
            ("{{data.neg}}", Ok(Duration::ZERO)),
            ("{{data.big}}", Ok(MAX_COMPUTED_DELAY)),
            ("{{data.d}}", Ok(Duration::from_millis(1500))),
        ];
        let waits: Vec<Wait> = cases.iter().map(|(t, _)| wait(t)).collect();
        let bad = wait("{{data.text}}");
        let registry = compiler.finish();
        for (w, (text, expected)) in waits.iter().zip(cases) {
            assert_eq!(w.resolve(&scope, &registry), expected, "{text}");
        }
        assert!(
            bad.resolve(&scope, &registry)
                .unwrap_err()
                .contains("rendered to `soon`")
        );
    }
}
