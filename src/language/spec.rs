//! The rule file format as written by users: plain serde types, one per YAML construct, from which
//! `schemas/rules.schema.json` is generated. Nothing here is checked beyond its YAML shape; the
//! compiler (`compile.rs`) turns these into executable rules and reports every semantic mistake.
//!
//! One file on purpose: the whole file format, which is what `schemas/rules.schema.json` is made
//! from and what a rule author looks up; its length is the format's doc comments.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::language::yaml::{OneOrMany, Shorthand, Spanned, deserialize_shorthand};

/// A rule file: rules, and test cases that replay events through them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lcu-rules rule file")]
pub(crate) struct RuleFile {
    /// The rules of this file. Rule ids must be unique across every loaded file.
    #[serde(default)]
    pub rules: Vec<Spanned<RuleSpec>>,
    /// Test cases: events to replay through this file's rules (disabled ones included) and the
    /// requests they must send, in order. Run them with `lcu-rules test`.
    #[serde(default)]
    pub tests: Vec<Spanned<TestSpec>>,
    /// Values every rule of every loaded file reads as `$.vars.NAME` and `{{vars.NAME}}`: the
    /// settings a player tunes (a pick list, a delay, a reply) without editing the rules. Each
    /// name is defined once across all files; keep them in a file of their own (`vars.yaml`).
    #[serde(default)]
    pub vars: IndexMap<Spanned<String>, Value>,
}

/// One rule: when an event matching `on` arrives and every `when` condition holds, run `do`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    /// A unique name, used in logs, `explain` and test expectations.
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
        example = "accept-ready-check"
    )]
    pub id: Spanned<String>,
    /// What the rule does, in a sentence.
    #[serde(default)]
    pub description: Option<String>,
    /// `false` keeps the rule loaded and checked but never fired (its tests still run).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Whether the rule also reacts to the state read right after connecting to the client
    /// (default `true`): a ready check already showing when lcu-rules connects is still accepted.
    #[serde(default = "default_true")]
    pub snapshots: bool,
    /// The events that trigger the rule: a URI pattern, or a list of triggers. `manual`: the
    /// rule runs when asked (`lcu-rules trigger ID`, the tray's Run menu).
    pub on: OneOrMany<Spanned<TriggerSpec>>,
    /// Events that give up the rule's runs (delays included), its queued runs and debounced
    /// firings: a URI pattern, or a list of triggers, each with optional `when` conditions.
    #[serde(default)]
    pub cancel_on: Option<OneOrMany<Spanned<TriggerSpec>>>,
    /// Named values taken from the event, in order; later ones and all conditions and templates
    /// can use earlier ones (`{{name}}` in templates, `$.name` in paths).
    #[serde(default, rename = "let")]
    pub bindings: IndexMap<Spanned<String>, Spanned<BindingSpec>>,
    /// Conditions that must all hold, checked in order after `let`.
    #[serde(default)]
    pub when: Vec<Spanned<ConditionSpec>>,
    /// The steps to run, in order.
    #[serde(rename = "do")]
    pub steps: Vec<Spanned<StepSpec>>,
    /// What to do when the rule triggers while a run of it is still going.
    #[serde(default)]
    pub mode: Mode,
    /// For `queued`: how many runs may wait; for `parallel`: how many may run at once
    /// (default 10).
    #[serde(default)]
    pub max: Option<Spanned<u32>>,
    /// After the rule fires, ignore triggers for this long (e.g. `5s`).
    #[serde(default)]
    #[schemars(example = "5s")]
    pub cooldown: Option<Spanned<String>>,
    /// Fire only once the trigger has been quiet this long, with the latest event (`500ms`); with
    /// a `key`, each key is debounced on its own.
    #[serde(default)]
    pub debounce: Option<Spanned<RateSpec>>,
    /// Fire at most once per this long (`2s`); with a `key`, each key has its own allowance.
    #[serde(default)]
    pub throttle: Option<Spanned<RateSpec>>,
    /// The gameflow phases in which the rule applies (e.g. `ChampSelect`). Outside them it does
    /// not fire, and leaving them cancels its runs (delays included).
    #[serde(default)]
    pub phases: Option<OneOrMany<Spanned<String>>>,
    /// Whether the client's echo of this rule's own write may trigger it again (default `false`:
    /// an update on a URI the rule just wrote does not re-trigger it).
    #[serde(default)]
    pub allow_echo: bool,
    /// The circuit breaker: a rule firing more than `max` times `within` a window is switched off
    /// until reload or reset (default 20 within 10s). `off` disables it for this rule.
    #[serde(default)]
    pub breaker: Option<Spanned<BreakerSpec>>,
    /// What happens to the rule's runs in flight when a reload changes or removes it: `cancel`
    /// (default) or `finish`.
    #[serde(default)]
    pub on_reload: OnReload,
}

/// What a reload does to the runs of a rule it changes or removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnReload {
    /// Give them up (default).
    #[default]
    Cancel,
    /// Let them run to their end.
    Finish,
}

/// A rate limit: a duration, or a mapping with a per-key template.
#[derive(Debug, Clone)]
pub(crate) struct RateSpec {
    /// The fields, whichever form was written.
    pub fields: RateFields,
}

/// The mapping form of `debounce` and `throttle`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateFields {
    /// The duration (e.g. `500ms`, `2s`).
    #[schemars(example = "2s")]
    pub duration: Spanned<String>,
    /// A template naming what is limited separately (e.g. `{{params.id}}`); default: the rule.
    #[serde(default)]
    #[schemars(example = "{{params.id}}")]
    pub key: Option<Spanned<String>>,
}

impl Shorthand for RateSpec {
    type Fields = RateFields;

    fn from_short(text: &str) -> Result<Self, String> {
        Ok(RateSpec {
            fields: RateFields {
                duration: Spanned::new(Default::default(), text.to_string()),
                key: None,
            },
        })
    }

    fn from_fields(fields: RateFields) -> Self {
        RateSpec { fields }
    }
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for RateSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<RateFields>();
        schemars::json_schema!({
            "description": "A duration, or a mapping with `duration` and a per-key `key` template.",
            "anyOf": [{"type": "string", "examples": ["2s"]}, fields]
        })
    }
}

/// The circuit breaker's setting: `off`, or limits.
#[derive(Debug, Clone)]
pub(crate) enum BreakerSpec {
    /// Never trip.
    Off,
    /// Trip past these limits.
    Limits(BreakerFields),
}

/// The circuit breaker's limits.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakerFields {
    /// Firings allowed within the window.
    pub max: Spanned<u32>,
    /// The window (e.g. `10s`).
    #[schemars(example = "10s")]
    pub within: Spanned<String>,
}

impl Shorthand for BreakerSpec {
    type Fields = BreakerFields;

    fn from_short(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(BreakerSpec::Off),
            other => Err(format!(
                "`breaker` is `off` or a mapping with `max` and `within`, not `{other}`"
            )),
        }
    }

    fn from_fields(fields: BreakerFields) -> Self {
        BreakerSpec::Limits(fields)
    }
}

impl<'de> Deserialize<'de> for BreakerSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for BreakerSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Breaker".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<BreakerFields>();
        schemars::json_schema!({
            "description": "`off`, or a mapping with `max` firings `within` a window.",
            "anyOf": [{"const": "off"}, fields]
        })
    }
}

fn default_true() -> bool {
    true
}

/// What happens when a rule triggers while a run of it is still active (Home Assistant's modes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Ignore the new trigger (default).
    #[default]
    Single,
    /// Cancel the active run and start a new one.
    Restart,
    /// Run after the active one finishes (up to `max` waiting).
    Queued,
    /// Run alongside (up to `max` at once).
    Parallel,
}

/// A trigger: a URI pattern, and optionally which event types to react to.
#[derive(Debug, Clone)]
pub(crate) struct TriggerSpec {
    /// The URI pattern.
    pub uri: Spanned<String>,
    /// The event types; empty means all.
    pub types: Vec<EventTypeName>,
    /// Conditions on the event (`cancel_on` only).
    pub when: Vec<Spanned<ConditionSpec>>,
}

/// The mapping form of a trigger.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TriggerFields {
    /// The event URI pattern: literal segments, `{name}` (one segment, captured as
    /// `params.name`), `*` (any one segment), and a trailing `**` (any rest, even nothing).
    #[schemars(example = "/lol-matchmaking/v1/ready-check")]
    pub uri: Spanned<String>,
    /// Event types to react to; default all three.
    #[serde(default)]
    pub types: Option<OneOrMany<EventTypeName>>,
    /// In `cancel_on` only: conditions the event must meet to cancel the runs (the rule's
    /// `when` is for `on`).
    #[serde(default)]
    pub when: Vec<Spanned<ConditionSpec>>,
}

impl Shorthand for TriggerSpec {
    type Fields = TriggerFields;

    fn from_short(text: &str) -> Result<Self, String> {
        // The span of a shorthand is fixed up by the caller's `Spanned`.
        Ok(TriggerSpec {
            uri: Spanned::new(Default::default(), text.to_string()),
            types: Vec::new(),
            when: Vec::new(),
        })
    }

    fn from_fields(fields: TriggerFields) -> Self {
        TriggerSpec {
            uri: fields.uri,
            types: fields.types.map(|t| t.0).unwrap_or_default(),
            when: fields.when,
        }
    }
}

impl<'de> Deserialize<'de> for TriggerSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for TriggerSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Trigger".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<TriggerFields>();
        schemars::json_schema!({
            "description": "An event URI pattern, or a mapping with `uri` and `types`.",
            "anyOf": [
                {"type": "string", "description": "The event URI pattern.", "examples": ["/lol-matchmaking/v1/ready-check"]},
                fields
            ]
        })
    }
}

/// The three event types the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum EventTypeName {
    /// A resource appeared.
    Create,
    /// A resource changed.
    Update,
    /// A resource went away (`data` is null).
    Delete,
}

/// A named value: a JSONPath (short form), or a mapping that selects or filters.
#[derive(Debug, Clone)]
pub(crate) struct BindingSpec {
    /// The fields, whichever form was written.
    pub fields: BindingFields,
}

/// The mapping form of a named value. Exactly one of `path`, `from` and `uri`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BindingFields {
    /// Where to read the value: a JSONPath starting at `$.data`, `$.uri`, `$.eventType`,
    /// `$.params` or an earlier named value.
    #[serde(default)]
    #[schemars(example = "$.data.localPlayerCellId")]
    pub path: Option<Spanned<String>>,
    /// A literal list of candidates, taken in order (e.g. a champion priority list).
    #[serde(default)]
    pub from: Option<Spanned<Vec<Value>>>,
    /// The latest payload the client sent for this URI (e.g. `/lol-chat/v1/me`): the engine
    /// keeps it from the resync at connect and every event since. Nothing seen yet stops the
    /// rule, unless there is a `default`.
    #[serde(default)]
    #[schemars(example = "/lol-chat/v1/me")]
    pub uri: Option<Spanned<String>>,
    /// Keep only the candidates for which all these hold; inside, `$` is the candidate.
    #[serde(default, rename = "where")]
    pub filter: Vec<Spanned<ConditionSpec>>,
    /// `first` (default): the first candidate; `all`: the list of every candidate; `random`:
    /// one candidate at random; `shuffled`: every candidate, in a random order.
    #[serde(default)]
    pub take: Take,
    /// The value when nothing is selected (`null` included); without it, the rule stops there.
    #[serde(default, deserialize_with = "present_value")]
    pub default: Option<Value>,
}

/// Which candidates a named value keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Take {
    /// The first one; nothing selected stops the rule (unless there is a `default`).
    #[default]
    First,
    /// All of them, as a list (possibly empty).
    All,
    /// One of them at random; nothing selected stops the rule (unless there is a `default`).
    /// `test` and `explain` draw from a fixed seed.
    Random,
    /// All of them in a random order, as a list (possibly empty).
    Shuffled,
}

impl Shorthand for BindingSpec {
    type Fields = BindingFields;

    fn from_short(text: &str) -> Result<Self, String> {
        Ok(BindingSpec {
            fields: BindingFields {
                path: Some(Spanned::new(Default::default(), text.to_string())),
                from: None,
                uri: None,
                filter: Vec::new(),
                take: Take::First,
                default: None,
            },
        })
    }

    fn from_fields(fields: BindingFields) -> Self {
        BindingSpec { fields }
    }
}

impl<'de> Deserialize<'de> for BindingSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for BindingSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NamedValue".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<BindingFields>();
        schemars::json_schema!({
            "description": "A JSONPath, or a mapping with `path`/`from`/`uri`, `where`, `take` and `default`.",
            "anyOf": [{"type": "string", "examples": ["$.data.localPlayerCellId"]}, fields]
        })
    }
}

/// A condition: a `path` and exactly one operator, or one of `all`, `any`, `not`.
///
/// A path that selects several nodes passes a positive operator (`equals`, `one_of`, `matches`,
/// `gt`..., `contains`) when any node passes; `not_equals` and `not_one_of` pass when no node
/// equals. A path that selects nothing fails every operator except `not_equals`, `not_one_of`
/// and `exists: false`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionSpec {
    /// A JSONPath (RFC 9535) starting at `$.data`, `$.uri`, `$.eventType`, `$.params` or a named
    /// value.
    #[serde(default)]
    #[schemars(example = "$.data.state")]
    pub path: Option<Spanned<String>>,
    /// Instead of `path`: a template whose value is tested, for what a path cannot select
    /// (`"{{len data.members}}"`, `"{{index_of vars.priority data.championId}}"`).
    #[serde(default)]
    #[schemars(example = "{{len data.members}}")]
    pub value: Option<Spanned<String>>,
    /// The selected value equals this (numbers compare by value: `1` equals `1.0`).
    #[serde(default, deserialize_with = "present")]
    pub equals: Option<Spanned<Value>>,
    /// No selected value equals this.
    #[serde(default, deserialize_with = "present")]
    pub not_equals: Option<Spanned<Value>>,
    /// The selected value is one of these.
    #[serde(default, deserialize_with = "present")]
    pub one_of: Option<Spanned<Value>>,
    /// No selected value is one of these.
    #[serde(default, deserialize_with = "present")]
    pub not_one_of: Option<Spanned<Value>>,
    /// `true`: the path selects something; `false`: it selects nothing.
    #[serde(default)]
    pub exists: Option<Spanned<bool>>,
    /// The selected string matches this regular expression (unanchored; use `^...$`).
    #[serde(default)]
    pub matches: Option<Spanned<String>>,
    /// The selected number is greater than this.
    #[serde(default, deserialize_with = "present")]
    pub gt: Option<Spanned<Value>>,
    /// The selected number is greater than or equal to this.
    #[serde(default, deserialize_with = "present")]
    pub gte: Option<Spanned<Value>>,
    /// The selected number is less than this.
    #[serde(default, deserialize_with = "present")]
    pub lt: Option<Spanned<Value>>,
    /// The selected number is less than or equal to this.
    #[serde(default, deserialize_with = "present")]
    pub lte: Option<Spanned<Value>>,
    /// The selected string contains this text, the selected list contains this element, or the
    /// selected object has this key.
    #[serde(default, deserialize_with = "present")]
    pub contains: Option<Spanned<Value>>,
    /// Every condition in the list holds.
    #[serde(default)]
    pub all: Option<Vec<Spanned<ConditionSpec>>>,
    /// At least one condition in the list holds.
    #[serde(default)]
    pub any: Option<Vec<Spanned<ConditionSpec>>>,
    /// The condition does not hold.
    #[serde(default)]
    pub not: Option<Box<Spanned<ConditionSpec>>>,
}

/// An operand that is there, even when it is `null`: `not_equals: null` compares with null,
/// where serde's `Option` would read it as no operand at all.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Spanned<Value>>, D::Error> {
    Spanned::<Value>::deserialize(deserializer).map(Some)
}

/// A value that is there, even when it is `null` (see [`present`]).
fn present_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// One step of a rule's actions.
///
/// `if` and `for_each` steps are mappings of several keys (`if` with `then` and `else`,
/// `for_each` with `as`, `do` and `max`): the YAML reader hands such a variant the whole
/// mapping (see `yaml::WHOLE_MAPPING_VARIANTS`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StepSpec {
    /// Send a request to the connected client: `METHOD /path`, or a mapping.
    Request(Box<Spanned<RequestSpec>>),
    /// Wait this long (`1500ms`, `2s`), or `{for, while}`: wait, and give the run up as soon as
    /// a newer event on the triggering URI breaks a `while` condition.
    Delay(Spanned<DelaySpec>),
    /// Write a message (a template) to the log and the timeline.
    Log(Spanned<String>),
    /// Run `then` when every condition holds, `else` otherwise.
    If(Box<Spanned<IfSpec>>),
    /// Run `do` once for each value a JSONPath selects, at most `max` times.
    #[serde(rename = "for_each")]
    ForEach(Box<Spanned<ForEachSpec>>),
    /// Remember a value under a name, for later runs of any rule (`$.state.NAME`).
    Set(Box<Spanned<SetSpec>>),
    /// Give up the runs of the rule with this id (its queued runs and debounced firings too).
    Cancel(Spanned<String>),
}

/// A conditional step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "IfStep")]
#[serde(deny_unknown_fields)]
pub(crate) struct IfSpec {
    /// Conditions that must all hold for `then` to run. Unlike the rule's `when`, they see the
    /// responses earlier steps saved (`$.steps.NAME.body`) and the state as it is now.
    #[serde(rename = "if")]
    pub conditions: OneOrMany<Spanned<ConditionSpec>>,
    /// The steps to run when every condition holds.
    pub then: Vec<Spanned<StepSpec>>,
    /// The steps to run otherwise.
    #[serde(default, rename = "else")]
    pub otherwise: Vec<Spanned<StepSpec>>,
}

/// A loop step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "ForEachStep")]
#[serde(deny_unknown_fields)]
pub(crate) struct ForEachSpec {
    /// A JSONPath selecting the values to loop over (a list is looped over element by
    /// element: `$.data.myTeam` and `$.data.myTeam[*]` do the same).
    #[schemars(example = "$.data.myTeam[*]")]
    pub for_each: Spanned<String>,
    /// The name each value is read by inside `do` (`{{player.summonerId}}`, `$.player`).
    #[serde(rename = "as")]
    pub name: Spanned<String>,
    /// The steps to run for each value.
    #[serde(rename = "do")]
    pub steps: Vec<Spanned<StepSpec>>,
    /// The most values looped over (default 25, at most 100); the rest are left out.
    #[serde(default)]
    pub max: Option<Spanned<u32>>,
}

/// A step that remembers a value.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "SetStep")]
#[serde(deny_unknown_fields)]
pub(crate) struct SetSpec {
    /// The name: `$.state.NAME` and `{{state.NAME}}` read it in every rule.
    #[schemars(example = &"picked")]
    pub name: Spanned<String>,
    /// The value, written as YAML; a string that is exactly one `{{expression}}` keeps the JSON
    /// type of its value. `null` forgets the name.
    pub value: Spanned<Value>,
    /// How long the value lasts: `select` (until champion select ends), `game` (until the
    /// client is back in the lobby after a game, default), `session` (until the connection to
    /// the client ends), `service` (until lcu-rules stops) or `forever` (on disk, across
    /// restarts).
    #[serde(default)]
    pub scope: StateScope,
    /// Forget the value after this long (e.g. `10m`), whatever the scope.
    #[serde(default, rename = "for")]
    #[schemars(example = "10m")]
    pub expires: Option<Spanned<String>>,
}

/// How long a remembered value lasts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateScope {
    /// Until the gameflow phase leaves `ChampSelect`.
    Select,
    /// Until the client is back before champion select (`None`, `Lobby`, `Matchmaking`,
    /// `ReadyCheck`) after having been in it or later: a value set in the lobby lasts through
    /// the next game.
    #[default]
    Game,
    /// Until the connection to the client ends.
    Session,
    /// Until lcu-rules stops.
    Service,
    /// Kept on disk (`state.json` beside the logs, see `lcu-rules paths`) across restarts, until
    /// set to `null` or expired; `test` and `explain` keep it in memory only.
    Forever,
}

impl JsonSchema for StepSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let request = generator.subschema_for::<RequestSpec>();
        let delay = generator.subschema_for::<DelaySpec>();
        let set = generator.subschema_for::<SetSpec>();
        let conditional = generator.subschema_for::<IfSpec>();
        let cancel = schemars::json_schema!({"type": "string", "examples": ["play-again"]});
        let each = generator.subschema_for::<ForEachSpec>();
        let single = |key: &str, description: &str, schema: schemars::Schema| {
            schemars::json_schema!({
                "type": "object",
                "description": description,
                "properties": {key: schema},
                "required": [key],
                "additionalProperties": false
            })
        };
        schemars::json_schema!({
            "description": "One step: `request`, `delay`, `log`, `set`, `cancel`, `if` (with `then`, `else`) or `for_each` (with `as`, `do`).",
            "oneOf": [
                single("request", "Send a request to the connected client.", request),
                single("delay", "Wait this long, or `{for, while}`.", delay),
                single("log", "Write a message (a template) to the log and the timeline.", schemars::json_schema!({"type": "string"})),
                single("set", "Remember a value under a name.", set),
                single("cancel", "Give up the runs of the rule with this id.", cancel),
                conditional,
                each
            ]
        })
    }
}

/// A request to the client. The host is always the connected client: a rule names a path only.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec {
    /// The fields, whichever form was written.
    pub fields: RequestFields,
    /// Whether the short `METHOD /path` form was used (the path's position is then inside it).
    pub short: bool,
}

/// The mapping form of a request step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestFields {
    /// The HTTP method.
    pub method: Spanned<MethodName>,
    /// The path, a template; values inserted into it are percent-encoded as one segment.
    #[schemars(example = "/lol-champ-select/v1/session/actions/{{action.id}}")]
    pub path: Spanned<String>,
    /// Query parameters; values are templates.
    #[serde(default)]
    pub query: IndexMap<String, Spanned<String>>,
    /// The JSON body, written as YAML. A string that is exactly one `{{expression}}` keeps the
    /// JSON type of its value; other strings render as text.
    #[serde(default)]
    pub body: Option<Spanned<Value>>,
    /// Give up on an attempt after this long (default `5s`).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Statuses that count as success (default: any 2xx).
    #[serde(default)]
    pub expect_status: Option<OneOrMany<u16>>,
    /// How many times to retry a failed attempt (default 0).
    #[serde(default)]
    pub retries: u32,
    /// The wait before the first retry, doubled for each next one (default `250ms`).
    #[serde(default)]
    pub backoff: Option<Spanned<String>>,
    /// Save the response as `steps.<name>` (`status`, `body`) for later steps.
    #[serde(default)]
    pub save_as: Option<Spanned<String>>,
}

/// The HTTP methods a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, JsonSchema)]
pub enum MethodName {
    /// GET
    GET,
    /// POST
    POST,
    /// PUT
    PUT,
    /// PATCH
    PATCH,
    /// DELETE
    DELETE,
}

impl MethodName {
    /// Parses a method name as written in a short form (upper case).
    pub fn parse(text: &str) -> Option<MethodName> {
        Some(match text {
            "GET" => MethodName::GET,
            "POST" => MethodName::POST,
            "PUT" => MethodName::PUT,
            "PATCH" => MethodName::PATCH,
            "DELETE" => MethodName::DELETE,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodName::GET => "GET",
            MethodName::POST => "POST",
            MethodName::PUT => "PUT",
            MethodName::PATCH => "PATCH",
            MethodName::DELETE => "DELETE",
        }
    }
}

/// Splits `METHOD /path` into its method and path.
pub(crate) fn split_short_request(text: &str) -> Result<(MethodName, &str), String> {
    let (method, path) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("expected `METHOD /path`, found `{text}`"))?;
    let method = MethodName::parse(method).ok_or_else(|| {
        format!("unknown HTTP method `{method}`: use GET, POST, PUT, PATCH or DELETE")
    })?;
    Ok((method, path.trim()))
}

impl Shorthand for RequestSpec {
    type Fields = RequestFields;

    fn from_short(text: &str) -> Result<Self, String> {
        let (method, path) = split_short_request(text)?;
        Ok(RequestSpec {
            fields: RequestFields {
                method: Spanned::new(Default::default(), method),
                path: Spanned::new(Default::default(), path.to_string()),
                query: IndexMap::new(),
                body: None,
                timeout: None,
                expect_status: None,
                retries: 0,
                backoff: None,
                save_as: None,
            },
            short: true,
        })
    }

    fn from_fields(fields: RequestFields) -> Self {
        RequestSpec {
            fields,
            short: false,
        }
    }
}

impl<'de> Deserialize<'de> for RequestSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for RequestSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Request".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<RequestFields>();
        schemars::json_schema!({
            "description": "`METHOD /path`, or a mapping with method, path, query, body, timeout, expect_status, retries, backoff and save_as.",
            "anyOf": [
                {"type": "string", "pattern": "^(GET|POST|PUT|PATCH|DELETE) /", "examples": ["POST /lol-matchmaking/v1/ready-check/accept"]},
                fields
            ]
        })
    }
}

/// A test case: events to replay, and the requests they must cause.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestSpec {
    /// What the case checks.
    pub name: String,
    /// Inline events, replayed in order.
    #[serde(default)]
    pub events: Vec<Spanned<TestEventSpec>>,
    /// A JSONL file of events (WAMP frames, `{uri, eventType, data}` lines, or captures with
    /// `timestamp`), relative to this rule file; replayed after the inline events.
    #[serde(default)]
    pub events_file: Option<Spanned<String>>,
    /// The requests that must be sent, in order, and nothing else.
    #[serde(default)]
    pub expect: Vec<Spanned<ExpectSpec>>,
    /// Canned answers for requests (default: status 200 with an empty object).
    #[serde(default)]
    pub responses: Vec<Spanned<ResponseSpec>>,
    /// The lines `log` steps must write, in order, and no others: each the exact message, or a
    /// mapping with `message` or `contains`, and `rule` and `at`. Leave it out to not check logs.
    #[serde(default)]
    pub logs: Option<Vec<Spanned<ExpectLogSpec>>>,
    /// The runs that must fail, in order: text each one's error must contain. Without it, a run
    /// that fails fails the test.
    #[serde(default)]
    pub failures: Vec<String>,
}

/// An expected log line.
#[derive(Debug, Clone)]
pub(crate) struct ExpectLogSpec {
    /// The fields, whichever form was written.
    pub fields: ExpectLogFields,
}

/// The mapping form of an expected log line.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectLogFields {
    /// The exact message written.
    #[serde(default)]
    pub message: Option<String>,
    /// Text the message must contain (instead of `message`).
    #[serde(default)]
    pub contains: Option<String>,
    /// The rule that must have written it.
    #[serde(default)]
    pub rule: Option<String>,
    /// When it must be written, from the start of the test.
    #[serde(default)]
    pub at: Option<String>,
}

impl Shorthand for ExpectLogSpec {
    type Fields = ExpectLogFields;

    fn from_short(text: &str) -> Result<Self, String> {
        Ok(ExpectLogSpec {
            fields: ExpectLogFields {
                message: Some(text.to_string()),
                contains: None,
                rule: None,
                at: None,
            },
        })
    }

    fn from_fields(fields: ExpectLogFields) -> Self {
        ExpectLogSpec { fields }
    }
}

impl<'de> Deserialize<'de> for ExpectLogSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for ExpectLogSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExpectedLog".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<ExpectLogFields>();
        schemars::json_schema!({
            "description": "The exact message, or a mapping with `message` or `contains`, and `rule` and `at`.",
            "anyOf": [{"type": "string"}, fields]
        })
    }
}

/// An inline test event.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestEventSpec {
    /// The event's URI.
    pub uri: String,
    /// The event type (default `Update`).
    #[serde(default, rename = "type")]
    pub event_type: Option<EventTypeName>,
    /// The payload (null for `Delete`).
    #[serde(default)]
    pub data: Value,
    /// When the event arrives, from the start of the test (default: with the previous event).
    #[serde(default)]
    pub at: Option<Spanned<String>>,
}

/// An expected request.
#[derive(Debug, Clone)]
pub(crate) struct ExpectSpec {
    /// The fields, whichever form was written.
    pub fields: ExpectFields,
}

/// The mapping form of an expected request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectFields {
    /// The method.
    pub method: MethodName,
    /// The exact path sent (after rendering and encoding, with the query string if any).
    pub path: String,
    /// The exact body sent; leave it out when the request has no body.
    #[serde(default)]
    pub body: Option<Value>,
    /// The rule that must have sent it.
    #[serde(default)]
    pub rule: Option<String>,
    /// When it must be sent, from the start of the test.
    #[serde(default)]
    pub at: Option<String>,
}

impl Shorthand for ExpectSpec {
    type Fields = ExpectFields;

    fn from_short(text: &str) -> Result<Self, String> {
        let (method, path) = split_short_request(text)?;
        Ok(ExpectSpec {
            fields: ExpectFields {
                method,
                path: path.to_string(),
                body: None,
                rule: None,
                at: None,
            },
        })
    }

    fn from_fields(fields: ExpectFields) -> Self {
        ExpectSpec { fields }
    }
}

impl<'de> Deserialize<'de> for ExpectSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for ExpectSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ExpectedRequest".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<ExpectFields>();
        schemars::json_schema!({
            "description": "`METHOD /path` (no body), or a mapping with method, path, body, rule and at.",
            "anyOf": [{"type": "string", "pattern": "^(GET|POST|PUT|PATCH|DELETE) /"}, fields]
        })
    }
}

/// A canned answer used by `test` for requests that match.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResponseSpec {
    /// The request it answers, `METHOD /path`.
    pub request: String,
    /// The status (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// The JSON body.
    #[serde(default)]
    pub body: Value,
}

fn default_status() -> u16 {
    200
}

/// A delay: a duration, or a mapping whose `while` conditions must keep holding.
#[derive(Debug, Clone)]
pub(crate) struct DelaySpec {
    /// The fields, whichever form was written.
    pub fields: DelayFields,
}

/// The mapping form of a delay.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelayFields {
    /// How long to wait (e.g. `3s`).
    #[serde(rename = "for")]
    #[schemars(example = "3s")]
    pub duration: Spanned<String>,
    /// Conditions checked against every newer event on the URI that triggered the run, while
    /// waiting; the first that fails gives the run up (e.g. the ready check was answered by hand).
    #[serde(default, rename = "while")]
    pub hold: Vec<Spanned<ConditionSpec>>,
    /// Steps to run when a `while` condition breaks, before the run is given up (say why in
    /// chat, try something else).
    #[serde(default, rename = "else")]
    pub otherwise: Vec<Spanned<StepSpec>>,
}

impl Shorthand for DelaySpec {
    type Fields = DelayFields;

    fn from_short(text: &str) -> Result<Self, String> {
        Ok(DelaySpec {
            fields: DelayFields {
                duration: Spanned::new(Default::default(), text.to_string()),
                hold: Vec::new(),
                otherwise: Vec::new(),
            },
        })
    }

    fn from_fields(fields: DelayFields) -> Self {
        DelaySpec { fields }
    }
}

impl<'de> Deserialize<'de> for DelaySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_shorthand(d)
    }
}

impl JsonSchema for DelaySpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Delay".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<DelayFields>();
        schemars::json_schema!({
            "description": "A duration, or a mapping with `for`, `while` conditions and `else` steps.",
            "anyOf": [{"type": "string", "examples": ["1500ms"]}, fields]
        })
    }
}

impl From<EventTypeName> for crate::event::EventType {
    fn from(name: EventTypeName) -> crate::event::EventType {
        use crate::event::EventType;
        match name {
            EventTypeName::Create => EventType::Create,
            EventTypeName::Update => EventType::Update,
            EventTypeName::Delete => EventType::Delete,
        }
    }
}
