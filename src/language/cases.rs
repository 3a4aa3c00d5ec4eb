//! Test cases embedded in rule files (`tests:`), compiled: the events to replay, the requests
//! expected and the canned answers. `lcu-rules test` runs them (`offline/testing.rs`).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::event::{Event, EventType, TimedEvent, parse_duration, recorded::read_recording, timed};
use crate::language::diag::{Code, Sink};
use crate::language::spec::{ExpectLogSpec, MethodName, TestSpec, split_short_request};
use crate::language::yaml::{Span, Spanned};

/// A request a test expects.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedRequest {
    /// Method.
    pub method: MethodName,
    /// Exact path.
    pub path: String,
    /// Exact body (`None`: no body).
    pub body: Option<Value>,
    /// The rule that must send it.
    pub rule: Option<String>,
    /// When it must be sent.
    pub at: Option<Duration>,
}

/// What a log line a test expects must say.
#[derive(Debug, Clone, PartialEq)]
pub enum LogText {
    /// Exactly this.
    Exact(String),
    /// At least this.
    Contains(String),
}

/// A log line a test expects.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedLog {
    /// What it says.
    pub text: LogText,
    /// The rule that must write it.
    pub rule: Option<String>,
    /// When it must be written.
    pub at: Option<Duration>,
}

/// A canned answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedResponse {
    /// Method it answers.
    pub method: MethodName,
    /// Path it answers.
    pub path: String,
    /// Status.
    pub status: u16,
    /// Body.
    pub body: Value,
}

/// A compiled test case.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// Its name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
    /// The events, in replay order.
    pub events: Vec<TimedEvent>,
    /// The requests expected, in order.
    pub expect: Vec<ExpectedRequest>,
    /// Canned answers.
    pub responses: Vec<CannedResponse>,
    /// The log lines expected, in order (`None`: not checked).
    pub logs: Option<Vec<ExpectedLog>>,
    /// Text each failed run's error must contain, in order; empty: no run may fail.
    pub failures: Vec<String>,
}

/// Compiles a file's test specs, reporting problems into the sink.
pub(crate) fn compile_tests(
    specs: &[Spanned<TestSpec>],
    file: &Path,
    sink: &mut Sink<'_>,
) -> Vec<TestCase> {
    let mut cases = Vec::new();
    for spec in specs {
        let mut ok = true;
        let mut events = Vec::new();
        let mut clock = Duration::ZERO;
        for event in &spec.events {
            if let Some(at) = &event.at {
                match parse_duration(at) {
                    Ok(at) => clock = at,
                    Err(message) => {
                        sink.report(Code::InvalidDuration, at.span, message, None);
                        ok = false;
                    }
                }
            }
            events.push(TimedEvent {
                at: clock,
                event: Event::new(
                    event.uri.clone(),
                    event
                        .event_type
                        .map(EventType::from)
                        .unwrap_or(EventType::Update),
                    event.data.clone(),
                ),
            });
        }
        if let Some(name) = &spec.events_file {
            let path = file.parent().unwrap_or(Path::new(".")).join(&name.value);
            match read_recording(&path) {
                Ok(recorded) => events.extend(timed(recorded, clock)),
                Err(message) => {
                    sink.report(Code::TestEvents, name.span, message, None);
                    ok = false;
                }
            }
        }
        let mut expect = Vec::new();
        for item in &spec.expect {
            let fields = &item.fields;
            let at = match &fields.at {
                Some(text) => match parse_duration(text) {
                    Ok(at) => Some(at),
                    Err(message) => {
                        sink.report(Code::InvalidDuration, item.span, message, None);
                        ok = false;
                        None
                    }
                },
                None => None,
            };
            expect.push(ExpectedRequest {
                method: fields.method,
                path: fields.path.clone(),
                body: fields.body.clone(),
                rule: fields.rule.clone(),
                at,
            });
        }
        let logs = spec.logs.as_ref().map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    expected_log(item, sink).or_else(|| {
                        ok = false;
                        None
                    })
                })
                .collect()
        });
        let mut responses = Vec::new();
        for response in &spec.responses {
            match split_short_request(&response.request) {
                Ok((method, path)) => responses.push(CannedResponse {
                    method,
                    path: path.to_string(),
                    status: response.status,
                    body: response.body.clone(),
                }),
                Err(message) => {
                    sink.report(Code::InvalidValue, response.span, message, None);
                    ok = false;
                }
            }
        }
        if ok {
            cases.push(TestCase {
                name: spec.name.clone(),
                span: spec.span,
                events,
                expect,
                responses,
                logs,
                failures: spec.failures.clone(),
            });
        }
    }
    cases
}

/// Compiles one expected log line; `None` (reported) when it is malformed.
fn expected_log(item: &Spanned<ExpectLogSpec>, sink: &mut Sink<'_>) -> Option<ExpectedLog> {
    let fields = &item.fields;
    let text = match (&fields.message, &fields.contains) {
        (Some(message), None) => LogText::Exact(message.clone()),
        (None, Some(part)) => LogText::Contains(part.clone()),
        _ => {
            sink.report(
                Code::InvalidValue,
                item.span,
                "an expected log line needs exactly one of `message` and `contains`",
                None,
            );
            return None;
        }
    };
    let at = match &fields.at {
        Some(text) => match parse_duration(text) {
            Ok(at) => Some(at),
            Err(message) => {
                sink.report(Code::InvalidDuration, item.span, message, None);
                return None;
            }
        },
        None => None,
    };
    Some(ExpectedLog {
        text,
        rule: fields.rule.clone(),
        at,
    })
}
