//! Log output: text for people, or one JSON object per line for collectors.
//!
//! The JSON lines keep the shape of tracing-subscriber's JSON format
//! (`{"timestamp","level","fields":{…},"target"}`), written by a formatter of our own: the
//! gateway logs one line per request, and tracing-subscriber's serializer (serde through a
//! `fmt::Write` adapter, one call per token) cost more instructions than the rest of the
//! request's bookkeeping together (callgrind, `docs/performance.md`).

use std::cell::RefCell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Lines waiting for the log writer before a request's thread waits for it.
const LOG_QUEUE_LINES: usize = 8 * 1024;

/// Logs go to stderr through a background writer (a request's log line costs no write system
/// call on its thread); the returned guard flushes them when dropped at exit. The writer buffers:
/// it flushes whenever its queue runs empty, so under load many lines share one `write` and an
/// idle gateway's lines still appear at once.
pub(crate) fn init(format: Option<&str>) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Not lossy: under a flood of lines, requests wait for the writer rather than lines vanish.
    // The queue is allocated (and touched) whole at start: tracing-appender's default of 128,000
    // lines is 4 MB of an idle gateway's memory, while the writer drains a line in about a
    // microsecond, so a few thousand lines of backlog already mean the disk, not the queue, is
    // the limit.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    if format == Some("json") {
        builder.event_format(JsonLines).init();
    } else {
        builder.init();
    }
    guard
}

/// One JSON object per event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
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
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, SystemTime::now())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_str("\",\"fields\":{")?;
        let mut fields = JsonFields {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("},\"target\":")?;
        write_json_str(&mut writer, meta.target())?;
        writer.write_str("}\n")
    }
}

/// Writes an event's fields as JSON members.
struct JsonFields<'a, W: fmt::Write> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> JsonFields<'_, W> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        // Few pieces per member: every write is a dynamic call into the line's buffer.
        self.result = (|| {
            self.out.write_str(if self.first { "\"" } else { ",\"" })?;
            self.first = false;
            write_escaped(self.out, field.name())?;
            self.out.write_str("\":")?;
            value(self.out)
        })();
    }
}

impl<W: fmt::Write> Visit for JsonFields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_str(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        self.member(field, |w| {
            if value.is_finite() {
                w.write_str(ryu::Buffer::new().format_finite(value))
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `format_args!` messages arrive here: as text, like a `%` field, escaped on the way out
        // instead of formatted into a temporary `String` first.
        self.member(field, |w| {
            w.write_char('"')?;
            fmt::Write::write_fmt(&mut JsonEscaped(&mut *w), format_args!("{value:?}"))?;
            w.write_char('"')
        });
    }
}

/// A byte that cannot appear unescaped in a JSON string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// `s` as a JSON string literal.
fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    write_escaped(w, s)?;
    w.write_char('"')
}

/// `s` escaped for the inside of a JSON string literal.
fn write_escaped(w: &mut (impl fmt::Write + ?Sized), s: &str) -> fmt::Result {
    // Ids, names and routes never need escaping: one pass over the bytes without an early exit
    // (which the compiler vectorizes) decides, and the string goes out in one piece.
    if !s.bytes().fold(false, |any, b| any | needs_escape(b)) {
        return w.write_str(s);
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(w, "\\u{b:04x}")?;
        } else {
            w.write_str(escape)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])
}

/// Escapes whatever is written through it (a `Debug` value's text).
struct JsonEscaped<'a, W: fmt::Write + ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s)
    }
}

/// RFC 3339 UTC with microseconds (`2026-12-07T23:10:00.123456Z`), as tracing-subscriber's
/// `SystemTime` writes it. The date and time of day are formatted once per second per thread;
/// the per-line part is the six digits of the microseconds.
fn write_timestamp(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(second, prefix)| {
        if *second != secs {
            let at = chrono::DateTime::<chrono::Utc>::from(
                UNIX_EPOCH + std::time::Duration::from_secs(secs),
            );
            *prefix = at.format("%Y-%m-%dT%H:%M:%S").to_string();
            *second = secs;
        }
        w.write_str(prefix)
    })?;
    // Six digits with leading zeros: a seventh digit, 1, added and skipped.
    let mut micros = itoa::Buffer::new();
    let micros = micros.format(1_000_000 + since_epoch.subsec_micros());
    w.write_char('.')?;
    w.write_str(&micros[1..])?;
    w.write_char('Z')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = String::new();
        write_json_str(&mut out, s).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped_as_json_reads_them_back() {
        for s in [
            "plain",
            "",
            "quote \" and backslash \\",
            "lines\nand\r\ttabs",
            "control \u{1} \u{1f} and del \u{7f}",
            "unicode: żółw 🐢",
        ] {
            let text = json_str(s);
            let back: String = serde_json::from_str(&text).unwrap();
            assert_eq!(back, s, "{text}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        use std::time::Duration;
        let mut out = String::new();
        let at = UNIX_EPOCH + Duration::from_micros(1_796_685_000_000_042);
        write_timestamp(&mut out, at).unwrap();
        // The same second again comes from the per-thread cache; the next one does not.
        write_timestamp(&mut out, at + Duration::from_micros(900_000)).unwrap();
        write_timestamp(&mut out, at + Duration::from_secs(1)).unwrap();
        assert_eq!(
            out,
            "2026-12-07T23:10:00.000042Z2026-12-07T23:10:00.900042Z2026-12-07T23:10:01.000042Z"
        );
    }

    #[test]
    fn debug_values_are_escaped_without_a_temporary_string() {
        let mut out = String::new();
        fmt::Write::write_fmt(
            &mut JsonEscaped(&mut out),
            format_args!("{:?} and {}", "q\"uote", "tab\there\u{1}"),
        )
        .unwrap();
        assert_eq!(out, r#"\"q\\\"uote\" and tab\there\u0001"#);
    }

    /// Every line the formatter writes is one JSON object with the fields, level and target.
    #[test]
    fn events_become_one_json_object_per_line() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "switchyard::request",
                request_id = "r\"1",
                status = 200u16,
                retries = 0u32,
                duration_ms = 1.25,
                nan = f64::NAN,
                ok = true,
                delta = -3i64,
                error = &std::io::Error::other("disk \"full\"") as &(dyn std::error::Error + 'static),
                "request"
            );
            tracing::warn!("plugin {} at {:?}", "mock", "/tmp/x y");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 2, "{text}");
        let first = &events[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "switchyard::request");
        assert_eq!(
            first["fields"],
            serde_json::json!({"message": "request", "request_id": "r\"1", "status": 200,
                "retries": 0, "duration_ms": 1.25, "nan": null, "ok": true, "delta": -3,
                "error": "disk \"full\""})
        );
        let stamp = first["timestamp"].as_str().unwrap();
        assert!(stamp.len() >= 20 && stamp.ends_with('Z'), "{stamp}");
        assert_eq!(events[1]["level"], "WARN");
        assert_eq!(
            events[1]["fields"]["message"],
            "plugin mock at \"/tmp/x y\""
        );
    }
}
