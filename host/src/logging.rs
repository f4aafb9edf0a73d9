//! Log output: text for people, or one JSON object per line for collectors.
//!
//! The JSON lines keep the shape of tracing-subscriber's JSON format
//! (`{"timestamp","level","fields":{…},"target"}`), written by a formatter of our own: the
//! gateway logs one line per request, and tracing-subscriber's serializer (serde through a
//! `fmt::Write` adapter, one call per token) cost more instructions than the rest of the
//! request's bookkeeping together (callgrind, `docs/performance.md`).

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Logs go to stderr through a background writer (a request's log line costs no write system
/// call on its thread); the returned guard flushes them when dropped at exit. The writer buffers:
/// it flushes whenever its queue runs empty, so under load many lines share one `write` and an
/// idle gateway's lines still appear at once.
pub(crate) fn init(format: Option<&str>) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Not lossy: under a flood of lines, requests wait for the writer rather than lines vanish.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
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
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
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
        self.result = (|| {
            if !self.first {
                self.out.write_char(',')?;
            }
            self.first = false;
            write_json_str(self.out, field.name())?;
            self.out.write_char(':')?;
            value(self.out)
        })();
    }
}

impl<W: fmt::Write> Visit for JsonFields<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_str(w, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        self.member(field, |w| {
            if value.is_finite() {
                write!(w, "{value}")
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = value.to_string();
        self.member(field, |w| write_json_str(w, &text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `format_args!` messages arrive here: as text, like a `%` field.
        let text = format!("{value:?}");
        self.member(field, |w| write_json_str(w, &text));
    }
}

/// `s` as a JSON string literal.
fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
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
    w.write_str(&s[start..])?;
    w.write_char('"')
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
                "retries": 0, "duration_ms": 1.25, "nan": null, "ok": true, "delta": -3})
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
