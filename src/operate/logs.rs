//! CloudWatch Logs of services, jobs and tasks: where the `awslogs` driver writes (from the task
//! definition), reading many streams interleaved by time with FilterLogEvents, following new lines,
//! and tailing the streams of one task while it runs (`wharf run`).
//!
//! [`locate`] decides which task definition's log settings to read: the one a service runs now,
//! or the newest revision of a job's family (the rendered template when ECS has none yet); the
//! readers below take the sources they are given.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// FilterLogEvents returns at most 10,000 events per page.
const PAGE_LIMIT: i32 = 10_000;

/// Where one container's output goes with the awslogs driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub container: String,
    pub group: String,
    /// `awslogs-stream-prefix`; streams are `prefix/container/task-id`. Without a prefix ECS names
    /// streams after the task and container, which cannot be selected by a prefix.
    pub prefix: Option<String>,
}

impl LogSource {
    /// The stream of this container in task `task_id`.
    pub fn stream(&self, task_id: &str) -> String {
        match &self.prefix {
            Some(p) => format!("{p}/{}/{task_id}", self.container),
            None => format!("{task_id}/{}", self.container),
        }
    }

    /// The prefix shared by this container's streams of every task.
    pub fn stream_prefix(&self) -> Option<String> {
        self.prefix
            .as_ref()
            .map(|p| format!("{p}/{}/", self.container))
    }
}

/// The containers of `task_definition` that log with awslogs.
pub fn sources(task_definition: &Value) -> Vec<LogSource> {
    let mut out = Vec::new();
    for c in task_definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let log = &c["logConfiguration"];
        if log["logDriver"] != "awslogs" {
            continue;
        }
        let (Some(name), Some(group)) =
            (c["name"].as_str(), log["options"]["awslogs-group"].as_str())
        else {
            continue;
        };
        out.push(LogSource {
            container: name.to_string(),
            group: group.to_string(),
            prefix: log["options"]["awslogs-stream-prefix"]
                .as_str()
                .map(str::to_string),
        });
    }
    out
}

/// One log line, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Shared by all the lines of a stream read with GetLogEvents.
    pub stream: std::sync::Arc<str>,
    pub message: String,
    pub event_id: String,
}

impl Line {
    /// What identifies an event across FilterLogEvents and GetLogEvents (the latter has no id).
    fn key(&self) -> String {
        format!("{}\0{}\0{}", self.stream, self.timestamp, self.message)
    }

    /// (task id, container) from an awslogs stream name `prefix/container/task-id`.
    pub fn task_and_container(&self) -> (&str, &str) {
        let mut parts = self.stream.rsplitn(3, '/');
        let task = parts.next().unwrap_or("");
        let container = parts.next().unwrap_or("");
        (task, container)
    }

    /// `2024-01-01T10:00:00.000Z abcd1234/web message` (task id shortened to 8 characters) and
    /// a line break, written straight to `out` (no string per line).
    fn write_text(&self, out: &mut impl Write, timestamps: bool) -> std::io::Result<()> {
        let (task, container) = self.task_and_container();
        let short = task.get(..8).unwrap_or(task);
        if timestamps {
            write!(out, "{} ", rfc3339_millis(self.timestamp))?;
        }
        writeln!(out, "{short}/{container} {}", self.message)
    }

    pub fn json(&self) -> Value {
        let (task, container) = self.task_and_container();
        json!({
            "timestamp": format_millis(self.timestamp),
            "task": task,
            "container": container,
            "stream": &*self.stream,
            "message": self.message,
        })
    }
}

/// RFC 3339 in UTC with milliseconds.
pub fn format_millis(ms: i64) -> String {
    rfc3339_millis(ms).to_string()
}

/// [`format_millis`] without the string, for writing.
fn rfc3339_millis(ms: i64) -> humantime::Rfc3339Timestamp {
    humantime::format_rfc3339_millis(
        std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64),
    )
}

/// A time given as `1h` / `30m` (that long ago) or an RFC 3339 instant, in epoch milliseconds.
pub fn parse_time(text: &str, now_ms: i64, flag: &str) -> Result<i64> {
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(now_ms - d.as_millis() as i64);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        return Ok(ms);
    }
    Err(Error::usage(format!(
        "{flag} {text:?} is neither a duration (30s, 15m, 1h, 2d) nor a time (2024-05-01T10:00:00Z)"
    )))
}

/// What to read from one log group.
#[derive(Debug, Clone)]
pub struct Query {
    pub group: String,
    /// Stream name prefix (one container of every task).
    pub stream_prefix: Option<String>,
    /// Exact streams (one task's containers); up to 100.
    pub streams: Vec<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub pattern: Option<String>,
}

/// The queries for `sources`, narrowed to one container and/or one task. Containers that share a
/// group and prefix are read with one query per container prefix, since a stream name prefix
/// cannot match two containers.
pub fn queries(
    sources: &[LogSource],
    container: Option<&str>,
    task: Option<&str>,
) -> Result<Vec<Query>> {
    let chosen: Vec<&LogSource> = sources
        .iter()
        .filter(|s| container.is_none_or(|c| s.container == c))
        .collect();
    if chosen.is_empty() {
        return Err(match container {
            Some(c) => Error::usage(format!(
                "no container `{c}` with the awslogs log driver in the task definition (containers that log: {})",
                sources.iter().map(|s| s.container.as_str()).collect::<Vec<_>>().join(", ")
            )),
            None => Error::usage("no container of the task definition uses the awslogs log driver")
                .with_hint("set logConfiguration {\"logDriver\": \"awslogs\", \"options\": {\"awslogs-group\", \"awslogs-stream-prefix\"}} on the containers"),
        });
    }
    let mut out: Vec<Query> = Vec::new();
    for s in chosen {
        let base = Query {
            group: s.group.clone(),
            stream_prefix: None,
            streams: Vec::new(),
            start_ms: None,
            end_ms: None,
            pattern: None,
        };
        match task {
            Some(t) => {
                let stream = s.stream(t);
                match out
                    .iter_mut()
                    .find(|q| q.group == s.group && !q.streams.is_empty())
                {
                    Some(q) => q.streams.push(stream),
                    None => out.push(Query {
                        streams: vec![stream],
                        ..base
                    }),
                }
            }
            None => {
                let Some(prefix) = s.stream_prefix() else {
                    return Err(Error::usage(format!(
                        "container `{}` logs without awslogs-stream-prefix, so its streams cannot be told apart from other tasks'",
                        s.container
                    ))
                    .with_hint("add \"awslogs-stream-prefix\" to its logConfiguration options, or pass --task ID"));
                };
                out.push(Query {
                    stream_prefix: Some(prefix),
                    ..base
                });
            }
        }
    }
    Ok(out)
}

/// Reads every event `query` matches, page by page, calling `sink` with each page (sorted by
/// time). Returns the number of events. A missing log group reads as empty.
pub async fn fetch(
    client: &Client,
    query: &Query,
    mut sink: impl FnMut(Vec<Line>) -> Result<()>,
) -> Result<usize> {
    let mut token: Option<String> = None;
    let mut total = 0;
    loop {
        let mut req = client
            .filter_log_events()
            .log_group_name(&query.group)
            .limit(PAGE_LIMIT)
            .set_next_token(token.clone())
            .set_start_time(query.start_ms)
            .set_end_time(query.end_ms)
            .set_filter_pattern(query.pattern.clone());
        if !query.streams.is_empty() {
            req = req.set_log_stream_names(Some(query.streams.clone()));
        } else if let Some(p) = &query.stream_prefix {
            req = req.log_stream_name_prefix(p);
        }
        let page = match req.send().await {
            Ok(p) => p,
            Err(e) if is_not_found(&e) => return Ok(total),
            Err(e) => return Err(crate::aws::error("logs:FilterLogEvents", e)),
        };
        let mut lines: Vec<Line> = page
            .events
            .unwrap_or_default()
            .into_iter()
            .map(|e| Line {
                timestamp: e.timestamp.unwrap_or(0),
                stream: e.log_stream_name.unwrap_or_default().into(),
                message: e.message.unwrap_or_default(),
                event_id: e.event_id.unwrap_or_default(),
            })
            .collect();
        lines.sort_by_key(|l| l.timestamp);
        total += lines.len();
        if !lines.is_empty() {
            sink(lines)?;
        }
        match page.next_token {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => return Ok(total),
        }
    }
}

fn is_not_found<E: aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ResourceNotFoundException")
}

/// How `wharf logs` prints.
#[derive(Debug, Clone, Copy)]
pub struct Printing {
    pub json: bool,
    pub timestamps: bool,
}

fn print_lines(out: &mut impl Write, lines: &[Line], how: Printing) -> Result<()> {
    for l in lines {
        let r = if how.json {
            writeln!(out, "{}", l.json())
        } else {
            l.write_text(out, how.timestamps)
        };
        // A closed pipe (`wharf logs | head`) ends the output quietly.
        if r.is_err() {
            return Err(Error::new(crate::error::ErrorKind::Failed, "").with_hint("stdout closed"));
        }
    }
    Ok(())
}

/// Prints what `queries` match, interleaved by time; then, with `follow`, polls for new events
/// about once a second until `stop` resolves. Returns the number of lines printed.
pub async fn print(
    client: &Client,
    queries: &[Query],
    how: Printing,
    follow: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<usize> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut printed = 0usize;
    // The newest timestamp printed and the events seen at it: the next poll starts there and skips
    // those, so no line is lost or printed twice.
    let mut last_ms: Option<i64> = None;
    let mut seen_at_last: HashSet<String> = HashSet::new();
    let closed = |e: &Error| e.message.is_empty() && e.hint.as_deref() == Some("stdout closed");
    let by_stream =
        futures::future::try_join_all(queries.iter().map(|q| fetch_streams(client, q))).await?;
    if by_stream.iter().all(Option::is_some) {
        // Few streams and no pattern: every stream read in parallel, merged by time.
        let mut lines: Vec<Line> = by_stream.into_iter().flatten().flatten().collect();
        lines.sort_by_key(|l| l.timestamp);
        remember(&lines, &mut last_ms, &mut seen_at_last);
        printed += lines.len();
        if let Err(e) = print_lines(&mut out, &lines, how) {
            if closed(&e) {
                return Ok(printed);
            }
            return Err(e);
        }
    } else if queries.len() == 1 {
        // One query: print each page as it arrives (FilterLogEvents pages come in time order).
        let r = fetch(client, &queries[0], |lines| {
            remember(&lines, &mut last_ms, &mut seen_at_last);
            printed += lines.len();
            print_lines(&mut out, &lines, how)
        })
        .await;
        match r {
            Err(e) if closed(&e) => return Ok(printed),
            r => {
                r?;
            }
        }
    } else {
        let all = futures::future::try_join_all(queries.iter().map(|q| async move {
            let mut lines = Vec::new();
            fetch(client, q, |page| {
                lines.extend(page);
                Ok(())
            })
            .await?;
            Ok::<_, Error>(lines)
        }))
        .await?;
        let mut lines: Vec<Line> = all.into_iter().flatten().collect();
        lines.sort_by_key(|l| l.timestamp);
        remember(&lines, &mut last_ms, &mut seen_at_last);
        printed += lines.len();
        if let Err(e) = print_lines(&mut out, &lines, how) {
            if closed(&e) {
                return Ok(printed);
            }
            return Err(e);
        }
    }
    let _ = out.flush();
    if !follow {
        return Ok(printed);
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(printed),
            _ = tokio::time::sleep(Duration::from_millis(700)) => {}
        }
        let mut since: Vec<Query> = queries.to_vec();
        for q in &mut since {
            if let Some(m) = last_ms {
                q.start_ms = Some(q.start_ms.map_or(m, |s| s.max(m)));
            }
        }
        let all = futures::future::try_join_all(since.iter().map(|q| async move {
            let mut lines = Vec::new();
            fetch(client, q, |page| {
                lines.extend(page);
                Ok(())
            })
            .await?;
            Ok::<_, Error>(lines)
        }))
        .await?;
        let mut lines: Vec<Line> = all
            .into_iter()
            .flatten()
            .filter(|l| !(Some(l.timestamp) == last_ms && seen_at_last.contains(&l.key())))
            .collect();
        lines.sort_by_key(|l| l.timestamp);
        remember(&lines, &mut last_ms, &mut seen_at_last);
        printed += lines.len();
        match print_lines(&mut out, &lines, how) {
            Err(e) if closed(&e) => return Ok(printed),
            r => r?,
        }
        let _ = out.flush();
    }
}

/// Streams read one by one at most: beyond this, FilterLogEvents pages through them together.
const STREAMS_READ_SEPARATELY: usize = 50;
/// GetLogEvents calls in flight at once (its quota is 25 per second; FilterLogEvents' is 5).
const PARALLEL_STREAMS: usize = 8;

/// Reads `query` stream by stream with GetLogEvents, in parallel, when that is cheaper than
/// paging FilterLogEvents over the whole group: no filter pattern, and at most
/// [`STREAMS_READ_SEPARATELY`] streams. None when it does not apply.
///
/// FilterLogEvents scans every stream of the group on each page and allows 5 calls a second;
/// GetLogEvents reads one stream and allows 25. Streams whose last event is more than two hours
/// before the start are skipped (`lastEventTimestamp` is updated eventually, within about an hour).
pub async fn fetch_streams(client: &Client, query: &Query) -> Result<Option<Vec<Line>>> {
    use futures::StreamExt;
    if query.pattern.is_some() {
        return Ok(None);
    }
    let streams: Vec<String> = if !query.streams.is_empty() {
        query.streams.clone()
    } else {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match client
                .describe_log_streams()
                .log_group_name(&query.group)
                .set_log_stream_name_prefix(query.stream_prefix.clone())
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(Some(Vec::new())),
                Err(e) => return Err(crate::aws::error("logs:DescribeLogStreams", e)),
            };
            for s in page.log_streams.unwrap_or_default() {
                let too_old = match (query.start_ms, s.last_event_timestamp) {
                    (Some(start), Some(last)) => last < start - 2 * 3_600_000,
                    _ => false,
                };
                let too_new = match (query.end_ms, s.first_event_timestamp) {
                    (Some(end), Some(first)) => first > end,
                    _ => false,
                };
                if !too_old && !too_new {
                    names.extend(s.log_stream_name);
                }
            }
            if names.len() > STREAMS_READ_SEPARATELY {
                return Ok(None);
            }
            match page.next_token {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        names
    };
    let reads = futures::stream::iter(streams.into_iter().map(|stream| async move {
        let shared: std::sync::Arc<str> = stream.as_str().into();
        let mut lines = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match client
                .get_log_events()
                .log_group_name(&query.group)
                .log_stream_name(&stream)
                .start_from_head(true)
                .set_start_time(query.start_ms)
                .set_end_time(query.end_ms)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(lines),
                Err(e) => return Err(crate::aws::error("logs:GetLogEvents", e)),
            };
            let events = page.events.unwrap_or_default();
            let empty = events.is_empty();
            lines.extend(events.into_iter().map(|e| Line {
                timestamp: e.timestamp.unwrap_or(0),
                stream: shared.clone(),
                message: e.message.unwrap_or_default(),
                event_id: String::new(),
            }));
            match page.next_forward_token {
                Some(t) if !empty && Some(&t) != token.as_ref() => token = Some(t),
                _ => return Ok::<_, Error>(lines),
            }
        }
    }))
    .buffer_unordered(PARALLEL_STREAMS)
    .collect::<Vec<_>>()
    .await;
    let mut out = Vec::new();
    for r in reads {
        out.extend(r?);
    }
    Ok(Some(out))
}

/// Keeps the newest timestamp printed and the ids of the events at it.
fn remember(lines: &[Line], last_ms: &mut Option<i64>, seen: &mut HashSet<String>) {
    for l in lines {
        if last_ms.is_none_or(|m| l.timestamp > m) {
            *last_ms = Some(l.timestamp);
            seen.clear();
        }
        if Some(l.timestamp) == *last_ms {
            seen.insert(l.key());
        }
    }
}

/// Follows one stream from its start with GetLogEvents (the streams of a task `wharf run` waits
/// for). The stream appears when the task starts; until then polls return nothing.
#[derive(Debug, Clone)]
pub struct StreamTail {
    pub container: String,
    pub group: String,
    pub stream: String,
    token: Option<String>,
}

impl StreamTail {
    pub fn new(source: &LogSource, task_id: &str) -> Self {
        StreamTail {
            container: source.container.clone(),
            group: source.group.clone(),
            stream: source.stream(task_id),
            token: None,
        }
    }

    /// The messages written since the last poll, oldest first.
    pub async fn poll(&mut self, client: &Client) -> Result<Vec<String>> {
        let mut out = Vec::new();
        loop {
            let r = client
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(&self.stream)
                .start_from_head(true)
                .set_next_token(self.token.clone())
                .send()
                .await;
            let page = match r {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => return Ok(out),
                Err(e) => return Err(crate::aws::error("logs:GetLogEvents", e)),
            };
            let events = page.events.unwrap_or_default();
            let empty = events.is_empty();
            out.extend(events.into_iter().filter_map(|e| e.message));
            let next = page.next_forward_token;
            let same = next == self.token;
            if next.is_some() {
                self.token = next;
            }
            if empty || same {
                return Ok(out);
            }
        }
    }
}

/// The log sources of a service or job in one environment, and the client to read them with.
pub struct Located {
    pub client: Client,
    pub sources: Vec<LogSource>,
    /// The task definition the sources come from (`family:revision`).
    pub task_definition: String,
}

/// Finds where `name` (a service or job of the project) logs in `--env`: from the task definition
/// a service runs now, or the newest registered revision of a job's family. Falls back to the
/// rendered template when ECS has no revision yet.
pub async fn locate(ctx: &crate::settings::Settings, name: &str) -> Result<Located> {
    let conn = crate::project::connect::Connected::open(ctx, None, &[]).await?;
    let unit = match crate::project::render::Unit::find(&conn.manifest, name) {
        Ok(unit) => unit,
        Err(not_in_project) => {
            // A service Terraform owns (its `services` output): the task definition it runs.
            let owned = conn.terraform_services()?;
            let Some((_, service)) = owned.iter().find(|(l, s)| l == name || s == name) else {
                return Err(not_in_project);
            };
            let Some(crate::aws::ecs::Described::Found(s, _)) = conn
                .ecs
                .describe_services(std::slice::from_ref(service))
                .await?
                .into_iter()
                .next()
            else {
                return Err(Error::failed(format!(
                    "service {service} (Terraform's `services` output) does not exist in cluster {}",
                    conn.ecs.cluster
                )));
            };
            let td = conn
                .ecs
                .describe_task_definition(&s.task_definition)
                .await?
                .ok_or_else(|| {
                    Error::failed(format!(
                        "task definition {} of service {service} does not exist",
                        s.task_definition
                    ))
                })?;
            return Ok(Located {
                client: conn.clients.logs.clone(),
                sources: sources(&td),
                task_definition: crate::aws::model::family_revision(&s.task_definition).to_string(),
            });
        }
    };
    let mut inputs = conn.resolved.inputs(&conn.manifest, &conn.env_name, None);
    // The tag is not needed to know where a unit logs; render what can be rendered.
    inputs.offline = true;
    inputs.ssm = None;
    let rendered = crate::project::render::render_unit(&inputs, unit)?;
    let family = rendered.task_definition["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut live = None;
    if let crate::project::render::Unit::Service(key) = unit {
        let service = conn.service_names(&[key.to_string()])?.remove(0);
        if let Some(crate::aws::ecs::Described::Found(s, _)) = conn
            .ecs
            .describe_services(&[service])
            .await?
            .into_iter()
            .next()
        {
            live = conn
                .ecs
                .describe_task_definition(&s.task_definition)
                .await?;
        }
    }
    if live.is_none() && !crate::project::unresolved::is_unresolved(&family) {
        live = conn.ecs.describe_task_definition(&family).await?;
    }
    let (document, label) = match live {
        Some(td) => {
            let label = td["taskDefinitionArn"]
                .as_str()
                .map(|a| crate::aws::model::family_revision(a).to_string())
                .unwrap_or_else(|| family.clone());
            (td, label)
        }
        None => (rendered.task_definition, format!("{family} (rendered)")),
    };
    let sources = sources(&document);
    if sources.iter().any(|s| {
        crate::project::unresolved::is_unresolved(&s.group)
            || s.prefix
                .as_deref()
                .is_some_and(crate::project::unresolved::is_unresolved)
    }) {
        return Err(Error::usage(format!(
            "the log group of `{name}` depends on values only known at deploy time, and ECS has no revision of {family} yet"
        ))
        .with_hint("deploy or run it once, then read its logs"));
    }
    Ok(Located {
        client: conn.clients.logs.clone(),
        sources,
        task_definition: label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td() -> Value {
        json!({"containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/app/web", "awslogs-stream-prefix": "web"}}},
            {"name": "sidecar", "logConfiguration": {"logDriver": "json-file"}},
            {"name": "nginx", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/app/web", "awslogs-stream-prefix": "web"}}}
        ]})
    }

    #[test]
    fn sources_are_the_awslogs_containers() {
        let s = sources(&td());
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].stream("abc"), "web/web/abc");
        assert_eq!(s[1].stream_prefix().as_deref(), Some("web/nginx/"));
    }

    #[test]
    fn queries_by_container_and_task() {
        let s = sources(&td());
        let all = queries(&s, None, None).unwrap();
        assert_eq!(all.len(), 2);
        let task = queries(&s, None, Some("t1")).unwrap();
        assert_eq!(
            task.len(),
            1,
            "one query for both streams of a task in one group"
        );
        assert_eq!(task[0].streams, ["web/web/t1", "web/nginx/t1"]);
        let one = queries(&s, Some("nginx"), None).unwrap();
        assert_eq!(one[0].stream_prefix.as_deref(), Some("web/nginx/"));
        let e = queries(&s, Some("sidecar"), None).unwrap_err();
        assert!(
            e.message.contains("no container `sidecar`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("web, nginx"));
    }

    #[test]
    fn lines_name_task_and_container() {
        let l = Line {
            timestamp: 1_700_000_000_123,
            stream: "web/nginx/0123456789abcdef".into(),
            message: "hello".into(),
            event_id: "1".into(),
        };
        assert_eq!(l.task_and_container(), ("0123456789abcdef", "nginx"));
        let text = |timestamps| {
            let mut out = Vec::new();
            l.write_text(&mut out, timestamps).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(false), "01234567/nginx hello\n");
        assert_eq!(
            text(true),
            "2023-11-14T22:13:20.123Z 01234567/nginx hello\n"
        );
        assert_eq!(l.json()["task"], "0123456789abcdef");
    }

    #[test]
    fn times_are_durations_or_instants() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("1h", now, "--since").unwrap(), now - 3_600_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now, "--until").unwrap(),
            1_700_000_000_000
        );
        let e = parse_time("yesterday", now, "--since").unwrap_err();
        assert!(e.message.contains("--since \"yesterday\""));
        assert_eq!(e.exit_code(), 2);
    }
}
