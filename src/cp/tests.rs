use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fn-runner-cp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Read-only directories (copied with their mode) would stop a
        // non-root removal: open them up first.
        fn writable(dir: &Path) {
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    writable(&entry.path());
                }
            }
        }
        writable(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn request(source: &Path, destination: &Path) -> Request {
    Request {
        source: source.to_path_buf(),
        destination: destination.to_path_buf(),
    }
}

fn copy_quietly(source: &Path, destination: &Path) -> Result<(), Error> {
    copy(&request(source, destination), &mut |w| {
        panic!("warning: {w}")
    })
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("stat").mode() & 0o7777
}

/// The wrapper-server directory of the image, in small: an executable, a
/// relative symlink to it, a read-only nested directory with a file.
fn wrapper_tree(s: &Scratch) -> PathBuf {
    let src = s.path("wrapper-server");
    fs::create_dir_all(src.join("nested/deeper")).expect("dirs");
    fs::write(src.join("wrapper-server"), b"#!binary").expect("write");
    fs::set_permissions(
        src.join("wrapper-server"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    symlink("wrapper-server", src.join("grpc-health-probe")).expect("symlink");
    symlink("/nowhere/at/all", src.join("dangling")).expect("dangling symlink");
    fs::write(src.join("nested/deeper/data"), b"data").expect("write");
    fs::set_permissions(
        src.join("nested/deeper/data"),
        fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    // Set after its content: a read-only directory must still be copied.
    fs::set_permissions(src.join("nested/deeper"), fs::Permissions::from_mode(0o555))
        .expect("chmod");
    let old = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    File::options()
        .write(true)
        .open(src.join("wrapper-server"))
        .expect("open")
        .set_times(FileTimes::new().set_modified(old).set_accessed(old))
        .expect("set times");
    src
}

fn assert_is_wrapper_copy(dst: &Path) {
    assert_eq!(
        fs::read(dst.join("wrapper-server")).expect("read"),
        b"#!binary"
    );
    assert_eq!(mode(&dst.join("wrapper-server")), 0o755);
    assert_eq!(
        fs::read_link(dst.join("grpc-health-probe")).expect("symlink kept"),
        Path::new("wrapper-server")
    );
    assert_eq!(
        fs::read(dst.join("grpc-health-probe")).expect("relative link resolves in the copy"),
        b"#!binary"
    );
    assert_eq!(
        fs::read_link(dst.join("dangling")).expect("dangling symlink kept"),
        Path::new("/nowhere/at/all")
    );
    assert_eq!(
        fs::read(dst.join("nested/deeper/data")).expect("read"),
        b"data"
    );
    assert_eq!(mode(&dst.join("nested/deeper/data")), 0o640);
    assert_eq!(mode(&dst.join("nested/deeper")), 0o555);
    let mtime = fs::metadata(dst.join("wrapper-server"))
        .expect("stat")
        .modified()
        .expect("mtime");
    assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(1_000_000_000));
}

#[test]
fn parses_the_init_containers_command_line() {
    assert_eq!(
        Invocation::parse(&args(&["-a", "/wrapper-server/.", "/wrapper-server-tools"])),
        Ok(Invocation::Copy(Request {
            source: "/wrapper-server/.".into(),
            destination: "/wrapper-server-tools".into(),
        }))
    );
    for form in [
        &["--archive", "a", "b"][..],
        &["a", "-a", "b"],
        &["-aa", "a", "b"],
        &["-a", "--", "a", "b"],
    ] {
        assert!(
            matches!(Invocation::parse(&args(form)), Ok(Invocation::Copy(_))),
            "{form:?}"
        );
    }
    assert_eq!(
        Invocation::parse(&args(&["-a", "--", "-x", "b"])),
        Ok(Invocation::Copy(Request {
            source: "-x".into(),
            destination: "b".into(),
        }))
    );
    assert_eq!(Invocation::parse(&args(&["--help"])), Ok(Invocation::Help));
}

#[test]
fn refuses_what_it_does_not_do() {
    let cases: [(&[&str], UsageError); 7] = [
        (
            &["-r", "a", "b"],
            UsageError::UnsupportedOption("-r".into()),
        ),
        (
            &["-av", "a", "b"],
            UsageError::UnsupportedOption("-av".into()),
        ),
        (
            &["--preserve=all", "-a", "a", "b"],
            UsageError::UnsupportedOption("--preserve=all".into()),
        ),
        (&["a", "b"], UsageError::ArchiveRequired),
        (&["-a"], UsageError::MissingOperand),
        (&["-a", "a"], UsageError::MissingDestination("a".into())),
        (&["-a", "a", "b", "c"], UsageError::ExtraOperand("c".into())),
    ];
    for (form, want) in cases {
        assert_eq!(Invocation::parse(&args(form)), Err(want), "{form:?}");
    }
    assert_eq!(
        UsageError::UnsupportedOption("-r".into()).to_string(),
        "unsupported option '-r'"
    );
}

#[test]
fn dot_form_copies_the_content_into_an_existing_directory() {
    let s = Scratch::new();
    let src = wrapper_tree(&s);
    let dst = s.path("tools");
    fs::create_dir(&dst).expect("emptyDir");
    copy_quietly(&src.join("."), &dst).expect("copy");
    assert_is_wrapper_copy(&dst);
    assert!(
        !dst.join("wrapper-server/wrapper-server").exists(),
        "no nesting"
    );
    // The existing directory takes the source directory's mode, as with coreutils.
    assert_eq!(mode(&dst), mode(&src));
    // Copying again replaces every file (idempotent, as a restarted init container needs).
    copy_quietly(&src.join("."), &dst).expect("copy again");
    assert_is_wrapper_copy(&dst);
}

#[test]
fn dot_form_creates_a_missing_destination() {
    let s = Scratch::new();
    let src = wrapper_tree(&s);
    let dst = s.path("new");
    copy_quietly(&src.join("."), &dst).expect("copy");
    assert_is_wrapper_copy(&dst);
}

#[test]
fn plain_form_copies_the_directory_itself() {
    let s = Scratch::new();
    let src = wrapper_tree(&s);
    // DEST missing: DEST becomes the copy.
    let fresh = s.path("fresh");
    copy_quietly(&src, &fresh).expect("copy");
    assert_is_wrapper_copy(&fresh);
    // DEST a directory: the copy goes into it under SOURCE's name; a
    // trailing slash on SOURCE changes nothing.
    let into = s.path("into");
    fs::create_dir(&into).expect("dir");
    let mut slashed = src.clone().into_os_string();
    slashed.push("/");
    copy_quietly(Path::new(&slashed), &into).expect("copy");
    assert_is_wrapper_copy(&into.join("wrapper-server"));
}

#[test]
fn copies_single_files_and_symlinks() {
    let s = Scratch::new();
    let src = wrapper_tree(&s);
    let dst = s.path("single");
    fs::create_dir(&dst).expect("dir");
    copy_quietly(&src.join("wrapper-server"), &dst.join("renamed")).expect("file");
    assert_eq!(mode(&dst.join("renamed")), 0o755);
    copy_quietly(&src.join("grpc-health-probe"), &dst).expect("symlink");
    assert_eq!(
        fs::read_link(dst.join("grpc-health-probe")).expect("still a symlink"),
        Path::new("wrapper-server")
    );
}

#[test]
fn a_symlink_to_a_directory_is_followed_only_in_the_dot_form() {
    let s = Scratch::new();
    let src = wrapper_tree(&s);
    let link = s.path("link");
    symlink(&src, &link).expect("dir symlink");
    // `link/.` reads through the link (as /home/nonroot/wrapper-server/. may).
    let through = s.path("through");
    copy_quietly(&link.join("."), &through).expect("copy");
    assert_is_wrapper_copy(&through);
    // `link` is copied as the symlink it is.
    let as_link = s.path("as-link");
    copy_quietly(&link, &as_link).expect("copy");
    assert_eq!(fs::read_link(&as_link).expect("symlink"), src);
}

#[test]
fn errors_name_the_path_and_the_cause() {
    let s = Scratch::new();
    let src = wrapper_tree(&s);
    let missing = s.path("missing");
    let err = copy_quietly(&missing, &s.path("x")).expect_err("missing source");
    assert!(
        matches!(
            err,
            Error::Io {
                step: Step::Stat,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        crate::log::chain(&err),
        format!(
            "cannot stat '{}': No such file or directory (os error 2)",
            missing.display()
        )
    );

    let err = copy_quietly(&src.join("."), &src.join("nested")).expect_err("into itself");
    assert!(matches!(err, Error::IntoItself { .. }), "{err:?}");
    let err = copy_quietly(&src.join("."), &src).expect_err("onto itself");
    assert!(matches!(err, Error::IntoItself { .. }), "{err:?}");

    let file = src.join("nested/deeper/data");
    let err = copy_quietly(&file, &file).expect_err("same file");
    assert!(matches!(err, Error::SameFile { .. }), "{err:?}");
    assert_eq!(fs::read(&file).expect("source intact"), b"data");

    let plain = s.path("plain");
    fs::write(&plain, b"x").expect("write");
    let err = copy_quietly(&src, &plain).expect_err("dir onto file");
    assert!(matches!(err, Error::DirectoryOntoFile { .. }), "{err:?}");

    let dst = s.path("dst");
    fs::create_dir_all(dst.join("wrapper-server")).expect("dir");
    let err = copy_quietly(&src.join("wrapper-server"), &dst).expect_err("file onto dir");
    assert!(matches!(err, Error::FileOntoDirectory { .. }), "{err:?}");

    let special = s.path("special");
    fs::create_dir(&special).expect("dir");
    let _socket = std::os::unix::net::UnixListener::bind(special.join("sock")).expect("socket");
    let err = copy_quietly(&special, &s.path("special-copy")).expect_err("socket");
    assert!(matches!(err, Error::SpecialFile { .. }), "{err:?}");
}

#[test]
fn knows_its_program_name() {
    assert!(is_program(OsStr::new("cp")));
    assert!(is_program(OsStr::new("/bin/cp")));
    assert!(!is_program(OsStr::new("/bin/cpx")));
    assert!(!is_program(OsStr::new("fn-runner")));
}

#[test]
fn converts_stat_times_before_and_after_the_epoch() {
    assert_eq!(time_of(1, 5), UNIX_EPOCH + Duration::new(1, 5));
    assert_eq!(time_of(-2, 0), UNIX_EPOCH - Duration::from_secs(2));
    assert_eq!(time_of(0, -1), UNIX_EPOCH);
}
