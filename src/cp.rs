//! `cp`: the one copy a function pod's init container makes (compat §4.2),
//! so that the image needs no shell and no busybox:
//!
//! ```text
//! cp -a /wrapper-server/. /wrapper-server-tools                (Porch v4)
//! cp -a /home/nonroot/wrapper-server/. /wrapper-server-tools   (Porch v1.5 and later)
//! ```
//!
//! Only `cp -a SOURCE DEST` (`-a` = `--archive`), as coreutils does it:
//! SOURCE is copied to DEST, or into DEST when DEST is a directory, and
//! `SOURCE/.` copies what the directory holds into DEST. Directories are
//! copied recursively; symlinks are copied as symlinks (never followed
//! below SOURCE); modes, modification and access times, and (as root)
//! owners are kept. Any other option, no `-a`, or more than one SOURCE is a
//! usage error (exit 1, like coreutils). Copying stops at the first error.
//!
//! Left out, because the init container needs none of it: hard links are
//! copied as separate files, symlinks keep the time of their copy, special
//! files (devices, FIFOs, sockets) are refused, and an existing symlink at
//! a destination path is replaced, not written through.
//!
//! Like coreutils as a non-root user: owners that cannot be kept are
//! silently not kept (and then setuid/setgid bits are dropped). A directory
//! that existed before the copy (the pod's emptyDir) whose mode or times
//! cannot be set is warned about, not an error: its content is what counts.
//!
//! This is a mode of the binary, chosen by the name `cp` in `main`; its
//! command line is coreutils', not Go's, so it does not go through `flags`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, FileTimes, Metadata};
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The name the binary answers to as this mode (argv[0]'s file name).
pub const PROGRAM: &str = "cp";

/// Usage, printed for `--help` (stdout) and usage errors (stderr).
pub(crate) const USAGE: &str = "\
Usage: cp -a SOURCE DEST
  or:  cp -a SOURCE/. DEST
Copy SOURCE to DEST, or into DEST when it is a directory; SOURCE/. copies the
directory's content into DEST. Recursive; keeps modes, symlinks, times and (as
root) owners.

  -a, --archive   required: the only copy this cp makes
      --help      show this help

fn-runner's minimal cp, for the init container that copies the wrapper server
into function pods (cp -a /wrapper-server/. /wrapper-server-tools).
";

/// Exit code of a failed copy or a usage error (coreutils uses 1 for both).
pub(crate) const EXIT_FAILURE: u8 = 1;

/// Runs `cp` with `args` (argv without the program name); returns the exit
/// code. Messages go to stderr as `cp: ...`.
pub fn run(args: &[OsString]) -> u8 {
    let request = match Invocation::parse(args) {
        Ok(Invocation::Help) => {
            let _ = io::stdout().write_all(USAGE.as_bytes());
            return 0;
        }
        Ok(Invocation::Copy(request)) => request,
        Err(usage) => {
            let mut stderr = io::stderr().lock();
            let _ = writeln!(stderr, "cp: {usage}");
            let _ = stderr.write_all(USAGE.as_bytes());
            return EXIT_FAILURE;
        }
    };
    let result = copy(&request, &mut |warning: &Error| {
        eprintln!("cp: warning: {}", crate::log::chain(warning));
    });
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("cp: {}", crate::log::chain(&err));
            EXIT_FAILURE
        }
    }
}

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// `--help`.
    Help,
    Copy(Request),
}

impl Invocation {
    /// Parses `cp`'s arguments (without the program name).
    pub fn parse(args: &[OsString]) -> Result<Invocation, UsageError> {
        let mut archive = false;
        let mut operands = Vec::new();
        let mut options_done = false;
        for arg in args {
            let bytes = arg.as_bytes();
            if options_done || bytes == b"-" || !bytes.starts_with(b"-") {
                operands.push(PathBuf::from(arg));
                continue;
            }
            match bytes {
                b"--" => options_done = true,
                b"--help" => return Ok(Invocation::Help),
                b"--archive" => archive = true,
                // `-a`, and clusters of it (`-aa`).
                _ if bytes.len() > 1 && bytes[1..].iter().all(|&b| b == b'a') => archive = true,
                _ => {
                    return Err(UsageError::UnsupportedOption(
                        arg.to_string_lossy().into_owned(),
                    ))
                }
            }
        }
        if !archive {
            return Err(UsageError::ArchiveRequired);
        }
        let mut operands = operands.into_iter();
        match (operands.next(), operands.next(), operands.next()) {
            (None, _, _) => Err(UsageError::MissingOperand),
            (Some(source), None, _) => Err(UsageError::MissingDestination(source)),
            (Some(source), Some(destination), None) => Ok(Invocation::Copy(Request {
                source,
                destination,
            })),
            (Some(_), Some(_), Some(extra)) => Err(UsageError::ExtraOperand(extra)),
        }
    }
}

/// One `cp -a SOURCE DEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub source: PathBuf,
    pub destination: PathBuf,
}

/// A command line this `cp` does not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// Any option but `-a`, `--archive`, `--help`, `--`.
    UnsupportedOption(String),
    /// No `-a`: plain `cp` (no recursion, nothing kept) is not offered.
    ArchiveRequired,
    MissingOperand,
    MissingDestination(PathBuf),
    /// A third operand: only one SOURCE is supported.
    ExtraOperand(PathBuf),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::UnsupportedOption(o) => write!(f, "unsupported option '{o}'"),
            UsageError::ArchiveRequired => {
                write!(f, "only 'cp -a' is supported (the -a option is missing)")
            }
            UsageError::MissingOperand => write!(f, "missing file operand"),
            UsageError::MissingDestination(s) => {
                write!(
                    f,
                    "missing destination file operand after '{}'",
                    s.display()
                )
            }
            UsageError::ExtraOperand(o) => write!(
                f,
                "extra operand '{}': only one SOURCE is supported",
                o.display()
            ),
        }
    }
}

impl std::error::Error for UsageError {}

/// The step of a copy that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Stat,
    ReadDirectory,
    CreateDirectory,
    Open,
    Create,
    CopyData,
    Remove,
    ReadLink,
    CreateSymlink,
    KeepOwner,
    KeepMode,
    KeepTimes,
}

impl Step {
    fn verb(self) -> &'static str {
        match self {
            Step::Stat => "cannot stat",
            Step::ReadDirectory => "cannot read directory",
            Step::CreateDirectory => "cannot create directory",
            Step::Open => "cannot open",
            Step::Create => "cannot create regular file",
            Step::CopyData => "error copying data to",
            Step::Remove => "cannot remove",
            Step::ReadLink => "cannot read symbolic link",
            Step::CreateSymlink => "cannot create symbolic link",
            Step::KeepOwner => "cannot preserve ownership of",
            Step::KeepMode => "cannot preserve permissions of",
            Step::KeepTimes => "cannot preserve times of",
        }
    }
}

/// Why a copy failed (or, for [`copy`]'s warnings, what was not kept).
#[derive(Debug)]
pub enum Error {
    /// A file system call failed at `path`.
    Io {
        step: Step,
        path: PathBuf,
        source: io::Error,
    },
    /// A directory copied into itself would never end.
    IntoItself { source: PathBuf, target: PathBuf },
    /// SOURCE and its target are one file: replacing it would lose it.
    SameFile { source: PathBuf, target: PathBuf },
    /// A directory would replace a non-directory.
    DirectoryOntoFile { target: PathBuf },
    /// A non-directory would replace a directory.
    FileOntoDirectory { target: PathBuf },
    /// A device, FIFO or socket.
    SpecialFile { path: PathBuf },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { step, path, .. } => write!(f, "{} '{}'", step.verb(), path.display()),
            Error::IntoItself { source, target } => write!(
                f,
                "cannot copy a directory, '{}', into itself, '{}'",
                source.display(),
                target.display()
            ),
            Error::SameFile { source, target } => write!(
                f,
                "'{}' and '{}' are the same file",
                source.display(),
                target.display()
            ),
            Error::DirectoryOntoFile { target } => write!(
                f,
                "cannot overwrite non-directory '{}' with directory",
                target.display()
            ),
            Error::FileOntoDirectory { target } => write!(
                f,
                "cannot overwrite directory '{}' with non-directory",
                target.display()
            ),
            Error::SpecialFile { path } => write!(
                f,
                "cannot copy special file '{}': only files, directories and symlinks are supported",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Copies as `cp -a` does (see the module doc). `warn` gets what could not
/// be kept on a directory that existed before.
pub fn copy(request: &Request, warn: &mut dyn FnMut(&Error)) -> Result<(), Error> {
    let source = &request.source;
    let meta = fs::symlink_metadata(source).map_err(io_error(Step::Stat, source))?;
    let target = target_of(request)?;
    if meta.is_dir() {
        refuse_into_itself(source, &target)?;
    }
    let mut work = vec![Work::Copy {
        source: source.clone(),
        meta,
        target,
    }];
    while let Some(item) = work.pop() {
        match item {
            Work::Copy {
                source,
                meta,
                target,
            } => copy_one(source, meta, target, &mut work)?,
            Work::FinishDirectory {
                meta,
                target,
                existed,
            } => {
                if let Err(err) = keep_attributes(&target, &meta, None) {
                    match err {
                        Error::Io { ref source, .. } if existed && is_permission(source) => {
                            warn(&err)
                        }
                        err => return Err(err),
                    }
                }
            }
        }
    }
    Ok(())
}

/// What is left to do; a stack, so that deep trees need no recursion and a
/// directory's own mode and times are set after its content is written.
enum Work {
    Copy {
        source: PathBuf,
        meta: Metadata,
        target: PathBuf,
    },
    FinishDirectory {
        meta: Metadata,
        target: PathBuf,
        existed: bool,
    },
}

/// Where SOURCE goes: DEST itself, or `DEST/<name of SOURCE>` when DEST is
/// a directory. `SOURCE/.` (or `.`) names the directory's content, which
/// goes into DEST itself.
fn target_of(request: &Request) -> Result<PathBuf, Error> {
    let destination = &request.destination;
    let is_dir = match fs::metadata(destination) {
        Ok(m) => m.is_dir(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_error(Step::Stat, destination)(e)),
    };
    if !is_dir {
        return Ok(destination.clone());
    }
    // Path::file_name skips a trailing `.`, so look at the bytes.
    let raw = request.source.as_os_str().as_bytes();
    let trimmed = trim_trailing_slashes(raw);
    let names_content = trimmed == b"." || trimmed.ends_with(b"/.");
    match request.source.file_name() {
        Some(name) if !names_content => Ok(destination.join(name)),
        _ => Ok(destination.clone()),
    }
}

fn trim_trailing_slashes(mut raw: &[u8]) -> &[u8] {
    while raw.len() > 1 && raw.ends_with(b"/") {
        raw = &raw[..raw.len() - 1];
    }
    raw
}

/// Refuses to copy a directory to a place inside itself (or onto itself).
fn refuse_into_itself(source: &Path, target: &Path) -> Result<(), Error> {
    let source_real = fs::canonicalize(source).map_err(io_error(Step::Stat, source))?;
    // The target may not exist yet: resolve its parent, then add the name.
    let target_real = match fs::canonicalize(target) {
        Ok(real) => real,
        Err(_) => {
            let parent = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let parent = fs::canonicalize(parent).map_err(io_error(Step::Stat, parent))?;
            match target.file_name() {
                Some(name) => parent.join(name),
                None => parent,
            }
        }
    };
    if target_real.starts_with(&source_real) {
        return Err(Error::IntoItself {
            source: source.to_path_buf(),
            target: target.to_path_buf(),
        });
    }
    Ok(())
}

/// Copies one entry; a directory's entries are pushed onto `work`.
fn copy_one(
    source: PathBuf,
    meta: Metadata,
    target: PathBuf,
    work: &mut Vec<Work>,
) -> Result<(), Error> {
    let existing = match fs::symlink_metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(Step::Stat, &target)(e)),
    };
    let kind = meta.file_type();
    if kind.is_dir() {
        let existed = match existing {
            Some(m) if m.is_dir() => true,
            Some(_) => return Err(Error::DirectoryOntoFile { target }),
            None => {
                // Owner-only until its content is in; the real mode last.
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&target)
                    .map_err(io_error(Step::CreateDirectory, &target))?;
                false
            }
        };
        let mut entries = Vec::new();
        for entry in fs::read_dir(&source).map_err(io_error(Step::ReadDirectory, &source))? {
            let entry = entry.map_err(io_error(Step::ReadDirectory, &source))?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).map_err(io_error(Step::Stat, &path))?;
            entries.push((entry.file_name(), path, meta));
        }
        // Sorted, so that the copy order (and any first error) is stable.
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        work.push(Work::FinishDirectory {
            meta,
            target: target.clone(),
            existed,
        });
        for (name, path, meta) in entries {
            work.push(Work::Copy {
                source: path,
                meta,
                target: target.join(name),
            });
        }
        return Ok(());
    }
    if !kind.is_file() && !kind.is_symlink() {
        return Err(Error::SpecialFile { path: source });
    }
    if let Some(existing) = existing {
        if existing.is_dir() {
            return Err(Error::FileOntoDirectory { target });
        }
        if existing.dev() == meta.dev() && existing.ino() == meta.ino() {
            return Err(Error::SameFile { source, target });
        }
        fs::remove_file(&target).map_err(io_error(Step::Remove, &target))?;
    }
    if kind.is_symlink() {
        let link = fs::read_link(&source).map_err(io_error(Step::ReadLink, &source))?;
        std::os::unix::fs::symlink(&link, &target)
            .map_err(io_error(Step::CreateSymlink, &target))?;
        // Owner only: the times of a symlink need utimensat(2), not in std.
        let _ = keep_owner(&target, &meta, None)?;
        return Ok(());
    }
    let mut from = File::open(&source).map_err(io_error(Step::Open, &source))?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(io_error(Step::Create, &target))?;
    io::copy(&mut from, &mut to).map_err(io_error(Step::CopyData, &target))?;
    keep_attributes(&target, &meta, Some(&to))
}

/// Sets the owner (when allowed), mode and times of `target` from `meta`,
/// through `file` when the caller holds it open.
fn keep_attributes(target: &Path, meta: &Metadata, file: Option<&File>) -> Result<(), Error> {
    let opened;
    let file = match file {
        Some(f) => f,
        None => {
            opened = File::open(target).map_err(io_error(Step::Open, target))?;
            &opened
        }
    };
    let owner_kept = keep_owner(target, meta, Some(file))?;
    let mut mode = meta.mode() & 0o7777;
    if !owner_kept {
        // coreutils: setuid/setgid only travel with the owner.
        mode &= !0o6000;
    }
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error(Step::KeepMode, target))?;
    let times = FileTimes::new()
        .set_accessed(time_of(meta.atime(), meta.atime_nsec()))
        .set_modified(time_of(meta.mtime(), meta.mtime_nsec()));
    file.set_times(times)
        .map_err(io_error(Step::KeepTimes, target))
}

/// Gives `target` the owner in `meta`. `Ok(false)` when not allowed (not
/// root, or an id not mapped in this user namespace), like coreutils as a
/// non-root user.
fn keep_owner(target: &Path, meta: &Metadata, file: Option<&File>) -> Result<bool, Error> {
    let (uid, gid) = (Some(meta.uid()), Some(meta.gid()));
    let result = match file {
        Some(f) => std::os::unix::fs::fchown(f, uid, gid),
        None => std::os::unix::fs::lchown(target, uid, gid),
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if is_permission(&e) || e.kind() == io::ErrorKind::InvalidInput => Ok(false),
        Err(e) => Err(io_error(Step::KeepOwner, target)(e)),
    }
}

fn is_permission(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
}

/// A stat time (seconds and nanoseconds since the epoch, may be negative).
fn time_of(secs: i64, nanos: i64) -> SystemTime {
    let nanos = Duration::from_nanos(u64::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0));
    let whole = Duration::from_secs(secs.unsigned_abs());
    let at = if secs >= 0 {
        UNIX_EPOCH.checked_add(whole)
    } else {
        UNIX_EPOCH.checked_sub(whole)
    };
    at.and_then(|t| t.checked_add(nanos)).unwrap_or(UNIX_EPOCH)
}

fn io_error(step: Step, path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `program` (argv[0]) calls this mode: its file name is `cp`.
pub fn is_program(program: &OsStr) -> bool {
    Path::new(program).file_name() == Some(OsStr::new(PROGRAM))
}

#[cfg(test)]
mod tests;
