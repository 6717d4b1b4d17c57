//! What a user sees while services roll out: on a terminal, one live line per service redrawn in
//! place with important events printed above; without a terminal (CI), timestamped lines printed
//! only when something changes. Everything goes to stderr; stdout is kept for results.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::aws::model::{family_revision, short_id, Deployment, Service, ServiceEvent, Task};
use crate::rollout::state::{is_important_event, Target, Verdict};

/// One service's progress as shown in the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub service: String,
    pub revision: String,
    pub state: String,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub failed: i64,
    /// Tasks of older deployments still running.
    pub old: i64,
    pub elapsed: Duration,
    /// Shown after the counts and not part of the key (the bake time left).
    pub detail: Option<String>,
}

impl Row {
    pub fn of(
        target: &Target,
        service: &Service,
        ours: Option<&Deployment>,
        elapsed: Duration,
    ) -> Row {
        let old = service
            .deployments
            .iter()
            .filter(|d| Some(&d.id) != ours.map(|o| &o.id))
            .map(|d| d.running_count)
            .sum();
        Row {
            service: target.service.clone(),
            revision: family_revision(&target.task_definition).to_string(),
            state: ours
                .and_then(|d| d.rollout_state.clone())
                .unwrap_or_else(|| "-".into()),
            desired: ours.map_or(service.desired_count, |d| d.desired_count),
            running: ours.map_or(0, |d| d.running_count),
            pending: ours.map_or(0, |d| d.pending_count),
            failed: ours.map_or(0, |d| d.failed_tasks),
            old,
            elapsed,
            detail: None,
        }
    }

    /// Everything but the clock: a row is printed again only when this changes.
    pub fn key(&self) -> (String, String, i64, i64, i64, i64, i64) {
        (
            self.revision.clone(),
            self.state.clone(),
            self.desired,
            self.running,
            self.pending,
            self.failed,
            self.old,
        )
    }

    fn text(&self) -> String {
        format!(
            "{:<24} {:<22} {:<12} desired {} running {} pending {} failed {}{}{}",
            self.service,
            self.revision,
            self.state,
            self.desired,
            self.running,
            self.pending,
            self.failed,
            if self.old > 0 {
                format!(" (old tasks {})", self.old)
            } else {
                String::new()
            },
            self.detail.as_deref().unwrap_or_default()
        )
    }
}

pub struct View {
    live: Option<Live>,
    /// Show every event, not only the important ones.
    verbose: bool,
}

struct Live {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

impl View {
    /// The view for how wharf prints: live on a terminal (not with `--output json`), every event
    /// with `-v`.
    pub fn for_output(out: &crate::output::Output) -> View {
        View::new(out.interactive && !out.is_json(), out.verbosity > 0)
    }

    /// A live table when `interactive`, timestamped lines otherwise.
    pub fn new(interactive: bool, verbose: bool) -> View {
        let live = interactive.then(|| Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: HashMap::new(),
        });
        View { live, verbose }
    }

    fn line(&self, text: String) {
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(text);
            }
            None => eprintln!(
                "{} {text}",
                humantime::format_rfc3339_seconds(SystemTime::now())
            ),
        }
    }

    pub fn note(&mut self, text: &str) {
        self.line(text.to_string());
    }

    pub fn progress(&mut self, row: &Row) {
        match &mut self.live {
            Some(live) => {
                let bar = live.bars.entry(row.service.clone()).or_insert_with(|| {
                    let bar = live.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                            .expect("the template is valid"),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(row.text());
            }
            None => self.line(row.text()),
        }
    }

    /// Redraws a live line whose key did not change (a countdown); prints nothing without a
    /// terminal.
    pub fn refresh(&mut self, row: &Row) {
        if let Some(bar) = self
            .live
            .as_mut()
            .and_then(|live| live.bars.get(&row.service))
        {
            bar.set_message(row.text());
        }
    }

    pub fn event(&mut self, service: &str, event: &ServiceEvent) {
        if self.verbose || is_important_event(&event.message) {
            let text = if is_important_event(&event.message) && event.message.contains("fail") {
                style(&event.message).red().to_string()
            } else {
                event.message.clone()
            };
            self.line(format!("{service}: {text}"));
        }
    }

    pub fn task_stopped(&mut self, service: &str, task: &Task) {
        let mut text = format!(
            "{service}: task {} stopped: {}",
            short_id(&task.task_arn),
            task.stopped_reason.as_deref().unwrap_or("no reason given")
        );
        for c in &task.containers {
            if let Some(code) = c.exit_code {
                text.push_str(&format!("; {} exited {code}", c.name));
            } else if let Some(reason) = c
                .reason
                .as_ref()
                .filter(|r| task.stopped_reason.as_ref() != Some(*r))
            {
                // (a container's reason that repeats the task's says nothing new)
                text.push_str(&format!("; {}: {reason}", c.name));
            }
        }
        self.line(style(text).yellow().to_string());
    }

    pub fn finished(&mut self, service: &str, verdict: &Verdict, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let text = match verdict {
            Verdict::Done => style(format!("{service}: rolled out in {secs:.1}s"))
                .green()
                .to_string(),
            Verdict::Failed(f) => style(format!("{service}: {f} ({secs:.1}s)"))
                .red()
                .to_string(),
            Verdict::Progressing => return,
        };
        if let Some(live) = &mut self.live {
            if let Some(bar) = live.bars.remove(service) {
                bar.finish_and_clear();
                live.multi.remove(&bar);
            }
        }
        self.line(text);
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(live) = &mut self.live {
            for (_, bar) in live.bars.drain() {
                bar.finish_and_clear();
            }
        }
    }
}
