//! Saved profiles: one player's id, name, token and server per profile, so later
//! commands need no `--token`.
//!
//! Layout under the user's config dir (`$XDG_CONFIG_HOME`, else `~/.config`):
//! `canopy/profiles/<NAME>.toml` (mode 0600: the token is a secret) and
//! `canopy/history/<NAME>` for `canopy play`'s line history.

use crate::error::CliError;
use canopy_shared::PlayerId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One saved player.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The player's id.
    pub player_id: PlayerId,
    /// The player's name.
    pub name: String,
    /// The login token (the server keeps only its hash; this is the only copy).
    pub token: String,
    /// The game socket URL the player lives on.
    pub server: String,
}

/// Where profiles are kept.
#[derive(Clone, Debug)]
pub struct ProfileStore {
    /// `<config dir>/canopy`, or `None` when neither `XDG_CONFIG_HOME` nor `HOME` is set.
    root: Option<PathBuf>,
}

impl ProfileStore {
    /// The store in the user's config dir, from `XDG_CONFIG_HOME` or `HOME`.
    pub fn from_env() -> Self {
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .filter(|path| path.is_absolute())
                    .map(|home| home.join(".config"))
            });
        Self {
            root: config_home.map(|dir| dir.join("canopy")),
        }
    }

    /// A store rooted at `root` (tests).
    #[cfg(test)]
    pub fn at(root: &Path) -> Self {
        Self {
            root: Some(root.to_owned()),
        }
    }

    fn root(&self) -> Result<&Path, CliError> {
        self.root.as_deref().ok_or_else(|| {
            CliError::Local(
                "no config directory: set XDG_CONFIG_HOME or HOME to save profiles".into(),
            )
        })
    }

    /// The file of profile `name`.
    pub fn path(&self, name: &str) -> Result<PathBuf, CliError> {
        check_name(name)?;
        Ok(self.root()?.join("profiles").join(format!("{name}.toml")))
    }

    /// The line-history file of `canopy play` for profile `name`, if there is a config dir.
    pub fn history_path(&self, name: &str) -> Option<PathBuf> {
        check_name(name).ok()?;
        Some(self.root.as_ref()?.join("history").join(name))
    }

    /// Profile `name`, or `None` when it was never saved (or there is no config dir).
    pub fn load(&self, name: &str) -> Result<Option<Profile>, CliError> {
        check_name(name)?;
        let Some(root) = &self.root else {
            return Ok(None);
        };
        let path = root.join("profiles").join(format!("{name}.toml"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(CliError::Local(format!(
                    "cannot read profile {}: {err}",
                    path.display()
                )));
            }
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|err| CliError::Local(format!("profile {} is damaged: {err}", path.display())))
    }

    /// Saves profile `name` (replacing it), readable only by the user; returns its path.
    pub fn save(&self, name: &str, profile: &Profile) -> Result<PathBuf, CliError> {
        let path = self.path(name)?;
        let local = |what: &str, err: std::io::Error| {
            CliError::Local(format!("cannot {what} {}: {err}", path.display()))
        };
        let dir = path
            .parent()
            .ok_or_else(|| CliError::Local(format!("{} has no parent", path.display())))?;
        create_private_dir(dir).map_err(|err| local("create the directory of", err))?;
        let text = toml::to_string(profile)
            .map_err(|err| CliError::Local(format!("cannot encode the profile: {err}")))?;
        let temp = path.with_extension("toml.tmp");
        write_private(&temp, &text).map_err(|err| local("write", err))?;
        std::fs::rename(&temp, &path).map_err(|err| local("replace", err))?;
        Ok(path)
    }
}

/// Profile names become file names: keep them to letters, digits, `_` and `-`.
fn check_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "`{name}` is not a profile name: use 1–64 letters, digits, `_` or `-`"
        )))
    }
}

/// Creates a directory (and its parents) that only the user can enter.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Profile {
        Profile {
            player_id: PlayerId(1),
            name: "alice".into(),
            token: "secret".into(),
            server: "ws://127.0.0.1:7878/ws".into(),
        }
    }

    #[test]
    fn profiles_round_trip_and_stay_apart() -> Result<(), CliError> {
        let dir = tempfile::tempdir().map_err(|err| CliError::Local(err.to_string()))?;
        let store = ProfileStore::at(dir.path());
        assert_eq!(store.load("default")?, None);
        let path = store.save("default", &alice())?;
        assert_eq!(store.load("default")?, Some(alice()));
        assert_eq!(store.load("bob")?, None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map_err(|err| CliError::Local(err.to_string()))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }

    #[test]
    fn names_cannot_escape_the_directory() {
        let store = ProfileStore::at(Path::new("/nonexistent"));
        for bad in ["", "../x", "a/b", "a.b", "."] {
            assert!(store.path(bad).is_err(), "{bad:?}");
        }
        assert!(store.path("bob-2_x").is_ok());
    }

    #[test]
    fn without_a_config_dir_nothing_is_loaded_and_saving_says_why() {
        let store = ProfileStore { root: None };
        assert!(matches!(store.load("default"), Ok(None)));
        assert!(matches!(
            store.save("default", &alice()),
            Err(CliError::Local(_))
        ));
    }
}
