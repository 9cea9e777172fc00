//! The collector reads line protocol as InfluxDB does: every body of
//! `tests/data/line-protocol-corpus.txt` is sent straight to a real
//! InfluxDB 1.6 (database `direct`) and through the collector to the same
//! server (database `via`, a v1 sink). The answers (accepted or refused) and
//! the stored points must agree, apart from the collector's added `site` tag
//! and the deviations listed in [`DEVIATIONS`] (see docs/architecture.md,
//! "Line protocol"). Any other difference fails the test, and so does a
//! listed deviation that no longer differs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dcwatch_tests::*;
use serde_json::Value;

const TOKEN: &str = "token-for-site-hn-000001";

/// Bodies where the collector deliberately differs from InfluxDB 1.6, by
/// entry name, with the reason. Each is also in docs/architecture.md.
const UNSIGNED: &str =
    "unsigned integers are written as signed ones for a v1 sink (InfluxDB 1.x refuses the `u` suffix)";
const CRLF: &str =
    "a CR before a line end is read as part of the line end (Windows writers); InfluxDB 1.6 refuses the line";
const LINE_BREAK: &str = "a line break inside a line (escaped, or in a quoted string) is refused: a sink or reader that splits at every newline would read a point no check has seen";
const COMMENT: &str = "InfluxDB reads a comment that ends in a backslash, or opens a quote after a `=`, together with the next line and drops both with a 204; the collector refuses them and says so";
const DEVIATIONS: &[(&str, &str)] = &[
    ("uint: plain", UNSIGNED),
    ("uint: zero", UNSIGNED),
    ("uint: i64 max", UNSIGNED),
    ("uint: with other fields", UNSIGNED),
    ("multi: unsigned then int", UNSIGNED),
    ("telegraf: unsigned net", UNSIGNED),
    ("influx: uint and float different fields", UNSIGNED),
    ("extra: uint field with time", UNSIGNED),
    ("extra: int and uint same field two lines", UNSIGNED),
    (
        "extra: three line mix of errors",
        "line 1's `1u` is kept as an integer (see UNSIGNED), so line 2's float is a type change and refused",
    ),
    ("string: newline inside", LINE_BREAK),
    ("string: escaped newline inside", LINE_BREAK),
    ("multi: string with newline among good lines", LINE_BREAK),
    ("mix: tag with newline escaped", LINE_BREAK),
    ("mix: measurement with newline escaped", LINE_BREAK),
    ("mix: field key with newline escaped", LINE_BREAK),
    ("eol: CRLF", CRLF),
    ("eol: CRLF two lines", CRLF),
    ("eol: CRLF no timestamp", CRLF),
    ("eol: CRLF after string", CRLF),
    ("eol: CR only", CRLF),
    ("eol: CRLF blank line", CRLF),
    ("extra: CRLF with trailing space", CRLF),
    ("body: comment ending in backslash", COMMENT),
    ("body: comment with an equals sign and a quote", COMMENT),
    (
        "multi: time field among good lines",
        "InfluxDB 1.6 answers 204 for this body and drops the point whose only field is `time`; the collector refuses that line and says so",
    ),
    (
        "limit: measurement 65520 bytes",
        "the token's `site` tag takes the series key past InfluxDB's 65535 bytes: refused at ingest, not dropped by the sink after a 204",
    ),
];

struct Entry {
    name: String,
    body: Vec<u8>,
}

/// The measurement name `@` stands for in entry `i`.
fn measurement(i: usize) -> String {
    format!("m{i:03}")
}

/// Reads the corpus (its format is described at the top of the file).
fn corpus() -> Vec<Entry> {
    let text = include_str!("../data/line-protocol-corpus.txt");
    let mut entries: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            entries.push((name.to_string(), Vec::new()));
        } else if let Some((_, body)) = entries.last_mut() {
            body.push(line);
        }
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, (name, mut lines))| {
            while lines.last().is_some_and(|l| l.is_empty()) {
                lines.pop();
            }
            let mut body = Vec::new();
            for line in &lines {
                body.extend(decode(line, &measurement(i)));
                body.push(b'\n');
            }
            if body.ends_with(b"<NOEOL>\n") {
                body.truncate(body.len() - "<NOEOL>\n".len());
            }
            Entry { name, body }
        })
        .collect()
}

/// One corpus line as bytes: `@` and the `<…>` tokens replaced.
fn decode(line: &str, m: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '@' {
            out.extend(m.as_bytes());
            rest = &rest[1..];
            continue;
        }
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            let token = &rest[1..end];
            let bytes: Option<Vec<u8>> = match token {
                "CR" => Some(vec![b'\r']),
                "TAB" => Some(vec![b'\t']),
                "NUL" => Some(vec![0]),
                "AT" => Some(vec![b'@']),
                "NOEOL" => Some(b"<NOEOL>".to_vec()),
                t if t.starts_with('x') && t.len() == 3 => u8::from_str_radix(&t[1..], 16).ok().map(|b| vec![b]),
                t if t.starts_with("R:") => {
                    let mut parts = t.splitn(3, ':').skip(1);
                    let n: usize = parts.next().and_then(|n| n.parse().ok()).expect("<R:n:c>");
                    Some(parts.next().expect("<R:n:c>").repeat(n).into_bytes())
                }
                _ => None,
            };
            if let Some(b) = bytes {
                out.extend(b);
                rest = &rest[end + 1..];
                continue;
            }
        }
        out.extend(c.to_string().as_bytes());
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The entry a stored measurement belongs to: `m` and three digits.
fn entry_of(measurement: &str) -> Option<usize> {
    measurement.strip_prefix('m').and_then(|r| r.get(..3)).and_then(|d| d.parse().ok())
}

/// Every stored series of a database, by entry (`None` for a measurement no
/// entry's `@` made): measurement, tags (without `site`), columns and rows,
/// with receipt times (those within the run) replaced by 0.
fn stored(influx: &Influx1, db: &str, run: (i64, i64)) -> BTreeMap<Option<usize>, Vec<Value>> {
    let answer = influx.query(db, "SELECT * FROM /.*/ GROUP BY *");
    let result = &answer["results"][0];
    assert!(result.get("error").is_none(), "{db}: {answer}");
    let mut by_entry: BTreeMap<Option<usize>, Vec<Value>> = BTreeMap::new();
    for series in result["series"].as_array().cloned().unwrap_or_default() {
        let name = series["name"].as_str().unwrap_or_default().to_string();
        let mut tags = series["tags"].clone();
        if let Some(t) = tags.as_object_mut() {
            t.remove("site");
            // A tag key other series of the measurement have shows as "".
            t.retain(|_, v| v != "");
        }
        let mut columns: Vec<Value> = series["columns"].as_array().cloned().unwrap_or_default();
        let mut rows: Vec<Vec<Value>> = series["values"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.as_array().cloned().unwrap_or_default())
            .collect();
        for row in &mut rows {
            if row[0].as_i64().is_some_and(|t| t >= run.0 && t <= run.1) {
                row[0] = 0.into();
            }
        }
        // Drop the columns of `site` and those with no value in this series.
        let keep: Vec<bool> =
            (0..columns.len()).map(|c| columns[c] != "site" && rows.iter().any(|r| !r[c].is_null())).collect();
        let mut k = keep.iter();
        columns.retain(|_| *k.next().unwrap());
        for row in &mut rows {
            let mut k = keep.iter();
            row.retain(|_| *k.next().unwrap());
        }
        let e = entry_of(&name);
        by_entry.entry(e).or_default().push(serde_json::json!({
            "name": name, "tags": tags, "columns": columns, "values": rows,
        }));
    }
    by_entry
}

fn post(client: &reqwest::blocking::Client, url: &str, token: &str, body: &[u8]) -> (u16, String) {
    let resp =
        client.post(url).header("Authorization", format!("Token {token}")).body(body.to_vec()).send().expect("post");
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

fn metric(m: &str, name: &str) -> f64 {
    m.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn the_collector_accepts_refuses_and_stores_line_protocol_as_influxdb_does() {
    let entries = corpus();
    assert!(entries.len() >= 300, "the corpus holds {} bodies", entries.len());
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "entry names are unique");

    let influx = Influx1::start();
    influx.create_db("direct");
    influx.create_db("via");
    let collector = Collector::start(&format!(
        "listen:\n  address: 127.0.0.1:{{port}}\ningest:\n  max_body_bytes: 1048576\n  tokens:\n    - name: w\n      token: {TOKEN}\n      site: hn\n      poller: true\nsinks:\n  - name: influx\n    flavour: v1\n    url: {}\n    database: via\n    flush_interval_ms: 5\n    max_backoff_secs: 1\n",
        influx.url()
    ));
    let client = http(None);
    let via_url = format!("{}/write", collector.url());
    let metrics_url = format!("{}/metrics", collector.url());
    let run_start = dcwatch_common_now();

    let mut statuses = Vec::new();
    for e in &entries {
        // On a raw connection: InfluxDB's answer to a body holding a NUL
        // repeats it in a header, which an HTTP client refuses to read.
        let (direct, direct_msg) = raw_request(influx.port, "POST", "/write?db=direct", &[], &e.body);
        let (via, via_msg) = post(&client, &via_url, TOKEN, &e.body);
        statuses.push(((direct, direct_msg), (via, via_msg)));
        // One body at a time through the sink, so one refused batch cannot
        // take another entry's points with it: wait until every accepted
        // point has been sent or dropped.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let m = client.get(&metrics_url).bearer_auth(API_TOKEN).send().expect("metrics").text().expect("text");
            let received = metric(&m, "dcwatch_collector_points_received_total");
            let done = metric(&m, "dcwatch_collector_sink_points_sent_total{sink=\"influx\"}")
                + metric_sum(&m, "dcwatch_collector_sink_points_dropped_total{sink=\"influx\"").unwrap_or(0.0);
            if done >= received {
                break;
            }
            assert!(Instant::now() < deadline, "{}: the sink did not finish ({done} of {received})", e.name);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let run = (run_start, dcwatch_common_now());
    let direct = stored(&influx, "direct", run);
    let via = stored(&influx, "via", run);

    let mut differences = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let ((ds, dm), (vs, vm)) = &statuses[i];
        let status_differs = (*ds < 300) != (*vs < 300);
        let empty = Vec::new();
        let (d, v) = (direct.get(&Some(i)).unwrap_or(&empty), via.get(&Some(i)).unwrap_or(&empty));
        let stored_differs = d != v;
        if status_differs || stored_differs {
            differences.push((
                e.name.as_str(),
                format!(
                    "{:?}\n    InfluxDB {ds} {dm}\n    collector {vs} {vm}\n    stored directly {}\n    stored via the collector {}",
                    String::from_utf8_lossy(&e.body[..e.body.len().min(200)]),
                    serde_json::to_string(d).unwrap().chars().take(400).collect::<String>(),
                    serde_json::to_string(v).unwrap().chars().take(400).collect::<String>(),
                ),
            ));
        }
    }
    let others = (direct.get(&None), via.get(&None));
    assert_eq!(others.0, others.1, "points stored under measurements no entry names");

    let unexpected: Vec<String> = differences
        .iter()
        .filter(|(name, _)| !DEVIATIONS.iter().any(|(d, _)| d == name))
        .map(|(name, what)| format!("{name}: {what}"))
        .collect();
    let stale: Vec<&str> =
        DEVIATIONS.iter().map(|(d, _)| *d).filter(|d| !differences.iter().any(|(name, _)| name == d)).collect();
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{} new difference(s):\n{}\nlisted deviations that no longer differ: {stale:?}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

fn dcwatch_common_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as i64
}
