//! Where `canopy play` reads lines: a line editor with history and completion on a
//! terminal, or plain lines from stdin when it is a pipe or a file (scripts).
//!
//! Either way a thread reads and hands lines to the async loop. On a terminal the
//! thread waits for the loop to finish a command before it shows the next prompt (the
//! loop sends that prompt), so command output never lands in the middle of the prompt;
//! events that arrive while the prompt is up go through rustyline's external printer.

use super::complete::LineHelper;
use crate::error::CliError;
use crate::profile::create_private_dir;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor, ExternalPrinter};
use std::io::BufRead;
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};

/// Prints above the prompt while the user is typing.
pub type Printer = Box<dyn ExternalPrinter + Send>;

/// Lines typed or piped in.
pub struct Input {
    /// Lines, in order; closes at end of input.
    lines: mpsc::Receiver<String>,
    /// Tells the terminal thread to show the next prompt (terminal only).
    next_prompt: Option<std::sync::mpsc::Sender<String>>,
}

impl Input {
    /// The next line, or `None` at end of input (Ctrl-D, or the end of the script).
    pub async fn next(&mut self) -> Option<String> {
        self.lines.recv().await
    }

    /// The last line is handled: show `prompt` and read another.
    pub fn ready(&self, prompt: String) {
        if let Some(next_prompt) = &self.next_prompt {
            let _ = next_prompt.send(prompt);
        }
    }
}

/// Reads lines from stdin without editing: one command per line.
pub fn script() -> Input {
    let (lines_tx, lines) = mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    Input {
        lines,
        next_prompt: None,
    }
}

/// Reads lines with rustyline: history in `history` (if any), completion from the
/// grammar. Returns the input and a printer for events.
pub async fn terminal(
    history: Option<PathBuf>,
    first_prompt: String,
) -> Result<(Input, Printer), CliError> {
    let (lines_tx, lines) = mpsc::channel(1);
    let (prompt_tx, prompt_rx) = std::sync::mpsc::channel::<String>();
    let (printer_tx, printer_rx) = oneshot::channel::<Result<Printer, String>>();
    std::thread::spawn(move || {
        let config = Config::builder()
            .auto_add_history(false)
            .completion_type(CompletionType::List)
            .build();
        let mut editor = match Editor::<LineHelper, DefaultHistory>::with_config(config) {
            Ok(editor) => editor,
            Err(err) => {
                let _ = printer_tx.send(Err(err.to_string()));
                return;
            }
        };
        editor.set_helper(Some(LineHelper::new()));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        match editor.create_external_printer() {
            Ok(printer) => {
                let _ = printer_tx.send(Ok(Box::new(printer)));
            }
            Err(err) => {
                let _ = printer_tx.send(Err(err.to_string()));
                return;
            }
        }
        let mut prompt = first_prompt;
        loop {
            match editor.readline(&prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                        if let Some(path) = &history {
                            save_history(&mut editor, path);
                        }
                    }
                    if lines_tx.blocking_send(line).is_err() {
                        break;
                    }
                    match prompt_rx.recv() {
                        Ok(next) => prompt = next,
                        Err(_) => break,
                    }
                }
                // Ctrl-C drops the line being typed, as in a shell.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(err) => {
                    eprintln!("cannot read the terminal: {err}");
                    break;
                }
            }
        }
    });
    let printer = printer_rx
        .await
        .map_err(|_| CliError::Local("the line editor did not start".into()))?
        .map_err(|err| CliError::Local(format!("cannot start the line editor: {err}")))?;
    Ok((
        Input {
            lines,
            next_prompt: Some(prompt_tx),
        },
        printer,
    ))
}

fn save_history(editor: &mut Editor<LineHelper, DefaultHistory>, path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = create_private_dir(dir);
    }
    let _ = editor.save_history(path);
}
