//! How wharf prints: text or JSON, colour or not, terminal or CI log.
//!
//! Commands receive an [`Output`] and never decide these things themselves.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    /// Colour on stdout/stderr (off with `--no-color`, `NO_COLOR`, or no terminal).
    pub color: bool,
    /// stderr is a terminal: live views may redraw in place.
    pub interactive: bool,
    pub verbosity: u8,
}

impl Output {
    pub fn new(format: Format, no_color: bool, verbosity: u8) -> Self {
        let interactive = std::io::stderr().is_terminal();
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = !no_color && !no_color_env && interactive;
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Output {
            format,
            color,
            interactive,
            verbosity,
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// A progress or status line for humans: stderr, so stdout stays clean for data.
    pub fn status(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }

    /// Detail shown with `-v`.
    pub fn verbose(&self, line: impl AsRef<str>) {
        if self.verbosity > 0 {
            eprintln!("{}", line.as_ref());
        }
    }

    pub fn warn(&self, line: impl AsRef<str>) {
        eprintln!(
            "{} {}",
            console::style("warning:").yellow().bold(),
            line.as_ref()
        );
    }

    /// A JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("a serde_json::Value always serializes")
        );
    }
}

impl Output {
    /// Prints an error for the user on stderr (and as JSON on stdout with `--output json`).
    pub fn error(&self, e: &crate::error::Error) {
        let message = e.message.trim_start_matches("error: ");
        eprintln!("{} {}", console::style("error:").red().bold(), message);
        if let Some(hint) = &e.hint {
            eprintln!("  {} {hint}", console::style("hint:").cyan());
        }
        if self.is_json() {
            self.json(&serde_json::json!({
                "error": { "message": message, "hint": e.hint, "exit_code": e.exit_code() }
            }));
        }
    }
}
