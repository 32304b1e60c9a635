//! The README's "Swap fn-runner into Porch" section as the guide and
//! troubleshooting tests read it: its shell blocks (` ```sh `, each one script) and its sessions
//! (` ``` ` blocks of `$ COMMAND` lines, each followed by the output the
//! README shows for it; a `\` at a line's end continues the command on the
//! next line). The test runs them and checks the shown output against
//! the real one ([`Shown::assert_matches`]); at the end, every command of
//! the section must have been run or be one the test cannot run here
//! ([`Guide::assert_all_run`]). Its troubleshooting table quotes messages
//! with `...` for what is left out and `E ...]` for klog's prefix
//! ([`Guide::troubleshooting`], [`quotes`]).
//!
//! The README writes the environment as a cluster would have it; the test
//! maps those names to its own ([`Names`]): the test registry is shown as
//! `registry.internal:5000`, the fake API server as `10.96.0.1:443` (the
//! usual address of the `kubernetes` Service), the test functions' paths
//! as `/usr/local/bin/`. Digests and the 8 hex digits of a pod id vary
//! from run to run: they are compared as "some digest", "some id".

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::support::image::repo;

/// The troubleshooting table's heading.
const TROUBLESHOOTING: &str = "\n### Troubleshooting\n";
/// The section's heading, and the start of the next one.
const HEADING: &str = "\n## Swap fn-runner into Porch\n";
const NEXT_SECTION: &str = "\n## ";

/// One command as the README shows it, with its output.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The command, continuation lines joined by one space.
    pub command: String,
    /// The lines shown after it (none for a shell block).
    pub output: Vec<String>,
}

/// The section, and which of its commands the test ran.
pub struct Guide {
    section: String,
    scripts: Vec<String>,
    sessions: Vec<Shown>,
    /// Fenced blocks with their info string (`sh`, `yaml`, ``), in order,
    /// with the text before each (to find a block by what precedes it).
    blocks: Vec<(String, String, Vec<String>)>,
    run: RefCell<BTreeSet<String>>,
}

impl Guide {
    /// Reads the section from the README.
    pub fn load() -> Guide {
        let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
        let start = readme.find(HEADING).expect("the swap guide's heading") + 1;
        let rest = &readme[start + HEADING.len() - 1..];
        let section = &rest[..rest.find(NEXT_SECTION).unwrap_or(rest.len())];
        let blocks = fenced_blocks(section);
        let mut scripts = Vec::new();
        let mut sessions = Vec::new();
        for (info, _, lines) in &blocks {
            match info.as_str() {
                "sh" => scripts.push(lines.join("\n")),
                "" => sessions.extend(session(lines)),
                _ => {}
            }
        }
        Guide {
            section: section.to_owned(),
            scripts,
            sessions,
            blocks,
            run: RefCell::new(BTreeSet::new()),
        }
    }

    /// The shell block holding `needle`, marked as run.
    pub fn script(&self, needle: &str) -> String {
        let found: Vec<&String> = self.scripts.iter().filter(|s| s.contains(needle)).collect();
        assert_eq!(found.len(), 1, "one sh block of the guide holds {needle:?}");
        self.run.borrow_mut().insert(found[0].clone());
        found[0].clone()
    }

    /// The `$ ` command that starts with `prefix`, marked as run.
    pub fn session(&self, prefix: &str) -> Shown {
        let found: Vec<&Shown> = self
            .sessions
            .iter()
            .filter(|s| s.command.starts_with(prefix))
            .collect();
        assert_eq!(found.len(), 1, "one `$ {prefix}...` in the guide");
        self.run.borrow_mut().insert(found[0].command.clone());
        found[0].clone()
    }

    /// The lines of the first fenced block with `info` after the text
    /// `marker`.
    pub fn block_after(&self, marker: &str, info: &str) -> Vec<String> {
        self.blocks
            .iter()
            .find(|(i, before, _)| i == info && before.contains(marker))
            .map(|(_, _, lines)| lines.clone())
            .unwrap_or_else(|| panic!("no {info:?} block after {marker:?} in the guide"))
    }

    /// The troubleshooting table's rows: (where, the message quoted: the
    /// first `code span` of the message column).
    pub fn troubleshooting(&self) -> Vec<(String, String)> {
        let table = &self.section[self
            .section
            .find(TROUBLESHOOTING)
            .expect("the troubleshooting heading")..];
        table
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| where |"))
            .map(|row| {
                let cells: Vec<&str> = row.split(" | ").collect();
                let quote = cells
                    .get(1)
                    .and_then(|c| c.split('`').nth(1))
                    .unwrap_or_else(|| panic!("no quoted message in {row}"));
                (
                    cells[0].trim_start_matches("| ").to_owned(),
                    quote.to_owned(),
                )
            })
            .collect()
    }

    /// Every shell block and `$ ` command ran, but those containing one of
    /// `not_here` (what only a real cluster or Docker can run).
    pub fn assert_all_run(&self, not_here: &[&str]) {
        let run = self.run.borrow();
        let commands = self
            .scripts
            .iter()
            .chain(self.sessions.iter().map(|s| &s.command));
        let missed: Vec<&String> = commands
            .filter(|c| !run.contains(*c) && !not_here.iter().any(|n| c.contains(n)))
            .collect();
        assert!(
            missed.is_empty(),
            "guide commands the test never ran: {missed:#?}"
        );
    }
}

impl Shown {
    /// Each line the README shows for this command is a line of `real`
    /// (the command's real output, in [`Names`]' shown form), in the same
    /// order; a `...` line stands for lines left out.
    pub fn assert_matches(&self, real: &str) {
        let real: Vec<String> = real.lines().map(mask).collect();
        let mut at = 0;
        let mut gap = false;
        for line in &self.output {
            if line.trim() == "..." {
                gap = true;
                continue;
            }
            let want = mask(line);
            let found = if gap {
                real[at..].iter().position(|r| *r == want).map(|i| at + i)
            } else {
                (real.get(at) == Some(&want)).then_some(at)
            };
            let Some(i) = found else {
                panic!(
                    "the README shows for `{}`:\n  {line}\nbut the real output (shown form) is:\n{}",
                    self.command,
                    real.join("\n")
                );
            };
            at = i + 1;
            gap = false;
        }
        assert!(
            gap || at == real.len() || self.output.is_empty(),
            "the README shows less than `{}` prints (end with `...` if on purpose):\n{}",
            self.command,
            real[at..].join("\n")
        );
    }
}

/// The names the README writes for the test's environment (module doc).
pub struct Names {
    /// (README's, the test's), longest first.
    pairs: Vec<(String, String)>,
}

impl Names {
    pub fn new(registry: &str, api: &str, functions_dir: &str) -> Names {
        Names {
            pairs: vec![
                (
                    "/usr/local/bin/".to_owned(),
                    format!("{}/", functions_dir.trim_end_matches('/')),
                ),
                ("registry.internal:5000".to_owned(), registry.to_owned()),
                ("10.96.0.1:443".to_owned(), api.to_owned()),
            ],
        }
    }

    /// The README's text with the test's names.
    pub fn real(&self, shown: &str) -> String {
        self.pairs
            .iter()
            .fold(shown.to_owned(), |text, (shown, real)| {
                text.replace(shown, real)
            })
    }

    /// Real text with the README's names.
    pub fn shown(&self, real: &str) -> String {
        self.pairs
            .iter()
            .fold(real.to_owned(), |text, (shown, real)| {
                text.replace(real, shown)
            })
    }
}

/// Whether `line` (a line of real output, in the README's names) is what
/// `quote` shows: `...` stands for any text, `X ...]` for klog's prefix of
/// severity `X`; digests and pod ids are masked as [`Shown`] does.
pub fn quotes(quote: &str, line: &str) -> bool {
    let line = mask(&klog_prefix_shortened(line));
    let quote = mask(quote);
    let parts: Vec<&str> = quote.split("...").collect();
    let (first, rest) = parts.split_first().expect("split yields one part");
    let Some(mut tail) = line.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.ends_with(last)
}

/// A klog line's prefix (`E1206 04:44:46.836671   32026 main.rs:100] `)
/// as the README writes it (`E ...] `); other lines as they are.
fn klog_prefix_shortened(line: &str) -> String {
    let mut chars = line.chars();
    let severity = chars.next();
    let is_klog = matches!(severity, Some('I' | 'W' | 'E' | 'F'))
        && line
            .get(1..5)
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
        && line.get(5..6) == Some(" ");
    match (is_klog, line.find("] ")) {
        (true, Some(end)) => format!("{} ...]{}", &line[..1], &line[end + 1..]),
        _ => line.to_owned(),
    }
}

/// Fenced blocks: (info string, the text since the previous block, lines).
fn fenced_blocks(text: &str) -> Vec<(String, String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut before = String::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => {
                let (info, lines) = open.take().expect("open block");
                blocks.push((info, std::mem::take(&mut before), lines));
            }
            (Some((_, lines)), None) => lines.push(line.to_owned()),
            (None, None) => {
                before.push_str(line);
                before.push('\n');
            }
        }
    }
    assert!(open.is_none(), "an unclosed block in the guide");
    blocks
}

/// The `$ ` commands of a session block with their output.
fn session(lines: &[String]) -> Vec<Shown> {
    let mut out: Vec<Shown> = Vec::new();
    let mut continued = false;
    for line in lines {
        if continued {
            let shown = out.last_mut().expect("a command continues");
            shown.command.push(' ');
            shown
                .command
                .push_str(line.trim().trim_end_matches('\\').trim_end());
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            out.push(Shown {
                command: command.trim_end_matches('\\').trim_end().to_owned(),
                output: Vec::new(),
            });
            continued = line.ends_with('\\');
        } else if let Some(shown) = out.last_mut() {
            shown.output.push(line.clone());
        }
    }
    out
}

/// `line` with what varies from run to run replaced: `sha256:` digests,
/// 8 hex digits after a `-` (the image part of a pod id) and the 5
/// characters `generateName` adds after them.
fn mask(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let hex_run = |s: &str| s.bytes().take_while(u8::is_ascii_hexdigit).count();
        if let Some(after) = rest.strip_prefix("sha256:") {
            if hex_run(after) == 64 {
                out.push_str("sha256:<digest>");
                rest = &after[64..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix('-') {
            let n = hex_run(after);
            let ends = after[n..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if n == 8 && ends && after[..n].bytes().all(|b| !b.is_ascii_uppercase()) {
                out.push_str("-<id>");
                rest = &after[n..];
                // generateName's 5 random characters after the id.
                let suffix = rest.strip_prefix('-').map_or(0, |s| {
                    s.bytes()
                        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                        .count()
                });
                if suffix == 5 {
                    out.push_str("-<suffix>");
                    rest = &rest[6..];
                }
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_digests_and_pod_ids() {
        let digest = "a".repeat(64);
        assert_eq!(
            mask(&format!("pod set-namespace-abb8fc75 at sha256:{digest}.")),
            "pod set-namespace-<id> at sha256:<digest>."
        );
        assert_eq!(
            mask("porch-fn-runner-deadbeef1"),
            "porch-fn-runner-deadbeef1"
        );
        assert_eq!(
            mask("pod set-namespace-2172dfe0-x7k2q cannot"),
            "pod set-namespace-<id>-<suffix> cannot"
        );
    }

    #[test]
    fn quotes_leave_out_parts_and_klog_prefixes() {
        let line = "E1206 04:44:46.836671   32026 main.rs:100] serve: listen on [::]:9445: in use";
        assert!(quotes("E ...] serve: listen on [::]:9445: in use", line));
        assert!(quotes("E ...] serve: ... in use", line));
        assert!(!quotes("W ...] serve: ... in use", line));
        assert!(!quotes("E ...] serve: listen", line), "the whole line");
        assert!(quotes("... in use", "anything in use"));
        assert!(quotes("a ... b ... c", "a x b y c"));
        assert!(!quotes("a ... c ... b", "a x b y c"));
    }

    #[test]
    fn sessions_join_continued_commands() {
        let lines: Vec<String> = ["$ a \\", "    b", "out 1", "$ c", "out 2", "out 3"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let got = session(&lines);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].command, "a b");
        assert_eq!(got[0].output, ["out 1"]);
        assert_eq!(got[1].output, ["out 2", "out 3"]);
    }

    #[test]
    fn shown_output_may_leave_lines_out() {
        let shown = Shown {
            command: "x".into(),
            output: vec!["a".into(), "...".into(), "d".into()],
        };
        shown.assert_matches("a\nb\nc\nd");
        let result = std::panic::catch_unwind(|| shown.assert_matches("a\nb\nc\nd\ne"));
        assert!(
            result.is_err(),
            "a line the README leaves out without `...`"
        );
    }
}
