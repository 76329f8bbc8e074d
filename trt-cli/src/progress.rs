//! A progress bar on stderr, drawn in place with `\r`.

use std::io::Write;
use std::time::{Duration, Instant};

/// Draws `label [#####-----] done/total`; does nothing when disabled.
pub struct Progress {
    enabled: bool,
    label: String,
    done: u64,
    total: u64,
    last_drawn: Option<Instant>,
}

/// Width of the bar itself, in characters.
const BAR_WIDTH: usize = 30;
/// Redraw at most this often: drawing must not slow down what is measured.
const REDRAW_EVERY: Duration = Duration::from_millis(50);

impl Progress {
    /// A bar of `total` steps; `enabled: false` draws nothing.
    pub fn new(enabled: bool, label: &str, total: u64) -> Progress {
        Progress {
            enabled,
            label: label.to_owned(),
            done: 0,
            total,
            last_drawn: None,
        }
    }

    /// Advances one step.
    pub fn step(&mut self) {
        self.done = (self.done + 1).min(self.total);
        if !self.enabled {
            return;
        }
        let due = self
            .last_drawn
            .is_none_or(|drawn| drawn.elapsed() >= REDRAW_EVERY);
        if due || self.done == self.total {
            self.draw();
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self) {
        if self.enabled {
            self.draw();
            eprintln!();
        }
    }

    fn draw(&mut self) {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{}", render(&self.label, self.done, self.total));
        let _ = stderr.flush();
        self.last_drawn = Some(Instant::now());
    }
}

/// One frame of the bar.
pub fn render(label: &str, done: u64, total: u64) -> String {
    let filled = if total == 0 {
        BAR_WIDTH
    } else {
        (done.min(total) as usize * BAR_WIDTH) / total as usize
    };
    format!(
        "{label} [{}{}] {done}/{total}",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fill_in_proportion() {
        assert_eq!(
            render("eager", 0, 10),
            format!("eager [{}] 0/10", "-".repeat(30))
        );
        assert_eq!(
            render("eager", 5, 10),
            format!("eager [{}{}] 5/10", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(
            render("graphs", 10, 10),
            format!("graphs [{}] 10/10", "#".repeat(30))
        );
        assert_eq!(
            render("empty", 0, 0),
            format!("empty [{}] 0/0", "#".repeat(30))
        );
    }

    #[test]
    fn steps_stop_at_the_total() {
        let mut progress = Progress::new(false, "x", 2);
        for _ in 0..5 {
            progress.step();
        }
        assert_eq!(progress.done, 2);
    }
}
