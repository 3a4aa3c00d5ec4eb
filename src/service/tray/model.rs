//! What the tray shows and what its clicks mean, as a pure model: [`view`] turns a snapshot of
//! the service into the icon's state, tooltip and menu; [`action`] turns a click into a
//! request. No platform code, so it is tested without a desktop.

use crate::client::live::Status;
use crate::engine::EngineStatus;

/// What the icon's look says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrayState {
    /// No client (yet), or reconnecting.
    Waiting,
    /// Connected; rules fire.
    Connected,
    /// Every rule is paused.
    Paused,
    /// The last edit of the rules has errors (the previous rules are still in force), or a
    /// circuit breaker is open.
    RuleError,
}

/// What the model is computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// The connection.
    pub connection: Status,
    /// The engine.
    pub engine: EngineStatus,
    /// Errors of the last rejected reload (0 when the last reload went through).
    pub reload_errors: usize,
    /// Whether lcu-rules starts at login.
    pub autostart: bool,
}

/// How a menu entry looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A plain item.
    Action,
    /// A checkbox, checked or not.
    Check(bool),
    /// A line between groups.
    Separator,
}

/// One entry of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MenuEntry {
    /// Stable id (what a click reports).
    pub id: String,
    /// What it says.
    pub label: String,
    /// Its kind.
    pub kind: EntryKind,
    /// Whether it can be clicked.
    pub enabled: bool,
}

/// Everything the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrayView {
    /// The icon's state.
    pub state: TrayState,
    /// The one-line status under the pointer.
    pub tooltip: String,
    /// The menu, top to bottom.
    pub entries: Vec<MenuEntry>,
}

/// What a click asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrayAction {
    /// Pause every rule.
    Pause,
    /// Resume.
    Resume,
    /// Switch a rule on or off.
    Switch {
        /// The rule.
        rule: String,
        /// On or off.
        on: bool,
    },
    /// Run a manual rule now.
    Run(String),
    /// Reload the rule files.
    Reload,
    /// Open the rules folder.
    OpenRules,
    /// Open the log file.
    OpenLog,
    /// Turn start at login on or off.
    Autostart(bool),
    /// Stop lcu-rules.
    Quit,
}

impl std::fmt::Display for TrayAction {
    /// The menu entry in words, for the log line of a click.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrayAction::Pause => f.write_str("pause all rules"),
            TrayAction::Resume => f.write_str("resume all rules"),
            TrayAction::Switch { rule, on: true } => write!(f, "switch {rule} on"),
            TrayAction::Switch { rule, on: false } => write!(f, "switch {rule} off"),
            TrayAction::Run(rule) => write!(f, "run {rule}"),
            TrayAction::Reload => f.write_str("reload rules"),
            TrayAction::OpenRules => f.write_str("open rules folder"),
            TrayAction::OpenLog => f.write_str("open log file"),
            TrayAction::Autostart(true) => f.write_str("start at login on"),
            TrayAction::Autostart(false) => f.write_str("start at login off"),
            TrayAction::Quit => f.write_str("quit"),
        }
    }
}

const RULE_PREFIX: &str = "rule:";
const RUN_PREFIX: &str = "run:";

/// What the tray shows for `snapshot`.
pub(crate) fn view(snapshot: &Snapshot) -> TrayView {
    let engine = &snapshot.engine;
    let tripped: Vec<&str> = engine
        .rules
        .iter()
        .filter(|r| r.tripped)
        .map(|r| r.id.as_str())
        .collect();
    let state = if snapshot.reload_errors > 0 || !tripped.is_empty() {
        TrayState::RuleError
    } else if engine.paused {
        TrayState::Paused
    } else if matches!(snapshot.connection, Status::Connected { .. }) {
        TrayState::Connected
    } else {
        TrayState::Waiting
    };
    let active = engine
        .rules
        .iter()
        .filter(|r| r.enabled && !r.switched_off)
        .count();
    let mut parts = vec![
        match (&snapshot.connection, engine.paused) {
            (_, true) => "Paused".to_string(),
            (Status::Connected { .. }, false) => "Connected".to_string(),
            _ => "Waiting for the League client".to_string(),
        },
        format!("{active} rule{}", if active == 1 { "" } else { "s" }),
    ];
    if let Some(last) = engine
        .rules
        .iter()
        .filter_map(|r| r.last_fired_ms_ago.map(|ago| (ago, r.id.as_str())))
        .min()
    {
        parts.push(format!("last: {} {} ago", last.1, ago_text(last.0)));
    }
    if snapshot.reload_errors > 0 {
        parts.push(format!(
            "rule error: {} in the last edit (previous rules active)",
            snapshot.reload_errors
        ));
    }
    if !tripped.is_empty() {
        parts.push(format!("breaker open: {}", tripped.join(", ")));
    }
    let mut entries = vec![entry(
        "pause",
        if engine.paused {
            "Resume all rules"
        } else {
            "Pause all rules"
        },
        EntryKind::Action,
    )];
    entries.push(separator(1));
    for rule in &engine.rules {
        let label = if rule.enabled {
            rule.id.clone()
        } else {
            format!("{} (disabled in its file)", rule.id)
        };
        entries.push(MenuEntry {
            id: format!("{RULE_PREFIX}{}", rule.id),
            label,
            kind: EntryKind::Check(rule.enabled && !rule.switched_off),
            enabled: rule.enabled,
        });
    }
    let manual: Vec<&crate::engine::RuleStatus> = engine
        .rules
        .iter()
        .filter(|r| r.manual && r.enabled && !r.switched_off)
        .collect();
    if !manual.is_empty() {
        entries.push(separator(4));
        for rule in manual {
            entries.push(MenuEntry {
                id: format!("{RUN_PREFIX}{}", rule.id),
                label: format!("Run {}", rule.id),
                kind: EntryKind::Action,
                enabled: !engine.paused,
            });
        }
    }
    entries.push(separator(2));
    entries.push(entry("reload", "Reload rules", EntryKind::Action));
    entries.push(entry("open-rules", "Open rules folder", EntryKind::Action));
    entries.push(entry("open-log", "Open log file", EntryKind::Action));
    entries.push(entry(
        "autostart",
        "Start at login",
        EntryKind::Check(snapshot.autostart),
    ));
    entries.push(separator(3));
    entries.push(entry("quit", "Quit", EntryKind::Action));
    TrayView {
        state,
        tooltip: parts.join(" · "),
        entries,
    }
}

/// What clicking the entry `id` of `view` asks for.
pub(crate) fn action(view: &TrayView, id: &str) -> Option<TrayAction> {
    let entry = view.entries.iter().find(|e| e.id == id)?;
    if !entry.enabled {
        return None;
    }
    let checked = matches!(entry.kind, EntryKind::Check(true));
    Some(match id {
        "pause" if view.state == TrayState::Paused => TrayAction::Resume,
        "pause" if entry.label.starts_with("Resume") => TrayAction::Resume,
        "pause" => TrayAction::Pause,
        "reload" => TrayAction::Reload,
        "open-rules" => TrayAction::OpenRules,
        "open-log" => TrayAction::OpenLog,
        "autostart" => TrayAction::Autostart(!checked),
        "quit" => TrayAction::Quit,
        other if other.starts_with(RUN_PREFIX) => {
            TrayAction::Run(other.strip_prefix(RUN_PREFIX)?.to_string())
        }
        other => TrayAction::Switch {
            rule: other.strip_prefix(RULE_PREFIX)?.to_string(),
            on: !checked,
        },
    })
}

fn entry(id: &str, label: &str, kind: EntryKind) -> MenuEntry {
    MenuEntry {
        id: id.into(),
        label: label.into(),
        kind,
        enabled: true,
    }
}

fn separator(n: u32) -> MenuEntry {
    MenuEntry {
        id: format!("separator-{n}"),
        label: String::new(),
        kind: EntryKind::Separator,
        enabled: false,
    }
}

fn ago_text(ms: u64) -> String {
    match ms / 1000 {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// The icon's pixels: a filled circle whose colour says the state (RGBA, `size` × `size`).
pub(crate) fn icon_pixels(state: TrayState, size: u32) -> Vec<u8> {
    let colour: [u8; 3] = match state {
        TrayState::Waiting => [0x8a, 0x8f, 0x98],
        TrayState::Connected => [0x2e, 0xb8, 0x5c],
        TrayState::Paused => [0xf0, 0xa0, 0x20],
        TrayState::RuleError => [0xe0, 0x3c, 0x31],
    };
    let centre = (size as f32 - 1.0) / 2.0;
    let radius = size as f32 / 2.0 - 1.0;
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let distance = ((x as f32 - centre).powi(2) + (y as f32 - centre).powi(2)).sqrt();
            let alpha = (radius + 0.5 - distance).clamp(0.0, 1.0);
            pixels.extend_from_slice(&colour);
            pixels.push((alpha * 255.0) as u8);
        }
    }
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RuleStatus;

    fn rule(id: &str) -> RuleStatus {
        RuleStatus {
            id: id.into(),
            enabled: true,
            fired: 0,
            suppressed: 0,
            active_runs: 0,
            queued: 0,
            debouncing: 0,
            tripped: false,
            switched_off: false,
            last_fired_ms_ago: None,
            manual: false,
        }
    }

    fn snapshot(connection: Status) -> Snapshot {
        let mut disabled = rule("pick-champion");
        disabled.enabled = false;
        let mut accept = rule("accept-ready-check");
        accept.last_fired_ms_ago = Some(12_400);
        Snapshot {
            connection,
            engine: EngineStatus {
                events: 3,
                phase: None,
                active_runs: 0,
                paused: false,
                rules: vec![accept, rule("play-again"), disabled],
                state: Vec::new(),
            },
            reload_errors: 0,
            autostart: false,
        }
    }

    const CONNECTED: Status = Status::Connected {
        port: 1,
        connections: 1,
    };

    /// Each engine state has its icon state and tooltip.
    #[test]
    fn states_and_tooltips() {
        let waiting = view(&snapshot(Status::Waiting));
        assert_eq!(waiting.state, TrayState::Waiting);
        assert_eq!(
            waiting.tooltip,
            "Waiting for the League client · 2 rules · last: accept-ready-check 12s ago"
        );
        let connected = view(&snapshot(CONNECTED));
        assert_eq!(connected.state, TrayState::Connected);
        assert!(connected.tooltip.starts_with("Connected · 2 rules"));

        let mut paused = snapshot(CONNECTED);
        paused.engine.paused = true;
        let paused = view(&paused);
        assert_eq!(paused.state, TrayState::Paused);
        assert_eq!(paused.entries[0].label, "Resume all rules");

        let mut broken = snapshot(CONNECTED);
        broken.reload_errors = 2;
        let broken = view(&broken);
        assert_eq!(broken.state, TrayState::RuleError);
        assert!(broken.tooltip.contains("rule error: 2 in the last edit"));

        let mut tripped = snapshot(CONNECTED);
        tripped.engine.rules[1].tripped = true;
        let tripped = view(&tripped);
        assert_eq!(tripped.state, TrayState::RuleError);
        assert!(tripped.tooltip.contains("breaker open: play-again"));
    }

    /// The menu: pause, one checkbox per rule (disabled-in-file rules greyed out), reload, open
    /// folder and log, start at login, quit; each item maps to its action.
    #[test]
    fn menu_items_and_actions() {
        let shown = view(&snapshot(CONNECTED));
        let labels: Vec<&str> = shown
            .entries
            .iter()
            .filter(|e| e.kind != EntryKind::Separator)
            .map(|e| e.label.as_str())
            .collect();
        assert_eq!(
            labels,
            vec![
                "Pause all rules",
                "accept-ready-check",
                "play-again",
                "pick-champion (disabled in its file)",
                "Reload rules",
                "Open rules folder",
                "Open log file",
                "Start at login",
                "Quit"
            ]
        );
        assert_eq!(action(&shown, "pause"), Some(TrayAction::Pause));
        assert_eq!(
            action(&shown, "rule:play-again"),
            Some(TrayAction::Switch {
                rule: "play-again".into(),
                on: false
            })
        );
        assert_eq!(action(&shown, "rule:pick-champion"), None);
        assert_eq!(action(&shown, "reload"), Some(TrayAction::Reload));
        assert_eq!(
            action(&shown, "autostart"),
            Some(TrayAction::Autostart(true))
        );
        assert_eq!(action(&shown, "quit"), Some(TrayAction::Quit));
        assert_eq!(action(&shown, "separator-1"), None);

        // A manual rule gets a Run entry, greyed out while paused.
        let mut manual = snapshot(CONNECTED);
        manual.engine.rules[1].manual = true;
        let shown_manual = view(&manual);
        let run = shown_manual
            .entries
            .iter()
            .find(|e| e.label == "Run play-again")
            .expect("a Run entry");
        assert_eq!(
            action(&shown_manual, &run.id),
            Some(TrayAction::Run("play-again".into()))
        );
        manual.engine.paused = true;
        assert_eq!(action(&view(&manual), &run.id), None);

        let mut off = snapshot(CONNECTED);
        off.engine.rules[1].switched_off = true;
        off.engine.paused = true;
        let off = view(&off);
        assert_eq!(
            action(&off, "rule:play-again"),
            Some(TrayAction::Switch {
                rule: "play-again".into(),
                on: true
            })
        );
        assert_eq!(action(&off, "pause"), Some(TrayAction::Resume));
    }

    /// The icon is a circle: opaque in the middle, transparent in the corners.
    #[test]
    fn icon_is_a_circle() {
        let pixels = icon_pixels(TrayState::Connected, 16);
        assert_eq!(pixels.len(), 16 * 16 * 4);
        assert_eq!(pixels[3], 0);
        let middle = ((8 * 16 + 8) * 4) as usize;
        assert_eq!(&pixels[middle..middle + 4], &[0x2e, 0xb8, 0x5c, 255]);
    }
}
