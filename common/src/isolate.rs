//! Delivering one batch so that a line the target refuses costs only itself.
//!
//! A sink batches the points of every writer, so one writer's bad line shares
//! a request with other writers' good ones. When the target refuses a batch
//! as bad data (400, 413, 422), [`deliver`] finds the offending lines instead
//! of dropping the batch:
//!
//! - an answer that quotes lines (InfluxDB's `unable to parse '<line>': …`)
//!   drops exactly those lines and sends the rest again;
//! - an answer from a dcwatch collector ("… (accepted: A, rejected: R; do not
//!   resend this body)") has already kept the good lines: R lines are counted
//!   as refused, with the named line as the example, and nothing is resent;
//! - otherwise the batch is split in halves and each half sent again,
//!   recursively, down to single lines. A line refused alone is dropped.
//!
//! Resending lines the target had already stored (InfluxDB 1.x keeps the good
//! lines of a refused body: "partial write") is harmless: InfluxDB keeps one
//! point per series and timestamp. A type conflict with data already stored,
//! which no check at ingest can see, is found the same way.
//!
//! A passing fault (connection error, 5xx) in the middle ends the attempt:
//! the whole batch is retried later and searched again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::write::Outcome;

/// Why the target refused a line: the `reason` label of the dropped counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The field's type differs from the one stored (or earlier in the batch).
    TypeConflict,
    /// The target could not parse the line.
    Unparsable,
    /// 413: the line alone is too large for the target.
    TooLarge,
    /// Any other refusal of the data.
    Refused,
}

impl Reason {
    pub const ALL: [Reason; 4] = [Reason::TypeConflict, Reason::Unparsable, Reason::TooLarge, Reason::Refused];

    pub fn label(self) -> &'static str {
        match self {
            Reason::TypeConflict => "type_conflict",
            Reason::Unparsable => "unparsable",
            Reason::TooLarge => "too_large",
            Reason::Refused => "refused",
        }
    }

    /// Reads the reason from the target's status and message.
    pub fn of(status: u16, message: &str) -> Reason {
        if status == 413 {
            Reason::TooLarge
        } else if message.contains("field type conflict") {
            Reason::TypeConflict
        } else if message.contains("unable to parse") {
            Reason::Unparsable
        } else {
            Reason::Refused
        }
    }
}

/// Lines the target refused, all for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Reason,
    /// How many lines.
    pub lines: u64,
    /// The line (cut to [`LINE_SHOWN`] bytes), when the target or the search
    /// named it.
    pub line: Option<String>,
    /// Its index among the batch's non-empty lines, when named.
    pub index: Option<usize>,
    pub status: u16,
    pub message: String,
}

/// What delivering one batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The target has every line it would take; `refused` lists the others.
    Done { refused: Vec<Refused>, requests: u32 },
    /// A passing fault: retry the whole batch later.
    Retry { after: Option<Duration>, reason: String },
    /// The target refuses this client: keep the batch and retry slowly.
    Stalled { status: u16, message: String },
}

impl Delivery {
    /// Lines refused in all.
    pub fn refused_lines(&self) -> u64 {
        match self {
            Delivery::Done { refused, .. } => refused.iter().map(|r| r.lines).sum(),
            _ => 0,
        }
    }
}

/// A refusal already received for a set of lines: status and message.
type Answer = (u16, String);

/// Longest part of a refused line that is logged.
pub const LINE_SHOWN: usize = 200;

/// Writes `body` with `write`; on a refusal of the data, finds and drops the
/// refused lines and delivers the rest (see the module doc).
pub async fn deliver<F, Fut>(body: Arc<Vec<u8>>, write: F) -> Delivery
where
    F: Fn(Arc<Vec<u8>>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut requests = 1;
    let (status, message) = match write(body.clone()).await {
        Outcome::Written => return Delivery::Done { refused: Vec::new(), requests },
        Outcome::Retry { after, reason } => return Delivery::Retry { after, reason },
        Outcome::Stalled { status, message } => return Delivery::Stalled { status, message },
        Outcome::Rejected { status, message } => (status, message),
    };
    let lines: Vec<&[u8]> = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut refused = Vec::new();
    if let Some((rejected, line_no)) = collector_partial_write(&message) {
        let index = line_no.and_then(|n| n.checked_sub(1)).filter(|i| *i < lines.len());
        let line = index.map(|i| shown(lines[i]));
        refused.push(Refused { reason: Reason::of(status, &message), lines: rejected, line, index, status, message });
        return Delivery::Done { refused, requests };
    }

    // Sets of line indices still to deliver, with the answer already known
    // for the set, if any. Popped first half first, so order is kept.
    let mut todo: Vec<(Vec<usize>, Option<Answer>)> = vec![((0..lines.len()).collect(), Some((status, message)))];
    while let Some((set, known)) = todo.pop() {
        let (status, message) = match known {
            Some(k) => k,
            None => {
                requests += 1;
                let mut part = Vec::with_capacity(set.iter().map(|&i| lines[i].len() + 1).sum());
                for &i in &set {
                    part.extend_from_slice(lines[i]);
                    part.push(b'\n');
                }
                match write(Arc::new(part)).await {
                    Outcome::Written => continue,
                    Outcome::Rejected { status, message } => (status, message),
                    Outcome::Retry { after, reason } => return Delivery::Retry { after, reason },
                    Outcome::Stalled { status, message } => return Delivery::Stalled { status, message },
                }
            }
        };
        let reason = Reason::of(status, &message);
        if set.len() <= 1 || !matches!(status, 400 | 413 | 422) {
            // A single line, or a refusal that splitting cannot change.
            let index = (set.len() == 1).then(|| set[0]);
            let line = index.map(|i| shown(lines[i]));
            refused.push(Refused { reason, lines: set.len().max(1) as u64, line, index, status, message });
            continue;
        }
        let named = quoted_lines(&message);
        let (bad, rest): (Vec<usize>, Vec<usize>) =
            set.iter().partition(|&&i| named.iter().any(|n| n.as_bytes() == lines[i]));
        if !bad.is_empty() {
            for &i in &bad {
                refused.push(Refused {
                    reason,
                    lines: 1,
                    line: Some(shown(lines[i])),
                    index: Some(i),
                    status,
                    message: message.clone(),
                });
            }
            if !rest.is_empty() {
                todo.push((rest, None));
            }
            continue;
        }
        let (first, second) = set.split_at(set.len() / 2);
        todo.push((second.to_vec(), None));
        todo.push((first.to_vec(), None));
    }
    Delivery::Done { refused, requests }
}

/// The lines an InfluxDB error quotes: `unable to parse '<line>': why`,
/// possibly several, one per line of the message.
fn quoted_lines(message: &str) -> Vec<&str> {
    const START: &str = "unable to parse '";
    let mut out = Vec::new();
    let mut rest = message;
    while let Some(i) = rest.find(START) {
        rest = &rest[i + START.len()..];
        let Some(end) = rest.find("': ") else { break };
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// A dcwatch collector's 400: it kept the good lines and says how many it
/// refused, naming the first: `… line N: … (accepted: A, rejected: R; do not
/// resend this body)`, or, when it kept none, `line N: … (rejected: R,
/// nothing was accepted)`. Returns (R, N).
fn collector_partial_write(message: &str) -> Option<(u64, Option<usize>)> {
    if !message.contains("do not resend this body") && !message.contains("nothing was accepted") {
        return None;
    }
    let after = |key: &str| -> Option<u64> {
        let i = message.rfind(key)? + key.len();
        let digits: String = message[i..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let rejected = after("rejected: ")?;
    let line = message.find("line ").and_then(|i| {
        let digits: String = message[i + 5..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    Some((rejected, line))
}

/// A line as logged: lossy UTF-8, cut to [`LINE_SHOWN`] bytes.
fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    if text.len() <= LINE_SHOWN {
        return text.into_owned();
    }
    let mut end = LINE_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A target that refuses any body holding a line containing `bad`,
    /// answering as InfluxDB 1.x does to a type conflict (no line named),
    /// and records every body it was sent.
    fn run(body: &str, answer: impl Fn(&str) -> Outcome) -> (Delivery, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let d = rt.block_on(deliver(Arc::new(body.as_bytes().to_vec()), |b: Arc<Vec<u8>>| {
            let text = String::from_utf8(b.to_vec()).unwrap();
            seen.lock().unwrap().push(text.clone());
            let out = answer(&text);
            async move { out }
        }));
        (d, seen.into_inner().unwrap())
    }

    const CONFLICT: &str = "partial write: field type conflict: input field \"value\" on measurement \"cpu\" is type integer, already exists as type float dropped=1";

    fn conflict_if_bad(body: &str) -> Outcome {
        if body.contains("bad") {
            Outcome::Rejected { status: 400, message: CONFLICT.into() }
        } else {
            Outcome::Written
        }
    }

    #[test]
    fn one_bad_line_among_good_ones_is_the_only_line_dropped() {
        let (d, seen) = run("a v=1 1\nb v=2 2\ncpu,bad=1 value=1i 3\nc v=4 4\n", conflict_if_bad);
        assert_eq!(
            d,
            Delivery::Done {
                refused: vec![Refused {
                    reason: Reason::TypeConflict,
                    lines: 1,
                    line: Some("cpu,bad=1 value=1i 3".into()),
                    index: Some(2),
                    status: 400,
                    message: CONFLICT.into(),
                }],
                requests: 5,
            }
        );
        // Whole, halves, then the refused half's halves.
        assert_eq!(
            seen,
            vec![
                "a v=1 1\nb v=2 2\ncpu,bad=1 value=1i 3\nc v=4 4\n",
                "a v=1 1\nb v=2 2\n",
                "cpu,bad=1 value=1i 3\nc v=4 4\n",
                "cpu,bad=1 value=1i 3\n",
                "c v=4 4\n",
            ]
        );
    }

    #[test]
    fn a_line_influxdb_quotes_is_dropped_and_the_rest_sent_in_one_request() {
        let (d, seen) = run("a v=1 1\nbad bad bad\nc v=3 3\n", |body| {
            if body.contains("bad") {
                let message = "partial write: unable to parse 'bad bad bad': invalid field format dropped=0";
                Outcome::Rejected { status: 400, message: message.into() }
            } else {
                Outcome::Written
            }
        });
        assert_eq!(d.refused_lines(), 1);
        let Delivery::Done { refused, requests } = d else { panic!("{d:?}") };
        assert_eq!(refused[0].reason, Reason::Unparsable);
        assert_eq!(refused[0].line.as_deref(), Some("bad bad bad"));
        assert_eq!(requests, 2);
        assert_eq!(seen[1], "a v=1 1\nc v=3 3\n");
    }

    #[test]
    fn a_dcwatch_collectors_partial_write_counts_its_refused_lines_and_resends_nothing() {
        let message =
            "partial write: line 2: tag `site` appears twice (accepted: 2, rejected: 1; do not resend this body)";
        let (d, seen) = run("a v=1 1\nb,site=x,site=y v=2 2\nc v=3 3\n", |_| Outcome::Rejected {
            status: 400,
            message: message.into(),
        });
        assert_eq!(seen.len(), 1);
        assert_eq!(
            d,
            Delivery::Done {
                refused: vec![Refused {
                    reason: Reason::Refused,
                    lines: 1,
                    line: Some("b,site=x,site=y v=2 2".into()),
                    index: Some(1),
                    status: 400,
                    message: message.into(),
                }],
                requests: 1,
            }
        );
    }

    /// Regression (issue 14 review): the collector's answer when it kept no
    /// line was searched line by line, 2n - 1 requests against the rate limit.
    #[test]
    fn a_dcwatch_collector_that_kept_nothing_is_not_searched() {
        let message = "line 1: tag `site` appears twice (rejected: 2, nothing was accepted)";
        let (d, seen) = run("a,site=x,site=y v=1 1\nb,site=x,site=y v=2 2\n", |_| Outcome::Rejected {
            status: 400,
            message: message.into(),
        });
        assert_eq!(seen.len(), 1, "one request, no search");
        let Delivery::Done { refused, requests } = d else { panic!("{d:?}") };
        assert_eq!((requests, refused.iter().map(|r| r.lines).sum::<u64>()), (1, 2));
    }

    #[test]
    fn a_passing_fault_during_the_search_retries_the_whole_batch() {
        let (d, _) = run("a v=1 1\nbad v=2 2\n", |body| {
            if body.contains('\n') && body.matches('\n').count() == 2 {
                Outcome::Rejected { status: 400, message: CONFLICT.into() }
            } else {
                Outcome::Retry { after: None, reason: "HTTP 502: down".into() }
            }
        });
        assert_eq!(d, Delivery::Retry { after: None, reason: "HTTP 502: down".into() });
    }

    #[test]
    fn every_line_refused_alone_counts_each_line_once() {
        let (d, seen) = run("bad 1\nbad 2\nbad 3\n", conflict_if_bad);
        assert_eq!(d.refused_lines(), 3);
        assert_eq!(seen.len(), 5, "whole, two halves, the second half's two halves: {seen:?}");
    }

    #[test]
    fn a_long_refused_line_is_cut_for_the_log() {
        let long = format!("bad {}", "x".repeat(300));
        let (d, _) = run(&format!("{long}\n"), conflict_if_bad);
        let Delivery::Done { refused, .. } = d else { panic!() };
        let shown = refused[0].line.clone().unwrap();
        assert_eq!(shown, format!("{}…", &long[..LINE_SHOWN]));
    }
}
