//! Where the daemon keeps its data and listens (DESIGN.md §9), shared by the daemon and its
//! clients: data in `/var/lib/orco` as root, else `$XDG_DATA_HOME/orco` (or
//! `~/.local/share/orco`); the socket at `/run/orco/orco.sock` as root, else
//! `$XDG_RUNTIME_DIR/orco.sock`, falling back to `/tmp/orco-$UID/orco.sock`.

use std::path::{Path, PathBuf};

fn uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// The default socket for this user.
pub fn default_socket() -> PathBuf {
    default_socket_for(uid(), env_dir("XDG_RUNTIME_DIR").as_deref())
}

/// The default socket for user `uid` with `XDG_RUNTIME_DIR` = `runtime_dir`.
pub fn default_socket_for(uid: u32, runtime_dir: Option<&Path>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/run/orco/orco.sock");
    }
    match runtime_dir {
        Some(dir) => dir.join("orco.sock"),
        None => PathBuf::from(format!("/tmp/orco-{uid}/orco.sock")),
    }
}

/// The default data directory for this user.
pub fn default_data_dir() -> PathBuf {
    default_data_dir_for(
        uid(),
        env_dir("XDG_DATA_HOME").as_deref(),
        env_dir("HOME").as_deref(),
    )
}

/// The default data directory for user `uid` with `XDG_DATA_HOME` and `HOME`.
pub fn default_data_dir_for(uid: u32, data_home: Option<&Path>, home: Option<&Path>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/var/lib/orco");
    }
    match (data_home, home) {
        (Some(dir), _) => dir.join("orco"),
        (None, Some(home)) => home.join(".local/share/orco"),
        (None, None) => PathBuf::from(format!("/tmp/orco-{uid}/data")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_socket_follows_the_conventions() {
        assert_eq!(
            default_socket_for(0, None),
            PathBuf::from("/run/orco/orco.sock")
        );
        assert_eq!(
            default_socket_for(1000, Some(Path::new("/run/user/1000"))),
            PathBuf::from("/run/user/1000/orco.sock")
        );
        assert_eq!(
            default_socket_for(1000, None),
            PathBuf::from("/tmp/orco-1000/orco.sock")
        );
    }

    #[test]
    fn the_default_data_dir_follows_the_conventions() {
        assert_eq!(
            default_data_dir_for(0, None, None),
            PathBuf::from("/var/lib/orco")
        );
        assert_eq!(
            default_data_dir_for(1000, Some(Path::new("/d")), Some(Path::new("/h"))),
            PathBuf::from("/d/orco")
        );
        assert_eq!(
            default_data_dir_for(1000, None, Some(Path::new("/h"))),
            PathBuf::from("/h/.local/share/orco")
        );
    }
}
