//! `canopy play`: one connection, a prompt that takes the one-shot command grammar, and
//! live events printed as they arrive.
//!
//! With stdin a terminal it is a line editor (history, completion). Otherwise it reads a
//! script, one command per line, echoes each line as `> line`, and exits at the end of
//! the script with status 2 if any command got an error reply (1 for usage or
//! connection problems). Everything the session says goes to stdout, in order, so a
//! transcript reads like the conversation it was.

mod complete;
mod input;
mod words;

use crate::admin::{self, OpsClient};
use crate::app::{Settings, print_line};
use crate::cli::{GameCommand, PlayLine};
use crate::commands::{self, OutputMode};
use crate::connection::{Connection, Pushed};
use crate::error::{CliError, EXIT_FAILURE, EXIT_OK};
use crate::render;
use canopy_shared::model::WatchTarget;
use canopy_shared::reply::FriendsResult;
use canopy_shared::{Event, PlayerId, Request};
use clap::Parser;
use clap::error::ErrorKind;
use input::{Input, Printer};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::sync::mpsc;

/// Runs a play session; returns the exit status.
pub async fn run(settings: &Settings) -> Result<u8, CliError> {
    let ctx = settings.context();
    let (conn, pushed) = Connection::connect(&ctx.server_url, &ctx.trust).await?;
    let interactive = std::io::stdin().is_terminal();
    let mut session = Session {
        conn,
        pushed,
        ctx,
        settings: settings.clone(),
        printer: None,
        interactive,
        status: EXIT_OK,
        watching: Watching::default(),
    };
    session.greet().await;
    let mut input = if interactive {
        let history = settings.profiles.history_path(&settings.profile_name);
        let (input, printer) = input::terminal(history, session.prompt()).await?;
        session.printer = Some(printer);
        input
    } else {
        input::script()
    };
    session.run(&mut input).await;
    session.conn.close().await;
    Ok(session.status)
}

/// What to do after a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

/// One play session's state.
struct Session {
    conn: Connection,
    /// Events pushed by the server; closes when the connection ends.
    pushed: mpsc::UnboundedReceiver<Pushed>,
    ctx: commands::Context,
    settings: Settings,
    /// Prints above the prompt (terminal only).
    printer: Option<Printer>,
    interactive: bool,
    /// The exit status so far (scripts: the worst outcome of any line).
    status: u8,
    /// What the session watches on the server: what the last view showed.
    watching: Watching,
}

/// The server-side watches of a play session: the friends list while `friends` was the
/// last view shown, a friend's forest while `friend-balls` was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Watching {
    friends: bool,
    forest: Option<PlayerId>,
}

impl Session {
    fn json(&self) -> bool {
        self.ctx.output == OutputMode::Json
    }

    fn prompt(&self) -> String {
        match self.ctx.player {
            Some(player) => format!("{}> ", self.ctx.names.label(player)),
            None => "canopy> ".to_owned(),
        }
    }

    /// A remark of the session itself (greeting, connection news): stdout for people,
    /// stderr under `--json` so stdout stays one JSON object per line.
    fn note(&mut self, text: &str) {
        if self.json() {
            eprintln!("{text}");
        } else {
            self.event_line(text);
        }
    }

    /// Prints a line that may arrive while the prompt is shown.
    fn event_line(&mut self, text: &str) {
        match &mut self.printer {
            Some(printer) => {
                if printer.print(format!("{text}\n")).is_err() {
                    print_line(text);
                }
            }
            None => print_line(text),
        }
    }

    fn fail(&mut self, err: &CliError) {
        self.status = self.status.max(err.exit_code());
        if self.json() {
            match err {
                CliError::Server(body) => {
                    print_line(&serde_json::json!({ "error": body }).to_string());
                }
                _ => eprintln!("{}", render::error_text(err)),
            }
        } else {
            print_line(&render::error_text(err));
        }
    }

    /// Logs in with the profile's token, if there is one, and learns friends' names.
    async fn greet(&mut self) {
        let server = self.ctx.server_url.clone();
        if self.ctx.token.is_none() {
            self.note(&format!(
                "Connected to {server}, not logged in: `register NAME` or `login TOKEN`."
            ));
        } else {
            match commands::login(&mut self.conn, &mut self.pushed, &mut self.ctx).await {
                Ok(login) => {
                    let text = format!(
                        "Connected to {server} as {} (#{}).",
                        login.name, login.player_id
                    );
                    self.note(&text);
                    if let Some(friends) = self.learn_friends().await {
                        for request in &friends.incoming {
                            let text = format!(
                                "{} (#{}) wants to be friends: `friend-accept {}`.",
                                request.name, request.player_id, request.player_id
                            );
                            self.note(&text);
                        }
                    }
                }
                Err(err) => {
                    self.note(&format!("Connected to {server}, but the login failed:"));
                    self.fail(&err);
                    // A refused saved token is not the script's fault.
                    self.status = EXIT_OK;
                }
            }
        }
        self.note("Type `help` for commands, `quit` to leave.");
    }

    /// Refreshes friends' names; see [`commands::learn_friends`].
    async fn learn_friends(&mut self) -> Option<FriendsResult> {
        commands::learn_friends(&self.conn, &mut self.ctx).await
    }

    async fn run(&mut self, input: &mut Input) {
        loop {
            tokio::select! {
                // Events first, so those that came during a command print before the
                // next line is read.
                biased;
                pushed = self.pushed.recv() => match pushed {
                    Some(pushed) => self.show(pushed).await,
                    None => {
                        self.connection_lost();
                        return;
                    }
                },
                line = input.next() => {
                    let Some(line) = line else { break };
                    if self.line(&line).await == Flow::Quit {
                        return;
                    }
                    input.ready(self.prompt());
                }
            }
        }
        // End of the script: print what has already arrived.
        while let Ok(pushed) = self.pushed.try_recv() {
            self.show(pushed).await;
        }
    }

    fn connection_lost(&mut self) {
        let reason = self.conn.closed_reason();
        self.note(&format!("Connection lost: {reason}."));
        self.status = self.status.max(EXIT_FAILURE);
    }

    /// Prints one pushed event, learning names first where the event brings them.
    async fn show(&mut self, pushed: Pushed) {
        match &pushed {
            Pushed::Event(Event::FriendRequest { from, name }) => {
                self.ctx.names.learn(*from, name);
            }
            Pushed::Event(Event::FriendAdded { .. }) => {
                self.learn_friends().await;
            }
            _ => {}
        }
        let text = if self.json() {
            match &pushed {
                Pushed::Event(event) => serde_json::to_string(event).unwrap_or_default(),
                Pushed::UnknownEvent(value) => value.to_string(),
                Pushed::StrayError(error) => serde_json::json!({ "error": error }).to_string(),
            }
        } else {
            render::pushed(&pushed, &self.ctx.view(None))
        };
        self.event_line(&text);
    }

    /// Runs one line.
    async fn line(&mut self, line: &str) -> Flow {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Flow::Continue;
        }
        if !self.interactive && !self.json() {
            print_line(&format!("> {trimmed}"));
        }
        if trimmed.starts_with('#') {
            return Flow::Continue;
        }
        let words = match words::split(trimmed) {
            Ok(words) => words,
            Err(why) => {
                self.fail(&CliError::Usage(why));
                return Flow::Continue;
            }
        };
        let parsed = match PlayLine::try_parse_from(&words) {
            Ok(parsed) => parsed,
            Err(err) => {
                let text = err.render().to_string();
                match err.kind() {
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                        print_line(text.trim_end());
                    }
                    _ => {
                        self.status = self.status.max(EXIT_FAILURE);
                        print_line(text.trim_end());
                    }
                }
                return Flow::Continue;
            }
        };
        match parsed {
            PlayLine::Quit => return Flow::Quit,
            PlayLine::Wait { duration_ms } => self.wait(duration_ms).await,
            PlayLine::Game(command) => self.game(&command).await,
            PlayLine::Admin(command) => {
                let ops = self.settings.ops_url.clone();
                let token = self.settings.admin_token.clone();
                let trust = self.settings.trust.clone();
                let output = self.ctx.output;
                let offset = self.ctx.utc_offset;
                let outcome = tokio::task::spawn_blocking(move || {
                    let client = OpsClient::new(&ops, token, &trust)?;
                    admin::execute(&client, &command, output, offset)
                })
                .await
                .unwrap_or_else(|err| {
                    Err(CliError::Local(format!("the admin call failed: {err}")))
                });
                match outcome {
                    Ok(text) => print_line(&text),
                    Err(err) => self.fail(&err),
                }
            }
        }
        Flow::Continue
    }

    async fn game(&mut self, command: &GameCommand) {
        match commands::execute(&self.conn, &mut self.ctx, command).await {
            Ok(text) => {
                print_line(&text);
                self.follow_view(command).await;
            }
            Err(err) => self.fail(&err),
        }
    }

    /// Watches what the command put on screen, so its pushes keep it current: the
    /// friends list after `friends`, that friend's forest after `friend-balls`; `me`
    /// (the player's own forest) ends both. Other commands leave the view as it is.
    async fn follow_view(&mut self, command: &GameCommand) {
        let wanted = match command {
            GameCommand::Friends => Watching {
                friends: true,
                forest: None,
            },
            GameCommand::FriendBalls { friend } => Watching {
                friends: false,
                forest: Some(*friend),
            },
            GameCommand::Me => Watching::default(),
            // A new login ends the server's watches.
            GameCommand::Login { .. } | GameCommand::Register { .. } => {
                self.watching = Watching::default();
                return;
            }
            _ => return,
        };
        let mut requests = Vec::new();
        if wanted.friends != self.watching.friends {
            let what = WatchTarget::Friends;
            requests.push(if wanted.friends {
                Request::Watch {
                    what,
                    friend_id: None,
                }
            } else {
                Request::Unwatch {
                    what,
                    friend_id: None,
                }
            });
        }
        if wanted.forest != self.watching.forest {
            let what = WatchTarget::Forest;
            requests.push(match wanted.forest {
                Some(friend) => Request::Watch {
                    what,
                    friend_id: Some(friend),
                },
                None => Request::Unwatch {
                    what,
                    friend_id: None,
                },
            });
        }
        for request in requests {
            // A refused watch (a friendship just ended) only means no pushes.
            let _ = self.conn.call(&request).await;
        }
        self.watching = wanted;
    }

    /// Waits, printing events as they come.
    async fn wait(&mut self, duration_ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(duration_ms);
        loop {
            tokio::select! {
                pushed = self.pushed.recv() => match pushed {
                    Some(pushed) => self.show(pushed).await,
                    None => return,
                },
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}
