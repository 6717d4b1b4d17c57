//! Progress of the long transfers, push and cross-registry promote: on a terminal one indicatif
//! bar per image with bytes, rate and time left; without one (CI, pipes, `--output json`)
//! nothing live, and the caller's closing line per image carries the bytes and the rate.

use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::images::human_size;
use crate::output::Output;

/// The bars of one push or promote.
pub struct Transfers {
    multi: Option<MultiProgress>,
}

impl Transfers {
    pub fn new(out: &Output) -> Transfers {
        Transfers {
            multi: (out.interactive && !out.is_json())
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar for `label`, `total` bytes long so far (it can grow, see [`Transfer::grow`]).
    /// `estimated`: the position is inferred (from layers done), not counted.
    pub fn start(&self, label: &str, total: u64, estimated: bool) -> Transfer {
        let bar = self.multi.as_ref().map(|m| {
            let template = if estimated {
                "{prefix:.bold} [{bar:30}] ~{bytes}/{total_bytes} ~{bytes_per_sec} {msg}"
            } else {
                "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
            };
            let bar = m.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            // Shown from the start: a transfer that ends before its first update still showed
            // its bar (and an engine that is slow to report its first layer shows something).
            bar.tick();
            bar
        });
        Transfer {
            bar,
            started: Instant::now(),
        }
    }
}

/// One image's transfer (clones share the bar).
#[derive(Clone)]
pub struct Transfer {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Transfer {
    pub fn advance(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    /// Sets the position (for estimates).
    pub fn set_position(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_position(bytes);
        }
    }

    /// More bytes to move than known at the start.
    pub fn grow(&self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc_length(bytes);
        }
    }

    pub fn message(&self, text: String) {
        if let Some(b) = &self.bar {
            b.set_message(text);
        }
    }

    /// Removes the bar; the seconds since the start.
    pub fn finish(&self) -> f64 {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.started.elapsed().as_secs_f64()
    }
}

/// `12.3 MB/s`.
pub fn rate(bytes: u64, seconds: f64) -> String {
    format!(
        "{}/s",
        human_size((bytes as f64 / seconds.max(0.001)) as u64)
    )
}
