//! Whether a program can be started at all, checked at start-up rather
//! than at the first call that needs it (issue 14): the exec runtime's
//! binaries and the wrapper server's entrypoint. A program that fails
//! these checks can never run; one that passes may still fail to start
//! (a dynamically linked binary in an image without its libraries).

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Why a program can never be started.
#[derive(Debug)]
pub enum Problem {
    /// Nothing at that path (or a symlink to nothing).
    Missing,
    /// A directory, a socket, ...: not a regular file.
    NotAFile,
    /// No execute permission for anyone.
    NotExecutable { mode: u32 },
    /// Its metadata cannot be read (a permission on a parent directory).
    Unreadable(io::Error),
    /// A bare name found in no directory of `$PATH`.
    NotInPath { path: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => f.write_str("does not exist"),
            Problem::NotAFile => f.write_str("is not a regular file"),
            Problem::NotExecutable { mode } => {
                write!(f, "is not executable (mode {:04o})", mode & 0o7777)
            }
            Problem::Unreadable(e) => write!(f, "cannot be inspected: {e}"),
            Problem::NotInPath { path } => write!(f, "is in no directory of PATH ({path})"),
        }
    }
}

impl std::error::Error for Problem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Problem::Unreadable(e) => Some(e),
            _ => None,
        }
    }
}

/// Checks that the file at `path` (symlinks followed) is a regular file
/// someone may execute.
pub(crate) fn check_file(path: &Path) -> Result<(), Problem> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Problem::Missing),
        Err(e) => return Err(Problem::Unreadable(e)),
    };
    if !meta.is_file() {
        return Err(Problem::NotAFile);
    }
    let mode = meta.permissions().mode();
    if mode & 0o111 == 0 {
        return Err(Problem::NotExecutable { mode });
    }
    Ok(())
}

/// The search path execvp(3) uses when `PATH` is not set (glibc's).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Resolves `program` as execvp(3) does (a name with a `/` is a path,
/// else the first directory of `$PATH` holding it) and checks it.
pub(crate) fn check_program(program: &OsStr) -> Result<PathBuf, Problem> {
    let as_path = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return check_file(as_path).map(|()| as_path.to_owned());
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    let mut first_problem = None;
    for dir in path.split(':') {
        // An empty entry means the current directory (POSIX).
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(as_path);
        match check_file(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(Problem::Missing) => {}
            Err(other) => {
                first_problem.get_or_insert(other);
            }
        }
    }
    Err(first_problem.unwrap_or(Problem::NotInPath { path }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_each_problem_apart() {
        assert!(check_file(Path::new("/bin/sh")).is_ok());
        assert!(matches!(
            check_file(Path::new("/nonexistent/fn")),
            Err(Problem::Missing)
        ));
        assert!(matches!(check_file(Path::new("/")), Err(Problem::NotAFile)));
        let plain = std::env::temp_dir().join(format!("fn-runner-plain-{}", std::process::id()));
        std::fs::write(&plain, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = check_file(&plain).expect_err("not executable");
        let _ = std::fs::remove_file(&plain);
        assert!(matches!(err, Problem::NotExecutable { .. }), "{err:?}");
        assert_eq!(err.to_string(), "is not executable (mode 0644)");
    }

    #[test]
    fn finds_bare_names_in_path() {
        let sh = check_program(OsStr::new("sh")).expect("sh is in PATH");
        assert!(sh.ends_with("sh"), "{}", sh.display());
        let err = check_program(OsStr::new("no-such-program-fn-runner")).expect_err("absent");
        assert!(matches!(err, Problem::NotInPath { .. }), "{err:?}");
        assert!(check_program(OsStr::new("/bin/sh")).is_ok());
    }
}
