//! Where things are in the fn-runner image, and what the runner writes into
//! the function pods it starts (compat §4.2, §6). One list that the image
//! (`image/layout.sh`, run by the `Dockerfile`), the pod runtime and the
//! tests (`tests/image/`) agree on.
//!
//! ```text
//! /wrapper-server/wrapper-server          the binary (the only copy of it)
//! /wrapper-server/grpc-health-probe   ->  wrapper-server  (relative: survives `cp -a`)
//! /home/nonroot/wrapper-server        ->  ../../wrapper-server
//! /server, /grpc-health-probe         ->  wrapper-server/wrapper-server
//! /home/nonroot/{server,grpc-health-probe}
//! /bin/cp                             ->  the binary, for the init container's `cp`
//! /config.yaml, /functions/           the exec runtime's cached functions
//! /home/nonroot/{config.yaml,functions}   the same, where newer Porch looks
//! ```
//!
//! In a function pod the init container copies the wrapper-server
//! directory into the `wrapper-server-tools` emptyDir; the function
//! container then runs the wrapper server from there, and its readiness
//! probe is the health probe beside it.

/// The runner, as Porch v4's Deployment starts it (`command: [/server, ...]`).
pub const SERVER: &str = "/server";
/// The runner's readiness probe in Porch v4's Deployment.
pub const HEALTH_PROBE: &str = "/grpc-health-probe";
/// The runner as newer Porch Deployments (v1.5) start it, as uid 10001.
pub const NONROOT_SERVER: &str = "/home/nonroot/server";
/// The readiness probe of newer Porch Deployments.
pub const NONROOT_HEALTH_PROBE: &str = "/home/nonroot/grpc-health-probe";

/// `--config` of Porch's image and Deployment: the exec runtime's list.
pub const CONFIG: &str = "/config.yaml";
/// `--functions` of Porch's image and Deployment: the cached binaries.
pub const FUNCTIONS: &str = "/functions";
/// `--config` of newer Porch Deployments.
pub const NONROOT_CONFIG: &str = "/home/nonroot/config.yaml";
/// `--functions` of newer Porch Deployments.
pub const NONROOT_FUNCTIONS: &str = "/home/nonroot/functions";

/// What Porch v4's init container copies from (`cp -a /wrapper-server/. ...`).
pub const WRAPPER_SERVER_DIR: &str = "/wrapper-server";
/// What newer Porch releases copy from.
pub const NONROOT_WRAPPER_SERVER_DIR: &str = "/home/nonroot/wrapper-server";
/// The wrapper server's file name in those directories (a multi-call name).
pub const WRAPPER_SERVER_NAME: &str = "wrapper-server";
/// The health probe's file name beside it (a multi-call name).
pub const HEALTH_PROBE_NAME: &str = "grpc-health-probe";
/// `cp` on the image's `PATH`: the init container runs plain `cp`.
pub const CP: &str = "/bin/cp";

/// The function pod's init container (compat §4.2).
pub const INIT_CONTAINER_NAME: &str = "copy-wrapper-server";
/// The emptyDir volume shared by the init container and the function.
pub const TOOLS_VOLUME: &str = "wrapper-server-tools";
/// Where both containers mount [`TOOLS_VOLUME`].
pub const TOOLS_DIR: &str = "/wrapper-server-tools";
/// The init container's command: the content of [`WRAPPER_SERVER_DIR`]
/// into [`TOOLS_DIR`].
pub const COPY_COMMAND: [&str; 4] = ["cp", "-a", "/wrapper-server/.", "/wrapper-server-tools"];
/// The function container's command (then `--port 9446
/// --max-request-body-size N -- ENTRYPOINT...`).
pub const POD_WRAPPER_SERVER: &str = "/wrapper-server-tools/wrapper-server";
/// The function container's readiness probe (`-addr localhost:9446`).
pub const POD_HEALTH_PROBE: &str = "/wrapper-server-tools/grpc-health-probe";
/// The wrapper server's port in the pod (compat §4.2).
pub const WRAPPER_SERVER_PORT: u16 = 9446;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_paths_are_the_tools_dir_plus_the_multi_call_names() {
        assert_eq!(
            POD_WRAPPER_SERVER,
            format!("{TOOLS_DIR}/{WRAPPER_SERVER_NAME}")
        );
        assert_eq!(POD_HEALTH_PROBE, format!("{TOOLS_DIR}/{HEALTH_PROBE_NAME}"));
        assert_eq!(
            COPY_COMMAND,
            ["cp", "-a", &format!("{WRAPPER_SERVER_DIR}/."), TOOLS_DIR]
        );
        assert_eq!(
            NONROOT_WRAPPER_SERVER_DIR,
            format!("/home/nonroot/{WRAPPER_SERVER_NAME}")
        );
        assert_eq!(CP.rsplit('/').next(), Some(crate::cp::PROGRAM));
    }
}
