//! Tab completion for `canopy play`, read off the clap grammar so it never drifts from
//! what the parser accepts: command names, `admin` subcommands, value lists (props,
//! leaderboard periods) and `--flags`.

use crate::cli::PlayLine;
use clap::CommandFactory;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

/// The line helper: completion only.
pub struct LineHelper {
    grammar: clap::Command,
}

impl LineHelper {
    /// A helper for the play grammar.
    pub fn new() -> Self {
        let mut grammar = PlayLine::command();
        grammar.build();
        Self { grammar }
    }

    /// Where the word under the cursor starts, and the words that could go there.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = line.get(..pos).unwrap_or(line);
        let start = before
            .rfind(char::is_whitespace)
            .map_or(0, |index| index + 1);
        let partial = &before[start..];
        let done: Vec<&str> = before[..start].split_whitespace().collect();

        let mut command = &self.grammar;
        let mut positionals = 0usize;
        let mut skip_value = false;
        for word in &done {
            if skip_value {
                skip_value = false;
                continue;
            }
            if let Some(flag) = word.strip_prefix("--") {
                skip_value = command
                    .get_arguments()
                    .find(|arg| arg.get_long() == Some(flag))
                    .is_some_and(|arg| arg.get_action().takes_values());
                continue;
            }
            match command.find_subcommand(word) {
                Some(sub) if positionals == 0 => command = sub,
                _ => positionals += 1,
            }
        }
        if skip_value {
            return (start, Vec::new());
        }
        let mut words: Vec<String> = if partial.starts_with('-') {
            command
                .get_arguments()
                .filter_map(|arg| arg.get_long())
                .map(|long| format!("--{long}"))
                .collect()
        } else if command.has_subcommands() && positionals == 0 {
            command
                .get_subcommands()
                .filter(|sub| !sub.is_hide_set())
                .map(|sub| sub.get_name().to_owned())
                .collect()
        } else {
            command
                .get_positionals()
                .nth(positionals)
                .map(|arg| {
                    arg.get_possible_values()
                        .iter()
                        .map(|value| value.get_name().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        words.retain(|word| word.starts_with(partial));
        words.sort();
        words.dedup();
        (start, words)
    }
}

impl Default for LineHelper {
    fn default() -> Self {
        Self::new()
    }
}

impl Completer for LineHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, words) = self.candidates(line, pos);
        let pairs = words
            .into_iter()
            .map(|word| Pair {
                display: word.clone(),
                replacement: format!("{word} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for LineHelper {
    type Hint = String;
}

impl Highlighter for LineHelper {}

impl Validator for LineHelper {}

impl Helper for LineHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(line: &str) -> Vec<String> {
        LineHelper::new().candidates(line, line.len()).1
    }

    #[test]
    fn commands_complete_from_the_grammar() {
        assert_eq!(complete("wa"), vec!["wait", "walk", "water"]);
        assert!(complete("").contains(&"friend-request".to_owned()));
        assert!(complete("").contains(&"help".to_owned()));
        assert_eq!(complete("admin ad"), vec!["advance"]);
        assert_eq!(
            complete("use-prop "),
            vec![
                "double_click",
                "protection_cover",
                "stealth",
                "time_accelerator"
            ]
        );
        assert_eq!(complete("leaderboard w"), vec!["week"]);
        assert_eq!(complete("admin grant-prop 3 st"), vec!["stealth"]);
        assert_eq!(complete("walk 5000 --r"), vec!["--ref"]);
        assert!(complete("walk 5000 --ref ").is_empty());
        assert!(complete("collect ").is_empty());
    }
}
