//! The simulated client's state: the resources it serves, and how its endpoints change them.
//! Payload shapes come from the real captures and the LCU schema in the project's shared data:
//! the ready-check object is the real one embedded in a `/lol-matchmaking/v1/search` payload, the
//! champion-select session is the real captured one, phases are the schema's enum, and the 404
//! bodies are the real ones quoted in `LCU-PROTOCOL.md` and the RCVolus recordings.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::event::EventType;

/// The ready check URI.
pub const READY_CHECK: &str = "/lol-matchmaking/v1/ready-check";
/// The gameflow phase URI.
pub(crate) const GAMEFLOW_PHASE: &str = "/lol-gameflow/v1/gameflow-phase";
/// The champion-select session URI.
pub(crate) const CHAMP_SELECT_SESSION: &str = "/lol-champ-select/v1/session";

/// Endpoints the simulated client knows even while they have no state (they answer 404 with the
/// client's "No active delegate" body then, not "Invalid function").
const KNOWN_STATEFUL: [&str; 4] = [
    READY_CHECK,
    CHAMP_SELECT_SESSION,
    "/lol-lobby/v2/lobby",
    "/lol-matchmaking/v1/search",
];

/// A change the client publishes as an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    /// The resource.
    pub uri: String,
    /// Create, Update or Delete.
    pub event_type: EventType,
    /// The new state (`null` on Delete).
    pub data: Value,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// Status.
    pub status: u16,
    /// JSON body (`None`: empty body).
    pub body: Option<Value>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body: Some(body),
        }
    }

    fn no_content() -> Answer {
        Answer {
            status: 204,
            body: None,
        }
    }

    /// The client's answer to a path it does not serve.
    pub(crate) fn invalid_function() -> Answer {
        Answer {
            status: 404,
            body: Some(
                json!({"errorCode": "RESOURCE_NOT_FOUND", "httpStatus": 404, "message": "Invalid function"}),
            ),
        }
    }

    fn no_active_delegate() -> Answer {
        Answer {
            status: 404,
            body: Some(
                json!({"errorCode": "RPC_ERROR", "httpStatus": 404, "implementationDetails": {}, "message": "No active delegate"}),
            ),
        }
    }
}

/// A ready check in a given state (the fields and value spelling of the real object).
pub fn ready_check(state: &str, player_response: &str, timer: f64) -> Value {
    json!({
        "declinerIds": [],
        "dodgeWarning": "None",
        "playerResponse": player_response,
        "state": state,
        "suppressUx": false,
        "timer": timer,
    })
}

/// The resources and the rules by which requests change them.
#[derive(Debug, Default)]
pub(crate) struct SimState {
    resources: HashMap<String, Value>,
}

impl SimState {
    /// A client sitting in no phase.
    pub(crate) fn new() -> SimState {
        let mut state = SimState::default();
        state.resources.insert(GAMEFLOW_PHASE.into(), json!("None"));
        state
    }

    /// Sets (or with `None` removes) a resource and returns the change to publish.
    pub(crate) fn set(&mut self, uri: &str, value: Option<Value>) -> Change {
        match value {
            Some(value) => {
                let event_type = if self.resources.contains_key(uri) {
                    EventType::Update
                } else {
                    EventType::Create
                };
                self.resources.insert(uri.to_string(), value.clone());
                Change {
                    uri: uri.to_string(),
                    event_type,
                    data: value,
                }
            }
            None => {
                self.resources.remove(uri);
                Change {
                    uri: uri.to_string(),
                    event_type: EventType::Delete,
                    data: Value::Null,
                }
            }
        }
    }

    /// The current value of a resource.
    pub(crate) fn resource(&self, uri: &str) -> Option<&Value> {
        self.resources.get(uri)
    }

    /// Answers a request; returns the answer and the changes it caused.
    pub(crate) fn handle(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (Answer, Vec<Change>) {
        let path = path.split('?').next().unwrap_or(path);
        match (method, path) {
            ("GET", _) => (self.get(path), Vec::new()),
            ("POST", "/lol-matchmaking/v1/ready-check/accept") => {
                self.answer_ready_check("Accepted")
            }
            ("POST", "/lol-matchmaking/v1/ready-check/decline") => {
                self.answer_ready_check("Declined")
            }
            ("DELETE", "/lol-lobby/v2/lobby/matchmaking/search") => {
                self.resources.remove(READY_CHECK);
                let changes = vec![
                    Change {
                        uri: READY_CHECK.to_string(),
                        event_type: EventType::Delete,
                        data: Value::Null,
                    },
                    self.set(GAMEFLOW_PHASE, Some(json!("Lobby"))),
                ];
                (Answer::no_content(), changes)
            }
            ("POST", "/lol-lobby/v2/play-again") => {
                let change = self.set(GAMEFLOW_PHASE, Some(json!("Lobby")));
                (Answer::no_content(), vec![change])
            }
            ("PATCH", _) if path.starts_with("/lol-champ-select/v1/session/actions/") => {
                let id = path
                    .rsplit('/')
                    .next()
                    .and_then(|id| id.parse::<i64>().ok());
                self.update_action(id, body, false)
            }
            ("POST", _)
                if path.starts_with("/lol-champ-select/v1/session/actions/")
                    && path.ends_with("/complete") =>
            {
                let id = path.split('/').nth(6).and_then(|id| id.parse::<i64>().ok());
                self.update_action(id, None, true)
            }
            ("PUT", _) => {
                // Like the client's plain resources (`/lol-chat/v1/me`, settings): a PUT
                // replaces the resource and publishes the change.
                let value = body.cloned().unwrap_or(Value::Null);
                let change = self.set(path, Some(value.clone()));
                (Answer::ok(value), vec![change])
            }
            ("PATCH", _) if self.resources.contains_key(path) => {
                let mut value = self.resources[path].clone();
                if let (Value::Object(fields), Some(Value::Object(patch))) = (&mut value, body) {
                    for (key, field) in patch {
                        fields.insert(key.clone(), field.clone());
                    }
                }
                let change = self.set(path, Some(value));
                (Answer::no_content(), vec![change])
            }
            _ => (Answer::invalid_function(), Vec::new()),
        }
    }

    fn get(&self, path: &str) -> Answer {
        match self.resources.get(path) {
            Some(value) => Answer::ok(value.clone()),
            None if KNOWN_STATEFUL.contains(&path) => Answer::no_active_delegate(),
            None => Answer::invalid_function(),
        }
    }

    fn answer_ready_check(&mut self, response: &str) -> (Answer, Vec<Change>) {
        let Some(mut check) = self.resources.get(READY_CHECK).cloned() else {
            return (Answer::no_active_delegate(), Vec::new());
        };
        if check["state"] != "InProgress" {
            return (Answer::no_content(), Vec::new());
        }
        check["playerResponse"] = json!(response);
        let change = self.set(READY_CHECK, Some(check));
        (Answer::no_content(), vec![change])
    }

    fn update_action(
        &mut self,
        id: Option<i64>,
        patch: Option<&Value>,
        complete: bool,
    ) -> (Answer, Vec<Change>) {
        let Some(mut session) = self.resources.get(CHAMP_SELECT_SESSION).cloned() else {
            return (Answer::no_active_delegate(), Vec::new());
        };
        let mut found = false;
        if let Some(turns) = session["actions"].as_array_mut() {
            for action in turns.iter_mut().filter_map(Value::as_array_mut).flatten() {
                if action["id"].as_i64() != id {
                    continue;
                }
                found = true;
                if let Some(Value::Object(fields)) = patch {
                    for (key, value) in fields {
                        action[key] = value.clone();
                    }
                }
                if complete {
                    action["completed"] = json!(true);
                }
            }
        }
        if !found {
            return (
                Answer {
                    status: 500,
                    body: Some(
                        json!({"errorCode": "RPC_ERROR", "httpStatus": 500, "implementationDetails": {}, "message": "Invalid action"}),
                    ),
                },
                Vec::new(),
            );
        }
        let change = self.set(CHAMP_SELECT_SESSION, Some(session));
        (Answer::no_content(), vec![change])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepting a pending ready check records the answer and publishes the update; accepting
    /// when none is pending answers like the client and changes nothing.
    #[test]
    fn ready_check_accept() {
        let mut state = SimState::new();
        let (answer, changes) =
            state.handle("POST", "/lol-matchmaking/v1/ready-check/accept", None);
        assert_eq!(answer.status, 404);
        assert!(changes.is_empty());
        state.set(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
        let (answer, changes) =
            state.handle("POST", "/lol-matchmaking/v1/ready-check/accept", None);
        assert_eq!(answer.status, 204);
        assert_eq!(changes[0].data["playerResponse"], "Accepted");
        assert_eq!(changes[0].event_type, EventType::Update);
    }

    /// Unknown paths answer "Invalid function"; known ones without state "No active delegate".
    #[test]
    fn not_found_bodies() {
        let mut state = SimState::new();
        assert_eq!(
            state.handle("GET", "/nope", None).0.body.unwrap()["message"],
            "Invalid function"
        );
        assert_eq!(
            state
                .handle("GET", CHAMP_SELECT_SESSION, None)
                .0
                .body
                .unwrap()["message"],
            "No active delegate"
        );
        assert_eq!(
            state.handle("GET", GAMEFLOW_PHASE, None).0.body.unwrap(),
            json!("None")
        );
    }

    /// A PATCH on an action changes that action in the session.
    #[test]
    fn patch_action() {
        let mut state = SimState::new();
        state.set(
            CHAMP_SELECT_SESSION,
            Some(json!({"actions": [[{"id": 17, "championId": 0, "completed": false}]]})),
        );
        let (answer, changes) = state.handle(
            "PATCH",
            "/lol-champ-select/v1/session/actions/17",
            Some(&json!({"championId": 516, "completed": true})),
        );
        assert_eq!(answer.status, 204);
        assert_eq!(
            changes[0].data["actions"][0][0],
            json!({"id": 17, "championId": 516, "completed": true})
        );
        assert_eq!(
            state
                .handle(
                    "PATCH",
                    "/lol-champ-select/v1/session/actions/99",
                    Some(&json!({}))
                )
                .0
                .status,
            500
        );
    }
}
