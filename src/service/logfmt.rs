//! The text format of log lines: `<local time> <LEVEL> <message> key=value ...`, one line per
//! event, the time to the second.
//! It is `tracing_subscriber`'s default layout, written without most of the formatting machinery,
//! because a line per request sits on the path of every accept: the timestamp's date and time
//! are formatted once a second, numbers and plain words are written directly, and only other
//! values go through `Debug`. Words with spaces, quotes or `=` are quoted so a line always splits
//! back into its fields, and control characters are escaped everywhere, the message included, so
//! text from an event cannot forge a line or reach the terminal as an escape sequence.
//!
//! Measured on the realistic load (`cargo bench --bench e2e -- --realistic`, against a build with
//! `tracing-subscriber`'s own format and an unbuffered log file): this format and the buffered
//! writer of `logfile.rs` together save 7-8 % of the CPU time at equal latency.

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::engine::trace::{Observer, RunOutcome, Suppressed, Trace, Verdict};

/// The line format (see the module documentation).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyValue;

impl<S, N> FormatEvent<S, N> for KeyValue
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        write_timestamp(&mut writer, std::time::SystemTime::now())?;
        write_level(&mut writer, *event.metadata().level(), ansi)?;
        let mut fields = Fields {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// The level after the timestamp's separating space, right-aligned to five characters.
fn write_level(out: &mut Writer<'_>, level: Level, ansi: bool) -> fmt::Result {
    let (text, colour) = match level {
        Level::ERROR => (" ERROR", "31"),
        Level::WARN => ("  WARN", "33"),
        Level::INFO => ("  INFO", "32"),
        Level::DEBUG => (" DEBUG", "34"),
        Level::TRACE => (" TRACE", "35"),
    };
    if ansi {
        write!(out, " \x1b[{colour}m{}\x1b[0m", &text[1..])
    } else {
        out.write_str(text)
    }
}

/// Writes the fields as they are visited: the message bare, the others as `key=value`.
struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn start(&mut self, field: &Field) -> fmt::Result {
        self.out.write_char(' ')?;
        if field.name() != "message" {
            self.out.write_str(field.name())?;
            self.out.write_char('=')?;
        }
        Ok(())
    }

    fn put(&mut self, field: &Field, write: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = self
                .start(field)
                .and_then(|()| write(&mut Escaping(&mut *self.out)));
        }
    }
}

/// Writes text with its control characters escaped (`\n`, `\u{1b}`): a value from an event (a
/// chat message a `log` step writes, say) can then neither start a forged log line nor send
/// escape sequences to the terminal.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c.is_control()) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or('\0');
            write!(self.0, "{}", c.escape_default())?;
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let bare = field.name() == "message" || is_plain_word(value);
        self.put(field, |out| {
            if bare {
                out.write_str(value)
            } else {
                write!(out, "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |out| write_u64(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |out| {
            if value < 0 {
                out.write_char('-')?;
            }
            write_u64(out, value.unsigned_abs())
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |out| {
            out.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, |out| write!(out, "{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, |out| write!(out, "{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, |out| write!(out, "{value:?}"));
    }
}

/// A value that needs no quotes: non-empty, and no spaces, quotes, `=` or control characters.
fn is_plain_word(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b > b' ' && b != b'"' && b != b'=' && b != 0x7f)
}

fn write_u64(out: &mut dyn fmt::Write, mut value: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.write_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"))
}

/// A duration in milliseconds to the hundredth (`0.5`, `12.34`, `3.0`), as text made without
/// `fmt`: a request line carries one, and float formatting costs more than the rest of the line.
pub(crate) struct Millis {
    text: [u8; 32],
    len: usize,
}

impl Millis {
    /// `duration`, rounded to the nearest hundredth of a millisecond.
    pub(crate) fn of(duration: std::time::Duration) -> Millis {
        let hundredths = u64::try_from((duration.as_nanos() + 5_000) / 10_000).unwrap_or(u64::MAX);
        let mut text = [0u8; 32];
        let mut len = 0;
        let mut push = |byte: u8| {
            text[len] = byte;
            len += 1;
        };
        let whole = hundredths / 100;
        let digits = whole.checked_ilog10().unwrap_or(0) + 1;
        for power in (0..digits).rev() {
            push(b'0' + (whole / 10u64.pow(power) % 10) as u8);
        }
        push(b'.');
        let (tens, ones) = ((hundredths / 10 % 10) as u8, (hundredths % 10) as u8);
        push(b'0' + tens);
        if ones != 0 {
            push(b'0' + ones);
        }
        Millis { text, len }
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text[..self.len]).unwrap_or("0.0")
    }
}

thread_local! {
    /// The second last formatted, and its `YYYY-MM-DD HH:MM:SS` text.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// The local time zone, read once (`jiff` follows `TZ`, `/etc/localtime` and Windows' setting).
fn local_zone() -> &'static jiff::tz::TimeZone {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    ZONE.get_or_init(|| jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC))
}

/// The local zone's offset from UTC at `seconds` since the epoch, in seconds.
fn local_offset(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or(0, |at| i64::from(local_zone().to_offset(at).seconds()))
}

/// `YYYY-MM-DD HH:MM:SS` in local time: what a person reading the terminal or the log file
/// wants. `--log-format json` has the exact UTC time.
fn write_timestamp(out: &mut impl fmt::Write, now: std::time::SystemTime) -> fmt::Result {
    let seconds = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != seconds {
            cached.1.clear();
            let local = seconds.saturating_add_signed(local_offset(seconds));
            let _ = write_date_time(&mut cached.1, local);
            cached.0 = seconds;
        }
        out.write_str(&cached.1)
    })
}

fn write_date_time(out: &mut String, seconds: u64) -> fmt::Result {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// An observer that writes each trace to `tracing` as one key/value line.
pub struct LogObserver;

impl Observer for LogObserver {
    fn observe(&self, trace: Trace) {
        self.inspect(&trace);
    }

    fn inspect(&self, trace: &Trace) {
        match trace {
            Trace::Event { .. } => {}
            Trace::Decision { rule, verdict, .. } => match verdict {
                Verdict::Fired { run } => tracing::debug!(rule = %rule, run, "rule fired"),
                Verdict::Queued { run } => tracing::debug!(rule = %rule, run, "rule queued"),
                Verdict::Debounced { wait_ms, .. } => {
                    tracing::debug!(rule = %rule, wait_ms, "rule debounced")
                }
                Verdict::Suppressed {
                    why: Suppressed::Breaker { tripped_now: true },
                } => tracing::warn!(
                    rule = %rule,
                    "circuit breaker tripped: the rule fired too often and is off until reload or reset"
                ),
                Verdict::Suppressed {
                    why: Suppressed::Paused | Suppressed::SwitchedOff,
                } => tracing::debug!(rule = %rule, "rule off"),
                Verdict::Suppressed {
                    why: Suppressed::Depth { chain },
                } => tracing::warn!(
                    rule = %rule,
                    chain = %chain.join(" -> "),
                    "causal chain too deep: rules keep triggering each other, stopped here"
                ),
                Verdict::Stopped { miss } => tracing::debug!(rule = %rule, %miss, "rule not fired"),
                Verdict::Suppressed { why } => {
                    tracing::info!(rule = %rule, why = %crate::engine::trace::suppressed_text(why), "rule held back")
                }
            },
            Trace::Request {
                rule,
                run,
                method,
                path,
                result,
                elapsed,
                attempt,
                ..
            } => {
                // Display (`%`) rather than Debug: Debug escapes strings character by character.
                // Hundredths of a millisecond: finer is noise.
                let elapsed_ms = Millis::of(*elapsed);
                let elapsed_ms = elapsed_ms.as_str();
                let method = method.as_str();
                // Plain `&str` fields: the line format writes them without `fmt`.
                let (rule, path) = (&**rule, path.as_str());
                match (result, attempt) {
                    (Ok(status), 0) => {
                        tracing::info!(rule, run, method, path, status, elapsed_ms, "request")
                    }
                    (Ok(status), _) => {
                        tracing::info!(
                            rule,
                            run,
                            method,
                            path,
                            status,
                            elapsed_ms,
                            attempt,
                            "request retried"
                        )
                    }
                    (Err(error), _) => {
                        tracing::warn!(rule, run, method, path, %error, elapsed_ms, attempt, "request failed")
                    }
                }
            }
            Trace::Log {
                rule, run, message, ..
            } => tracing::info!(rule = %rule, run, "{message}"),
            Trace::Flow {
                rule, run, text, ..
            } => tracing::debug!(rule = %rule, run, "{text}"),
            Trace::RunFinished {
                rule, run, outcome, ..
            } => match outcome {
                RunOutcome::Failed { step, error } => {
                    tracing::warn!(rule = %rule, run, step, %error, "run failed")
                }
                RunOutcome::Abandoned { reason } => {
                    tracing::info!(rule = %rule, run, %reason, "run given up")
                }
                RunOutcome::Cancelled => tracing::debug!(rule = %rule, run, "run cancelled"),
                _ => tracing::debug!(rule = %rule, run, "run finished"),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Dates around leap days and the epoch come out as the calendar has them.
    #[test]
    fn timestamps() {
        let text = |secs: u64| {
            let mut out = String::new();
            write_date_time(&mut out, secs).unwrap();
            out
        };
        assert_eq!(text(0), "1970-01-01 00:00:00");
        assert_eq!(text(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(text(1_764_570_011), "2025-12-01 06:20:11");
        assert_eq!(text(4_107_542_399), "2100-02-28 23:59:59");
    }

    /// The line's time is the local time, to the second.
    #[test]
    fn the_line_time_is_local() {
        let now = std::time::SystemTime::now();
        let mut line = String::new();
        write_timestamp(&mut line, now).unwrap();
        let at = jiff::Timestamp::try_from(now).unwrap();
        let local = at
            .to_zoned_datetime(local_zone().clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        assert_eq!(line, local);
    }

    /// Milliseconds come out as the rounded float would print.
    #[test]
    fn millis_text() {
        for nanos in [
            0u64,
            4_999,
            5_000,
            500_000,
            1_000_000,
            1_234_567,
            12_345_678,
            999_995_000,
            3_600_000_000_000,
        ] {
            let duration = Duration::from_nanos(nanos);
            let float = (duration.as_secs_f64() * 100_000.0).round() / 100.0;
            assert_eq!(
                Millis::of(duration).as_str(),
                format!("{float:?}"),
                "{nanos} ns"
            );
        }
    }

    /// A shared buffer that log lines are written to: a writer, and a maker of writers.
    #[derive(Clone, Default)]
    pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// What `log` writes through the line format, with or without colours.
    fn logged(ansi: bool, log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(ansi)
            .event_format(KeyValue)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    /// A request line: message first, plain words bare, numbers as digits, other text quoted.
    #[test]
    fn key_value_lines() {
        let text = logged(false, || {
            let rule: Arc<str> = Arc::from("accept-ready-check");
            tracing::info!(rule = %rule, run = 7u64, method = "POST", path = "/a b", status = 204u64, elapsed_ms = 0.5, ok = true, delta = -3i64, "request");
            tracing::warn!(error = "", "odd");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].ends_with(
            "  INFO request rule=accept-ready-check run=7 method=POST path=\"/a b\" status=204 elapsed_ms=0.5 ok=true delta=-3"
        ), "{}", lines[0]);
        assert!(lines[1].ends_with("  WARN odd error=\"\""), "{}", lines[1]);
        // `YYYY-MM-DD HH:MM:SS` then the level.
        assert_eq!(lines[0].as_bytes()[10], b' ');
        assert_eq!(&lines[0][19..25], "  INFO");
    }

    /// On a terminal the level is coloured, and aligned as without colours.
    #[test]
    fn coloured_level() {
        let text = logged(true, || tracing::info!(status = 204u64, "request"));
        assert!(
            &text[19..] == " \x1b[32m INFO\x1b[0m request status=204\n",
            "{text:?}"
        );
    }

    /// Text from an event can neither start a new line nor reach the terminal as an escape
    /// sequence, whether it is the message or a field.
    #[test]
    fn control_characters_are_escaped() {
        let chat = "gg\n2026-01-01T00:00:00.000000Z ERROR forged line\x1b[2J";
        let text = logged(false, || {
            tracing::info!(text = %chat, "{chat}");
            tracing::info!(debug = ?chat, "plain");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(lines[0].contains("gg\\n2026-01-01"), "{}", lines[0]);
        assert!(lines[0].contains("\\u{1b}[2J"), "{}", lines[0]);
    }
}
