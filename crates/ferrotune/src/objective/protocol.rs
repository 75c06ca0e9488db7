//! The stdout protocol of the command objective, as pure functions: what a
//! line means ([`parse_line`]) and how lines are cut from a byte stream
//! ([`LineSplitter`]). No processes here; `command.rs` runs the program.
//!
//! Only lines that start with `ferrotune:` (after blanks), or JSON objects
//! with a `"ferrotune"` key, are protocol lines. Everything else is the
//! program's own output and is ignored (but logged). A protocol line must be
//! exactly right: anything after the value (`value=0.5 (accuracy)`,
//! `value=0.5 extra=1`) fails the trial with a message quoting the line, so a
//! typo never silently records the wrong number.

/// The longest line kept, in bytes. A longer line is cut there (the rest is
/// drained and dropped), so a program printing a huge line without a newline
/// cannot exhaust memory; a protocol line that long is an error.
pub const MAX_LINE: usize = 64 * 1024;

/// One thing the program said on stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `value=...`: the objective value(s).
    Value(Vec<f64>),
    /// `constraints=...`: constraint values (feasible when all <= 0).
    Constraints(Vec<f64>),
    /// One value, or one per objective (`value=0.9,0.2`).
    Report {
        /// The step (epoch, fold).
        step: u64,
        /// The value(s) reported.
        values: Vec<f64>,
    },
}

/// A line as cut by [`LineSplitter`]: its bytes (at most [`MAX_LINE`]) and
/// whether the original was longer.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The line's bytes, without the newline.
    pub bytes: Vec<u8>,
    /// Whether the original line was longer than [`MAX_LINE`].
    pub truncated: bool,
}

/// Parses one stdout line. `None` for ordinary output; `Some(Err)` for a
/// protocol line that is malformed (the message quotes it).
pub fn parse_line(line: &str) -> Option<Result<Message, String>> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("ferrotune:") {
        return Some(parse_text(rest.trim()).map_err(|e| format!("cannot read protocol line '{line}': {e}")));
    }
    if line.starts_with('{') && line.contains("\"ferrotune\"") {
        return match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => {
                let kind = v.get("ferrotune")?;
                let kind = match kind.as_str() {
                    Some(k) => k.to_string(),
                    None => return Some(Err(format!("cannot read protocol line '{line}': \"ferrotune\" must be a string"))),
                };
                Some(parse_json(&kind, &v).map_err(|e| format!("cannot read protocol line '{line}': {e}")))
            }
            // Broken JSON that plainly meant to be a protocol line.
            Err(e) if line.replace(' ', "").starts_with("{\"ferrotune\":") => {
                Some(Err(format!("cannot read protocol line '{line}': invalid JSON ({e})")))
            }
            Err(_) => None,
        };
    }
    None
}

/// Parses one line given as bytes: not valid UTF-8 means ordinary output
/// (a protocol line is always ASCII), never a failure.
pub fn parse_line_bytes(line: &Line) -> Option<Result<Message, String>> {
    let text = std::str::from_utf8(&line.bytes).ok()?;
    let parsed = parse_line(text)?;
    if line.truncated {
        return Some(Err(format!(
            "a protocol line longer than {MAX_LINE} bytes was printed (it starts '{}')",
            text.chars().take(80).collect::<String>()
        )));
    }
    Some(parsed)
}

fn float(s: &str) -> Result<f64, String> {
    s.trim().parse::<f64>().map_err(|_| format!("'{s}' is not a number"))
}

fn list(v: &str) -> Result<Vec<f64>, String> {
    v.split(',').map(float).collect()
}

fn parse_text(rest: &str) -> Result<Message, String> {
    let mut words = rest.split_whitespace();
    let first = words.next().ok_or("nothing after 'ferrotune:'")?;
    let kv = |w: &str| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()));
    if first == "report" {
        let mut step = None;
        let mut values = None;
        for w in words {
            match kv(w) {
                Some((k, v)) if k == "step" && step.is_none() => {
                    step = Some(v.parse::<u64>().map_err(|_| format!("step '{v}' is not a whole number"))?)
                }
                Some((k, v)) if (k == "value" || k == "values") && values.is_none() => values = Some(list(&v)?),
                _ => return Err(format!("unexpected '{w}'; expected exactly: report step=N value=X")),
            }
        }
        return Ok(Message::Report { step: step.ok_or("report needs step=N")?, values: values.ok_or("report needs value=X")? });
    }
    let msg = match kv(first) {
        Some((k, v)) if k == "value" || k == "values" => Message::Value(list(&v)?),
        Some((k, v)) if k == "constraints" => Message::Constraints(list(&v)?),
        _ => {
            return Err(format!("unknown message '{first}'; expected value=X, constraints=C1,C2 or report step=N value=X"))
        }
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected '{extra}' after '{first}'; print the number alone (other output goes on its own line)"));
    }
    Ok(msg)
}

fn parse_json(kind: &str, v: &serde_json::Value) -> Result<Message, String> {
    let num = |x: &serde_json::Value| -> Result<f64, String> {
        match x {
            serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| "bad number".to_string()),
            serde_json::Value::String(s) => float(s), // "nan", "inf"
            other => Err(format!("{other} is not a number")),
        }
    };
    let nums = |key: &str| -> Result<Option<Vec<f64>>, String> {
        match v.get(key) {
            None => Ok(None),
            Some(serde_json::Value::Array(a)) => a.iter().map(num).collect::<Result<_, _>>().map(Some),
            Some(other) => Err(format!("\"{key}\" must be a list of numbers, not {other}")),
        }
    };
    let allowed: &[&str] = match kind {
        "value" | "constraints" => &["ferrotune", "value", "values"],
        "report" => &["ferrotune", "step", "value", "values"],
        other => return Err(format!("unknown message kind '{other}' (value, report or constraints)")),
    };
    if let Some(obj) = v.as_object() {
        if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(format!("unexpected key \"{k}\""));
        }
    }
    let one_or_many = || -> Result<Vec<f64>, String> {
        match (nums("values")?, v.get("value")) {
            (Some(vals), None) => Ok(vals),
            (None, Some(x)) => Ok(vec![num(x)?]),
            (Some(_), Some(_)) => Err("give \"value\" or \"values\", not both".into()),
            (None, None) => Err("needs \"value\" or \"values\"".into()),
        }
    };
    match kind {
        "value" => Ok(Message::Value(one_or_many()?)),
        "constraints" => Ok(Message::Constraints(nums("values")?.ok_or("needs a \"values\" list")?)),
        _ => Ok(Message::Report {
            step: v.get("step").and_then(|s| s.as_u64()).ok_or("needs a whole-number \"step\"")?,
            values: one_or_many()?,
        }),
    }
}

/// Cuts a byte stream into lines at `\n` (a trailing `\r` is dropped),
/// keeping at most [`MAX_LINE`] bytes of each. Bytes need not be UTF-8.
#[derive(Debug, Default)]
pub struct LineSplitter {
    current: Vec<u8>,
    truncated: bool,
}

impl LineSplitter {
    /// Feeds `bytes`; calls `emit` for every line completed by them.
    pub fn push(&mut self, mut bytes: &[u8], mut emit: impl FnMut(Line)) {
        while !bytes.is_empty() {
            let (chunk, done) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], Some(i + 1)),
                None => (bytes, None),
            };
            let room = MAX_LINE - self.current.len();
            if chunk.len() > room {
                self.current.extend_from_slice(&chunk[..room]);
                self.truncated = true;
            } else {
                self.current.extend_from_slice(chunk);
            }
            match done {
                Some(n) => {
                    emit(self.take());
                    bytes = &bytes[n..];
                }
                None => bytes = &[],
            }
        }
    }

    /// The last line, if the stream ended without a newline.
    pub fn finish(mut self) -> Option<Line> {
        (!self.current.is_empty() || self.truncated).then(|| self.take())
    }

    fn take(&mut self) -> Line {
        let mut bytes = std::mem::take(&mut self.current);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Line { bytes, truncated: std::mem::take(&mut self.truncated) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines() {
        assert_eq!(parse_line("ferrotune: value=0.973"), Some(Ok(Message::Value(vec![0.973]))));
        assert_eq!(parse_line("  ferrotune: value=1,2.5 "), Some(Ok(Message::Value(vec![1.0, 2.5]))));
        assert_eq!(parse_line("ferrotune: report step=3 value=0.91"), Some(Ok(Message::Report { step: 3, values: vec![0.91] })));
        assert_eq!(parse_line(r#"{"ferrotune": "value", "value": 0.5}"#), Some(Ok(Message::Value(vec![0.5]))));
        assert_eq!(parse_line(r#"{"ferrotune": "value", "values": [1, 2]}"#), Some(Ok(Message::Value(vec![1.0, 2.0]))));
        assert_eq!(
            parse_line(r#"{"ferrotune": "report", "step": 2, "value": 0.1}"#),
            Some(Ok(Message::Report { step: 2, values: vec![0.1] }))
        );
        assert!(matches!(parse_line("ferrotune: value=abc"), Some(Err(e)) if e.contains("'abc' is not a number")));
        assert!(matches!(parse_line("ferrotune: report value=1"), Some(Err(e)) if e.contains("needs step")));
        assert_eq!(
            parse_line("ferrotune: report step=4 value=0.9,0.2"),
            Some(Ok(Message::Report { step: 4, values: vec![0.9, 0.2] }))
        );
        assert_eq!(parse_line("ferrotune: constraints=0.5,-1"), Some(Ok(Message::Constraints(vec![0.5, -1.0]))));
        assert_eq!(parse_line(r#"{"ferrotune": "constraints", "values": [0.5]}"#), Some(Ok(Message::Constraints(vec![0.5]))));
        assert_eq!(parse_line("epoch 3 loss=0.2"), None);
        assert_eq!(parse_line(r#"{"loss": 0.2}"#), None);
        assert!(matches!(parse_line("ferrotune: value=nan"), Some(Ok(Message::Value(v))) if v[0].is_nan()));
    }

    /// Issue 10 §2.5: trailing words after the value were accepted.
    #[test]
    fn anything_after_the_value_is_an_error_quoting_the_line() {
        for bad in [
            "ferrotune: value=0.5 (accuracy)",
            "ferrotune: value=0.5 extra=1",
            "ferrotune: constraints=1 x",
            "ferrotune: report step=1 value=2 step=3",
            "ferrotune: report step=1 value=2 note=x",
        ] {
            match parse_line(bad) {
                Some(Err(e)) => assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        for bad in [
            r#"{"ferrotune": "value", "value": 0.5, "extra": 1}"#,
            r#"{"ferrotune": "value", "value": 1, "values": [1]}"#,
            r#"{"ferrotune": "value", "values": 3}"#,
            r#"{"ferrotune": 3, "value": 1}"#,
            r#"{"ferrotune": "value", "value": 0.5"#,
        ] {
            assert!(matches!(parse_line(bad), Some(Err(_))), "{bad}");
        }
    }

    /// Issue 10 §2.1 and §2.7: bytes that are not UTF-8 are ordinary output,
    /// and a line is kept only up to MAX_LINE bytes.
    #[test]
    fn splitter_handles_bytes_and_huge_lines() {
        let mut s = LineSplitter::default();
        let mut lines = vec![];
        s.push(b"caf\xe9\nferrotune: val", |l| lines.push(l));
        s.push(b"ue=1\r\nlast", |l| lines.push(l));
        lines.extend(s.finish());
        assert_eq!(lines.len(), 3);
        assert_eq!(parse_line_bytes(&lines[0]), None);
        assert_eq!(parse_line_bytes(&lines[1]), Some(Ok(Message::Value(vec![1.0]))));
        assert_eq!(lines[2].bytes, b"last");

        let mut s = LineSplitter::default();
        let mut lines = vec![];
        let big = vec![b'x'; 10 * MAX_LINE];
        for chunk in big.chunks(8192) {
            s.push(chunk, |l| lines.push(l));
        }
        s.push(b"\nferrotune: value=2\n", |l| lines.push(l));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].bytes.len(), MAX_LINE);
        assert!(lines[0].truncated);
        assert_eq!(parse_line_bytes(&lines[1]), Some(Ok(Message::Value(vec![2.0]))));
        let long_protocol = Line { bytes: b"ferrotune: value=1".to_vec(), truncated: true };
        assert!(matches!(parse_line_bytes(&long_protocol), Some(Err(e)) if e.contains("longer than")));
    }
}
