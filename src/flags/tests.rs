//! End-to-end parser tests: argv in, typed settings or an error out.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn argv(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn run(list: &[&str]) -> Result<Invocation, Box<Failure>> {
    parse(argv(list))
}

fn command(list: &[&str]) -> Command {
    match run(list) {
        Ok(Invocation::Run(command)) => command,
        other => panic!("{list:?}: {other:?}"),
    }
}

fn failure(list: &[&str]) -> Box<Failure> {
    match run(list) {
        Err(failure) => failure,
        other => panic!("{list:?}: expected failure, got {other:?}"),
    }
}

fn serve(args: &[&str]) -> ServeSettings {
    let mut list = vec!["/server"];
    list.extend_from_slice(args);
    match command(&list) {
        Command::Serve(s) => s,
        other => panic!("{other:?}"),
    }
}

fn serve_err(args: &[&str]) -> Error {
    let mut list = vec!["/server"];
    list.extend_from_slice(args);
    failure(&list).error
}

fn bad_value_reason(err: &Error) -> &ValueError {
    match err {
        Error::BadValue { reason, .. } => reason,
        other => panic!("not a bad value: {other:?}"),
    }
}

#[test]
fn serve_defaults_match_compat() {
    let s = serve(&[]);
    assert_eq!(s, ServeSettings::default());
    assert_eq!(s.port, 9445);
    assert_eq!(s.log_level, 2);
    assert_eq!(s.pod_ttl, Duration::from_secs(1800));
    assert_eq!(s.scan_interval, Duration::from_secs(60));
    assert!(s.warm_up_pod_cache);
    assert_eq!(s.registry, RegistrySettings::default());
}

#[test]
fn serve_sets_every_flag() {
    let s = serve(&[
        "--port=1234",
        "--bind-address=127.0.0.2",
        "--metrics-address=127.0.0.2:19464",
        "--disable-runtimes",
        "pod",
        "-log-level=5",
        "-functions",
        "/functions",
        "--config=/config.yaml",
        "--pod-cache-config=/pcc.yaml",
        "--warm-up-pod-cache=false",
        "--pod-namespace",
        "fns",
        "--pod-ttl=2h45m",
        "--scan-interval=300ms",
        "--function-pod-template=tmpl",
        "--max-request-body-size=0x100000",
        "--max-waitlist-length=0",
        "--max-parallel-pods-per-function=3",
        "--pod-ready-timeout=1.5m",
        "--kubeconfig=/kc",
        "--enable-private-registry",
        "--registry-auth-secret-path=/auth/.dockerconfigjson",
        "--registry-auth-secret-name=creds",
        "--enable-private-registry-tls=true",
        "--tls-secret-path=/tls/",
        "--default-image-prefix=example.com/fn/",
        "--max-connections=16",
        "--idle-timeout=90s",
        "--handshake-timeout=2s",
        "--send-timeout=1m",
        "--read-timeout=45s",
    ]);
    let want = ServeSettings {
        port: 1234,
        bind_address: std::net::Ipv4Addr::new(127, 0, 0, 2).into(),
        metrics_address: Some(([127, 0, 0, 2], 19464).into()),
        runtimes: Runtimes {
            exec: true,
            pod: false,
        },
        log_level: 5,
        functions: PathBuf::from("/functions"),
        config: PathBuf::from("/config.yaml"),
        pod_cache_config: PathBuf::from("/pcc.yaml"),
        warm_up_pod_cache: false,
        pod_namespace: "fns".into(),
        pod_ttl: Duration::from_secs(2 * 3600 + 45 * 60),
        scan_interval: Duration::from_millis(300),
        function_pod_template: Some("tmpl".into()),
        max_request_body_size: 0x10_0000,
        max_waitlist_length: 0,
        max_parallel_pods_per_function: 3,
        pod_ready_timeout: Duration::from_secs(90),
        kubeconfig: Some(PathBuf::from("/kc")),
        registry: RegistrySettings {
            enable_private_registry: true,
            registry_auth_secret_path: Some(PathBuf::from("/auth/.dockerconfigjson")),
            registry_auth_secret_name: "creds".into(),
            enable_private_registry_tls: true,
            tls_secret_path: PathBuf::from("/tls/"),
            default_image_prefix: "example.com/fn/".into(),
        },
        connections: ConnectionSettings {
            max_connections: 16,
            idle_timeout: Some(Duration::from_secs(90)),
            handshake_timeout: Duration::from_secs(2),
            send_timeout: Duration::from_secs(60),
            read_timeout: Duration::from_secs(45),
        },
    };
    assert_eq!(s, want);
}

#[test]
fn serve_accepts_the_deployment_command_line() {
    // compat §1's example, as Porch's Deployment writes it.
    let s = serve(&[
        "--config=/config.yaml",
        "--functions=/functions",
        "--pod-namespace=porch-fn-system",
        "--max-request-body-size=6291456",
        "--enable-private-registry=true",
        "--registry-auth-secret-path=/var/tmp/auth-secret/.dockerconfigjson",
        "--registry-auth-secret-name=auth-secret",
        "--enable-private-registry-tls=true",
        "--tls-secret-path=/var/tmp/tls-secret/",
    ]);
    assert!(s.registry.enable_private_registry);
    assert!(s.registry.enable_private_registry_tls);
    assert_eq!(s.max_request_body_size, DEFAULT_MAX_MESSAGE_BYTES);
}

#[test]
fn registry_aliases_set_one_setting() {
    for alias in [
        "--enable-private-registry",
        "--enable-private-registries",
        "-enable-private-registries=T",
    ] {
        assert!(serve(&[alias]).registry.enable_private_registry, "{alias}");
    }
    for alias in [
        "--enable-private-registry-tls",
        "--enable-private-registries-tls",
        "--enable-tls-registry",
        "-enable-tls-registry=1",
    ] {
        assert!(
            serve(&[alias]).registry.enable_private_registry_tls,
            "{alias}"
        );
    }
    // Last one wins, whatever its spelling.
    let s = serve(&[
        "--enable-tls-registry",
        "--enable-private-registry-tls=false",
    ]);
    assert!(!s.registry.enable_private_registry_tls);
}

#[test]
fn bool_flags_take_every_go_spelling() {
    for (form, want) in [
        ("--warm-up-pod-cache", true),
        ("--warm-up-pod-cache=true", true),
        ("-warm-up-pod-cache=1", true),
        ("-warm-up-pod-cache=t", true),
        ("-warm-up-pod-cache=T", true),
        ("-warm-up-pod-cache=TRUE", true),
        ("-warm-up-pod-cache=True", true),
        ("--warm-up-pod-cache=false", false),
        ("-warm-up-pod-cache=0", false),
        ("-warm-up-pod-cache=f", false),
        ("-warm-up-pod-cache=F", false),
        ("-warm-up-pod-cache=FALSE", false),
        ("-warm-up-pod-cache=False", false),
    ] {
        assert_eq!(serve(&[form]).warm_up_pod_cache, want, "{form}");
    }
    assert_eq!(
        serve_err(&["--warm-up-pod-cache=yes"]),
        Error::BadBool {
            name: "warm-up-pod-cache".into(),
            value: "yes".into()
        }
    );
}

#[test]
fn bool_flag_then_false_is_an_unexpected_argument() {
    assert_eq!(
        serve_err(&["--warm-up-pod-cache", "false"]),
        Error::UnexpectedArgument {
            arg: "false".into()
        }
    );
}

#[test]
fn serve_rejects_positionals_even_after_double_dash() {
    assert_eq!(
        serve_err(&["--port=1", "extra"]),
        Error::UnexpectedArgument {
            arg: "extra".into()
        }
    );
    assert_eq!(
        serve_err(&["--", "--port=1"]),
        Error::UnexpectedArgument {
            arg: "--port=1".into()
        }
    );
    assert_eq!(serve(&["--port=7", "--"]).port, 7);
}

#[test]
fn port_is_a_go_int_in_range() {
    assert_eq!(serve(&["--port=0"]).port, 0);
    assert_eq!(serve(&["--port=65535"]).port, 65535);
    assert_eq!(serve(&["--port=0x24d5"]).port, 9429);
    assert_eq!(serve(&["--port=9_445"]).port, 9445);
    assert_eq!(
        bad_value_reason(&serve_err(&["--port=65536"])),
        &ValueError::OutOfRange { min: 0, max: 65535 }
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--port=-1"])),
        &ValueError::OutOfRange { min: 0, max: 65535 }
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--port", "http"])),
        &ValueError::Int(strconv::Error::Syntax)
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--port=99999999999999999999"])),
        &ValueError::Int(strconv::Error::Range)
    );
}

#[test]
fn bad_values_name_the_flag_as_typed() {
    let err = serve_err(&["-pod-ttl", "5 minutes"]);
    assert_eq!(
        err.to_string(),
        r#"invalid value "5 minutes" for flag -pod-ttl: time: unknown unit " minutes" in duration "5 minutes""#
    );
    let err = serve_err(&["--v=x"]);
    assert!(
        err.to_string()
            .starts_with(r#"invalid value "x" for flag -v: "#),
        "{err}"
    );
}

#[test]
fn durations_are_checked_for_sign() {
    assert_eq!(serve(&["--pod-ttl=0"]).pod_ttl, Duration::ZERO);
    assert_eq!(
        bad_value_reason(&serve_err(&["--pod-ttl=-1s"])),
        &ValueError::Negative
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--scan-interval=0"])),
        &ValueError::NotPositive
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--pod-ready-timeout=-1m"])),
        &ValueError::NotPositive
    );
    assert_eq!(
        serve(&["--pod-ttl=1h0m0.5s"]).pod_ttl,
        Duration::from_millis(3_600_500)
    );
    assert!(matches!(
        bad_value_reason(&serve_err(&["--pod-ttl=30"])),
        ValueError::Duration(_)
    ));
    assert!(matches!(
        bad_value_reason(&serve_err(&["--pod-ttl=3000000h"])),
        ValueError::Duration(_)
    ));
}

#[test]
fn disable_runtimes_takes_a_comma_list() {
    let r = |v: &str| serve(&[&format!("--disable-runtimes={v}")]).runtimes;
    assert_eq!(
        r(""),
        Runtimes {
            exec: true,
            pod: true
        }
    );
    assert_eq!(
        r("exec"),
        Runtimes {
            exec: false,
            pod: true
        }
    );
    assert_eq!(
        r("pod"),
        Runtimes {
            exec: true,
            pod: false
        }
    );
    assert_eq!(
        r("exec,pod"),
        Runtimes {
            exec: false,
            pod: false
        }
    );
    assert_eq!(
        r(" pod , exec ,"),
        Runtimes {
            exec: false,
            pod: false
        }
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--disable-runtimes=exec,builtin"])),
        &ValueError::UnknownRuntime("builtin".into())
    );
    // Each occurrence replaces the list, like Go's string flag.
    assert_eq!(
        serve(&["--disable-runtimes=exec", "--disable-runtimes=pod"]).runtimes,
        Runtimes {
            exec: true,
            pod: false
        }
    );
}

#[test]
fn counts_and_sizes_are_bounded() {
    assert_eq!(
        bad_value_reason(&serve_err(&["--max-request-body-size=0"])),
        &ValueError::OutOfRange {
            min: 1,
            max: u32::MAX.into()
        }
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--max-parallel-pods-per-function=0"])),
        &ValueError::OutOfRange {
            min: 1,
            max: u32::MAX.into()
        }
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--max-waitlist-length=-1"])),
        &ValueError::OutOfRange {
            min: 0,
            max: u32::MAX.into()
        }
    );
    assert_eq!(
        bad_value_reason(&serve_err(&["--pod-namespace="])),
        &ValueError::Empty
    );
}

#[test]
fn empty_optional_strings_mean_none() {
    let s = serve(&["--function-pod-template=", "--kubeconfig="]);
    assert_eq!(s.function_pod_template, None);
    assert_eq!(s.kubeconfig, None);
}

#[test]
fn klog_flags_are_accepted() {
    let s = serve(&[
        "--v=4",
        "--logtostderr",
        "--alsologtostderr=false",
        "--stderrthreshold=INFO",
        "-vmodule=x=2",
        "--skip_headers",
    ]);
    assert_eq!(s.log_level, 4);
    assert_eq!(serve(&["-v", "3"]).log_level, 3);
    assert!(matches!(
        serve_err(&["--logtostderr=maybe"]),
        Error::BadBool { .. }
    ));
}

#[test]
fn unknown_flags_and_missing_values_fail() {
    assert_eq!(
        serve_err(&["--nope"]),
        Error::UnknownFlag {
            name: "nope".into()
        }
    );
    assert_eq!(
        serve_err(&["--port"]),
        Error::MissingValue {
            name: "port".into()
        }
    );
    // -tls is the probe's, not serve's.
    assert_eq!(
        serve_err(&["-tls"]),
        Error::UnknownFlag { name: "tls".into() }
    );
}

#[test]
fn help_is_not_an_error() {
    for list in [
        &["/server", "-h"][..],
        &["/server", "--help"],
        &["fn-runner", "serve", "-help"],
        &["fn-runner", "help", "serve"],
    ] {
        match run(list) {
            Ok(Invocation::Help(text)) => {
                assert!(text.contains("-pod-namespace string"), "{list:?}")
            }
            other => panic!("{list:?}: {other:?}"),
        }
    }
    match run(&["fn-runner", "help"]) {
        Ok(Invocation::Help(text)) => assert!(text.contains("health-probe")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dispatches_on_program_name_and_subcommand() {
    assert!(matches!(command(&["/server"]), Command::Serve(_)));
    assert!(matches!(
        command(&["/usr/bin/fn-runner", "serve"]),
        Command::Serve(_)
    ));
    assert!(matches!(
        command(&["/wrapper-server/wrapper-server", "--", "/fn"]),
        Command::WrapperServer(_)
    ));
    assert!(matches!(
        command(&["fn-runner", "wrapper-server", "--", "/fn"]),
        Command::WrapperServer(_)
    ));
    assert!(matches!(
        command(&["/grpc-health-probe", "-addr=localhost:9445"]),
        Command::HealthProbe(_)
    ));
    assert!(matches!(
        command(&["fn-runner", "health-probe", "-addr=localhost:9445"]),
        Command::HealthProbe(_)
    ));
    assert!(matches!(
        command(&["fn-runner", "eval", "-image=x"]),
        Command::Eval(_)
    ));
    assert!(matches!(
        command(&["fn-runner", "inspect", "img"]),
        Command::Inspect(_)
    ));
    assert!(matches!(
        command(&["fn-runner", "preflight"]),
        Command::Preflight(_)
    ));
    assert!(matches!(
        run(&["fn-runner", "--version"]),
        Ok(Invocation::Version)
    ));
    let f = failure(&["fn-runner"]);
    assert_eq!((f.mode, f.error), (None, Error::NoMode));
    let f = failure(&["fn-runner", "bogus"]);
    assert_eq!(
        f.error,
        Error::UnknownMode {
            name: "bogus".into()
        }
    );
    // A server-named binary never reads a subcommand.
    assert_eq!(
        failure(&["/server", "serve"]).error,
        Error::UnexpectedArgument {
            arg: "serve".into()
        }
    );
}

#[test]
fn wrapper_server_takes_the_entrypoint_after_double_dash() {
    let Command::WrapperServer(w) = command(&[
        "wrapper-server",
        "--port",
        "9446",
        "--max-request-body-size",
        "1024",
        "--",
        "/fn",
        "--flag",
        "--",
    ]) else {
        panic!("not wrapper-server");
    };
    assert_eq!(
        w,
        WrapperSettings {
            port: 9446,
            bind_address: DEFAULT_BIND_ADDRESS,
            metrics_address: None,
            max_request_body_size: 1024,
            verbosity: 2,
            connections: ConnectionSettings::default(),
            entrypoint: argv(&["/fn", "--flag", "--"]),
        }
    );
    let Command::WrapperServer(w) = command(&["wrapper-server", "--verbosity=4", "--", "/fn"])
    else {
        panic!("not wrapper-server");
    };
    assert_eq!((w.port, w.verbosity), (9446, 4));
    let Command::WrapperServer(w) = command(&[
        "wrapper-server",
        "--max-connections=8",
        "--idle-timeout=0",
        "--handshake-timeout=500ms",
        "--send-timeout=3s",
        "--read-timeout=4s",
        "--",
        "/fn",
    ]) else {
        panic!("not wrapper-server");
    };
    assert_eq!(
        w.connections,
        ConnectionSettings {
            max_connections: 8,
            idle_timeout: None,
            handshake_timeout: Duration::from_millis(500),
            send_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(4),
        }
    );
    // The server's bounds come from them.
    let limits = w.connections.limits(crate::h2::limits::Limits::default());
    assert_eq!(limits.max_connections, 8);
    assert_eq!(limits.idle_timeout, None);
    let f = failure(&["wrapper-server", "--port=1"]);
    assert_eq!(
        (f.mode, f.error),
        (Some(Mode::WrapperServer), Error::MissingEntrypoint)
    );
    assert_eq!(
        failure(&["wrapper-server", "--"]).error,
        Error::MissingEntrypoint
    );
}

#[test]
fn bind_address_takes_an_ip_literal() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    assert_eq!(
        serve(&[]).bind_address,
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        "default: all interfaces, IPv4 and IPv6, as Go's `:PORT` (issue 14)"
    );
    for (value, want) in [
        ("127.0.0.7", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7))),
        ("0.0.0.0", IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ("::1", IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ] {
        assert_eq!(serve(&["-bind-address", value]).bind_address, want);
        let Command::WrapperServer(w) = command(&[
            "wrapper-server",
            &format!("--bind-address={value}"),
            "--",
            "/fn",
        ]) else {
            panic!("not wrapper-server");
        };
        assert_eq!(w.bind_address, want);
    }
    for value in [
        "localhost",
        "127.0.0.256",
        "",
        "127.0.0.1:9446",
        "[::1]",
        " 127.0.0.1",
    ] {
        let err = serve_err(&[&format!("--bind-address={value}")]);
        assert_eq!(bad_value_reason(&err), &ValueError::NotAnIp, "{value:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value {value:?} for flag -bind-address: not an IP address (such as 0.0.0.0, 127.0.0.2 or ::1)"
            )
        );
    }
}

#[test]
fn metrics_address_takes_ip_and_port() {
    use std::net::SocketAddr;
    assert_eq!(
        serve(&[]).metrics_address,
        None,
        "default: the OTEL_* variables decide"
    );
    for (value, want) in [
        ("127.0.0.1:9464", Some("127.0.0.1:9464")),
        ("[::1]:0", Some("[::1]:0")),
        (":9464", Some("0.0.0.0:9464")),
        ("", None),
    ] {
        let want: Option<SocketAddr> = want.map(|w| w.parse().expect("address"));
        assert_eq!(serve(&["-metrics-address", value]).metrics_address, want);
        let Command::WrapperServer(w) = command(&[
            "wrapper-server",
            &format!("--metrics-address={value}"),
            "--",
            "/fn",
        ]) else {
            panic!("not wrapper-server");
        };
        assert_eq!(w.metrics_address, want);
    }
    for value in [
        "localhost:9464",
        "127.0.0.1",
        "9464",
        ":",
        ":99999",
        "::1:9464",
    ] {
        let err = serve_err(&[&format!("--metrics-address={value}")]);
        assert_eq!(
            bad_value_reason(&err),
            &ValueError::NotAnAddress,
            "{value:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value {value:?} for flag -metrics-address: not IP:PORT (such as 0.0.0.0:9464, [::1]:9464 or :9464)"
            )
        );
    }
}

#[test]
fn health_probe_flags() {
    let Command::HealthProbe(p) = command(&[
        "grpc-health-probe",
        "-addr",
        "localhost:9446",
        "-service=evaluator.FunctionEvaluator",
        "-connect-timeout=250ms",
        "-rpc-timeout",
        "2s",
        "-v",
        "-user-agent=kubelet",
        "-rpc-header=x: y",
        "-gzip",
        "-tls=false",
    ]) else {
        panic!("not a probe");
    };
    assert_eq!(
        p,
        ProbeSettings {
            addr: "localhost:9446".into(),
            service: "evaluator.FunctionEvaluator".into(),
            connect_timeout: Duration::from_millis(250),
            rpc_timeout: Duration::from_secs(2),
            verbose: true,
        }
    );
    let Command::HealthProbe(p) = command(&["grpc-health-probe", "--addr=:1"]) else {
        panic!("not a probe");
    };
    assert_eq!(
        (p.connect_timeout, p.rpc_timeout, p.verbose),
        (Duration::from_secs(1), Duration::from_secs(1), false)
    );
}

#[test]
fn health_probe_argument_errors() {
    let probe_err = |args: &[&str]| {
        let mut list = vec!["grpc-health-probe"];
        list.extend_from_slice(args);
        let f = failure(&list);
        assert_eq!(f.mode, Some(Mode::HealthProbe));
        f.error
    };
    assert_eq!(probe_err(&[]), Error::MissingRequired { name: "addr" });
    assert_eq!(
        probe_err(&["-service=x"]).to_string(),
        "-addr not specified"
    );
    assert_eq!(
        bad_value_reason(&probe_err(&["-addr=x:1", "-connect-timeout=0"])),
        &ValueError::NotPositive
    );
    assert_eq!(
        bad_value_reason(&probe_err(&["-addr=x:1", "-rpc-timeout=-1s"])),
        &ValueError::NotPositive
    );
    for flag in [
        "-tls",
        "-tls-no-verify",
        "-tls-ca-cert=/ca",
        "-tls-client-cert=/c",
        "-tls-client-key=/k",
        "-tls-server-name=x",
        "-alts",
        "-spiffe",
    ] {
        assert!(
            matches!(probe_err(&["-addr=x:1", flag]), Error::Unsupported { .. }),
            "{flag}"
        );
    }
    assert_eq!(
        probe_err(&["-addr=x:1", "-nope"]),
        Error::UnknownFlag {
            name: "nope".into()
        }
    );
}

#[test]
fn eval_flags_and_input() {
    let eval = |args: &[&str]| {
        let mut list = vec!["fn-runner", "eval"];
        list.extend_from_slice(args);
        match command(&list) {
            Command::Eval(e) => e,
            other => panic!("{other:?}"),
        }
    };
    let e = eval(&["--image", "gcr.io/kpt-fn/set-namespace:v0.4.1"]);
    assert_eq!(
        e,
        EvalSettings {
            address: "localhost:9445".into(),
            image: "gcr.io/kpt-fn/set-namespace:v0.4.1".into(),
            input: None,
            timeout: None,
            connect_timeout: Duration::from_secs(5),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    );
    let e = eval(&[
        "--address=127.0.0.1:1",
        "--image=x",
        "--timeout=10s",
        "--connect-timeout=250ms",
        "--max-request-body-size=100",
        "rl.yaml",
    ]);
    assert_eq!(e.address, "127.0.0.1:1");
    assert_eq!(e.timeout, Some(Duration::from_secs(10)));
    assert_eq!(e.connect_timeout, Duration::from_millis(250));
    assert_eq!(e.max_message_bytes, 100);
    assert_eq!(e.input, Some(PathBuf::from("rl.yaml")));
    assert_eq!(eval(&["--image=x", "-"]).input, None);
    assert_eq!(eval(&["--image=x", "--timeout=0"]).timeout, None);

    let eval_err = |args: &[&str]| {
        let mut list = vec!["fn-runner", "eval"];
        list.extend_from_slice(args);
        failure(&list).error
    };
    assert_eq!(
        eval_err(&["rl.yaml"]),
        Error::MissingRequired { name: "image" }
    );
    assert_eq!(
        eval_err(&["--image=x", "a", "b"]),
        Error::UnexpectedArgument { arg: "b".into() }
    );
    assert_eq!(
        bad_value_reason(&eval_err(&["--image=x", "--timeout=-1s"])),
        &ValueError::Negative
    );
}

#[test]
fn inspect_shares_the_registry_flags() {
    let Command::Inspect(i) = command(&[
        "fn-runner",
        "inspect",
        "--enable-private-registries",
        "--enable-tls-registry",
        "--registry-auth-secret-path=/a",
        "--tls-secret-path=/t",
        "ghcr.io/x/y:v1",
    ]) else {
        panic!("not inspect");
    };
    assert_eq!(i.image, "ghcr.io/x/y:v1");
    assert!(i.registry.enable_private_registry);
    assert!(i.registry.enable_private_registry_tls);
    assert_eq!(
        i.registry.registry_auth_secret_path,
        Some(PathBuf::from("/a"))
    );
    assert_eq!(i.registry.tls_secret_path, PathBuf::from("/t"));
    assert_eq!(
        failure(&["fn-runner", "inspect"]).error,
        Error::MissingArgument { what: "IMAGE" }
    );
    assert_eq!(
        failure(&["fn-runner", "inspect", "a", "b"]).error,
        Error::UnexpectedArgument { arg: "b".into() }
    );
    // Serve-only flags are not inspect's.
    assert_eq!(
        failure(&["fn-runner", "inspect", "--port=1", "a"]).error,
        Error::UnknownFlag {
            name: "port".into()
        }
    );
}

#[test]
fn preflight_takes_every_serve_flag_and_show_pod() {
    let serve_args = [
        "--pod-namespace=fns",
        "--enable-private-registries",
        "--function-pod-template=tpl",
        "--kubeconfig=/k",
        "-v=4",
        "--logtostderr",
        "--idle-timeout=2m",
    ];
    let mut args = vec!["fn-runner", "preflight", "--show-pod", "ghcr.io/x/y:v1"];
    args.extend(serve_args);
    let Command::Preflight(p) = command(&args) else {
        panic!("not preflight");
    };
    let mut serve = vec!["fn-runner", "serve"];
    serve.extend(serve_args);
    let Command::Serve(s) = command(&serve) else {
        panic!("not serve");
    };
    assert_eq!(p.serve, s, "the same flags give the same serve settings");
    assert_eq!(p.show_pod.as_deref(), Some("ghcr.io/x/y:v1"));
    let Command::Preflight(p) = command(&["fn-runner", "preflight", "--show-pod="]) else {
        panic!("not preflight");
    };
    assert_eq!(p.show_pod, None, "empty: no pod shown");
    assert_eq!(
        failure(&["fn-runner", "preflight", "img"]).error,
        Error::UnexpectedArgument { arg: "img".into() }
    );
    // Its own flag is not serve's.
    assert_eq!(
        failure(&["fn-runner", "serve", "--show-pod=x"]).error,
        Error::UnknownFlag {
            name: "show-pod".into()
        }
    );
}

/// A value each flag accepts, by its kind (and its own rules).
fn valid_value(spec: &spec::Spec) -> &'static str {
    match (spec.flag, spec.kind) {
        (spec::Flag::DisableRuntimes, _) => "pod",
        (spec::Flag::BindAddress, _) => "127.0.0.2",
        (spec::Flag::MetricsAddress, _) => "127.0.0.2:9464",
        // Setting these is refused; their "off" value is fine.
        (spec::Flag::ProbeUnsupported, spec::Kind::Bool) => "false",
        (spec::Flag::ProbeUnsupported, _) => "",
        (_, spec::Kind::Bool) => "true",
        (_, spec::Kind::Int) => "1",
        (_, spec::Kind::Duration) => "1s",
        (_, spec::Kind::Str) => "x:1",
    }
}

#[test]
fn every_spelling_of_every_flag_parses_in_every_syntax() {
    for mode in Mode::ALL {
        for spec in spec::tables(mode).iter().flat_map(|t| t.iter()) {
            let value = valid_value(spec);
            for name in spec.names {
                let mut forms = vec![
                    vec![format!("-{name}={value}")],
                    vec![format!("--{name}={value}")],
                ];
                if spec.kind == spec::Kind::Bool {
                    if value == "true" {
                        forms.push(vec![format!("-{name}")]);
                        forms.push(vec![format!("--{name}")]);
                    }
                } else {
                    forms.push(vec![format!("-{name}"), value.to_owned()]);
                    forms.push(vec![format!("--{name}"), value.to_owned()]);
                }
                for form in forms {
                    let mut args: Vec<OsString> = match mode {
                        Mode::HealthProbe => argv(&["-addr=x:1"]),
                        Mode::Eval => argv(&["-image=x"]),
                        _ => Vec::new(),
                    };
                    args.extend(form.iter().map(OsString::from));
                    match mode {
                        Mode::WrapperServer => args.extend(argv(&["--", "/fn"])),
                        Mode::Inspect => args.push("img".into()),
                        _ => {}
                    }
                    let low = lowargs::parse(mode, args.clone()).expect("lexes");
                    let last = low.flags.last().expect("a flag");
                    assert_eq!((last.spec.flag, last.name.as_str()), (spec.flag, *name));
                    if let Err(err) = parse_mode(mode, args.clone()) {
                        panic!("{mode:?} {args:?}: {err}");
                    }
                }
            }
        }
    }
}

/// `-registry-auth-secret-path` is not given by default (`None`); then the
/// guide's path, tried first, is what `--help` shows: that path given reads
/// as not given here.
fn not_given_auth_path(mut command: Command) -> Command {
    let registry = match &mut command {
        Command::Serve(s) => &mut s.registry,
        Command::Inspect(s) => &mut s.registry,
        Command::Preflight(s) => &mut s.serve.registry,
        _ => return command,
    };
    if registry.registry_auth_secret_path == Some(PathBuf::from(hiargs::DEFAULT_AUTH_FILES[0])) {
        registry.registry_auth_secret_path = None;
    }
    command
}

/// Each default is written twice, as the text `--help` shows (`spec`) and as
/// the typed value the mode starts from (`settings`); this keeps them one
/// value: giving a mode each of its help-text defaults changes nothing.
#[test]
fn every_help_text_default_parses_to_the_typed_default() {
    for mode in Mode::ALL {
        let parse_with = |flag: Option<String>| {
            let mut args: Vec<OsString> = match mode {
                Mode::HealthProbe => argv(&["-addr=x:1"]),
                Mode::Eval => argv(&["-image=x"]),
                _ => Vec::new(),
            };
            args.extend(flag.map(OsString::from));
            match mode {
                Mode::WrapperServer => args.extend(argv(&["--", "/fn"])),
                Mode::Inspect => args.push("img".into()),
                _ => {}
            }
            match parse_mode(mode, args.clone()) {
                Ok(Some(command)) => command,
                other => panic!("{mode:?} {args:?}: {other:?}"),
            }
        };
        let typed = parse_with(None);
        for spec in spec::tables(mode).iter().flat_map(|t| t.iter()) {
            // "" shows no default in --help: nothing to compare.
            if spec.default.is_empty() {
                continue;
            }
            let given = parse_with(Some(format!("--{}={}", spec.name(), spec.default)));
            assert_eq!(
                not_given_auth_path(given),
                typed,
                "{mode:?}: -{} shows default {:?}, which is not the typed default",
                spec.name(),
                spec.default
            );
        }
    }
}
