//! Pod lifecycle at scale (issue 13, "Prove it"): parallel pods, warm-up
//! in both file formats, garbage collection that is safe with replicas.

use std::path::Path;
use std::time::{Duration, SystemTime};

use fn_runner::proto::ServingStatus;
use serde_json::json;

use crate::support::pods::{
    pod_id, template_config_map, template_pod_yaml, Behaviour, PodEnv, Runner, PODS_PATH,
    POD_NAMESPACE, RUNNER_NAMESPACE, WAIT,
};

/// A ResourceList for the `slow` function: its first line is a marker
/// file it creates when it starts; it answers after 2 s.
fn slow_input(dir: &Path, n: usize) -> Vec<u8> {
    format!(
        "{}\napiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
        dir.join(format!("slow-{n}")).display()
    )
    .into_bytes()
}

/// Runs `n` slow calls at once on `runner`; every result.
fn slow_calls(env: &PodEnv, runner: &Runner, n: usize) -> Vec<Result<(), String>> {
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..n)
            .map(|i| {
                let input = slow_input(env.dir(), i);
                s.spawn(move || {
                    runner
                        .eval(&env.images.slow, &input, Some(WAIT))
                        .map(drop)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("call thread"))
            .collect()
    })
}

fn live_pods(env: &PodEnv) -> Vec<String> {
    env.pods()
        .into_iter()
        .filter(|p| !p.deleting)
        .map(|p| p.name)
        .collect()
}

// Parallel pods (Porch v1.5): with at most 2 pods and a waitlist of 1, ten
// concurrent slow calls use exactly 2 pods and all succeed; with the
// defaults (1 pod, waitlist 2) they share one.
#[test]
fn parallel_pods_follow_the_waitlist_and_the_maximum() {
    let env = PodEnv::start();
    let runner = env.serve(&[
        "--max-parallel-pods-per-function=2",
        "--max-waitlist-length=1",
    ]);
    let results = slow_calls(&env, &runner, 10);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(env.kube.count("POST", PODS_PATH), 2);
    assert_eq!(live_pods(&env).len(), 2, "{:?}", env.pods());
    drop(runner);

    let env = PodEnv::start();
    let runner = env.serve(&[]);
    let results = slow_calls(&env, &runner, 10);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(env.kube.count("POST", PODS_PATH), 1);
}

/// Starts a runner warming up the images of a `--pod-cache-config` file
/// holding `content`.
fn warming_runner(env: &PodEnv, content: &str, extra: &[&str]) -> Runner {
    let file = env.dir().join("pod-cache-config.yaml");
    std::fs::write(&file, content).expect("write pod cache config");
    let mut flags = vec![
        format!("--pod-cache-config={}", file.display()),
        "--warm-up-pod-cache=true".to_owned(),
    ];
    flags.extend(extra.iter().map(|s| (*s).to_owned()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    env.serve(&flags)
}

/// The pod id of `image` as the registry serves it.
fn id_of(env: &PodEnv, image: &str) -> String {
    let digest = env.inspect(image)["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    pod_id(image, &digest)
}

// Warm-up reads both formats: Porch v4's map and v1.5's list. Health says
// NOT_SERVING until the warm pod is ready, then SERVING; the pod has the
// fixed name `<pod id>` (server-side apply) and serves the first call
// without another pod.
#[test]
fn warm_up_reads_both_formats_and_health_waits_for_it() {
    for format in ["v4", "v1.5"] {
        let env = PodEnv::start();
        let image = env.images.set_namespace.clone();
        env.behave(&image, Behaviour::StartDelay(Duration::from_secs(2)));
        let content = match format {
            "v4" => format!("{image}: 10m\n"),
            _ => format!("- name: {image}\n  timeToLive: 10m\n  maxWaitlistLength: 1\n"),
        };
        let runner = warming_runner(&env, &content, &[]);
        assert_eq!(
            runner.health().expect("health"),
            ServingStatus::NOT_SERVING,
            "{format}: warming up"
        );
        assert_eq!(runner.wait_serving(), ServingStatus::SERVING, "{format}");
        let id = id_of(&env, &image);
        let pods = env.pods();
        assert_eq!(pods.len(), 1, "{format}: {pods:?}");
        assert_eq!(pods[0].name, id, "{format}: the fixed name");
        assert!(pods[0].ready, "{format}: ready before SERVING");
        let applies = env
            .kube
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path == format!("{PODS_PATH}/{id}"))
            .filter(|r| r.query.contains("fieldManager=krm-function-runner"))
            .count();
        assert_eq!(applies, 1, "{format}: made by server-side apply");
        // The TTL of the file: reclaim-after about 10 minutes away.
        let reclaim: u64 = pods[0].annotations["fn.kpt.dev/reclaim-after"]
            .parse()
            .expect("unix seconds");
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(
            reclaim > now + 9 * 60 && reclaim <= now + 10 * 60,
            "{format}: {reclaim}"
        );
        let mark = env.kube.mark();
        runner
            .eval(
                &image,
                &crate::support::pods::sample_resource_list(),
                Some(WAIT),
            )
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(env.kube.count_since(mark, "POST", PODS_PATH), 0, "{format}");
        assert_eq!(
            env.kube.count_since(mark, "PATCH", PODS_PATH),
            0,
            "{format}"
        );
    }
}

// A warm-up image that cannot be pulled fails fast and one that never
// becomes ready is given up at its bound (--pod-ready-timeout, under the
// minute): neither keeps the runner NOT_SERVING beyond it.
#[test]
fn warm_up_failures_do_not_hold_start_up() {
    let env = PodEnv::start();
    let broken = env.images.results.clone();
    let stuck = env.images.cat.clone();
    env.behave(&broken, Behaviour::err_image_pull("not found"));
    env.behave(&stuck, Behaviour::StartDelay(Duration::from_secs(600)));
    let content = format!("{broken}: 30m\n{stuck}: 30m\n");
    let runner = warming_runner(&env, &content, &["--pod-ready-timeout=3s"]);
    assert_eq!(runner.wait_serving(), ServingStatus::SERVING);
    runner.wait_for_log("ErrImagePull", WAIT);
    runner.wait_for_log("was not ready within", WAIT);
    // Other functions are served all along.
    runner
        .eval(
            &env.images.set_namespace,
            &crate::support::pods::sample_resource_list(),
            Some(WAIT),
        )
        .expect("a call for another image");
}

// A pod in use is kept past its reclaim-after (this replica has a call on
// it: the GC refreshes it instead), and collected once idle.
#[test]
fn a_pod_in_use_is_kept_past_its_ttl_and_collected_when_idle() {
    let env = PodEnv::start();
    let runner = env.serve(&["--pod-ttl=1s", "--scan-interval=1s"]);
    // `sleep` never answers: the call ends at its deadline, 4 TTLs later.
    let result = runner.eval(
        &env.images.sleep,
        b"items: []\n",
        Some(Duration::from_secs(4)),
    );
    let err = result.expect_err("the deadline ends it");
    assert_eq!(
        err.code,
        fn_runner::grpc::Code::DEADLINE_EXCEEDED,
        "not a deleted pod: {err}"
    );
    let pod = env.pods().into_iter().next().expect("its pod");
    let deletes_during_the_call = env
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with(&pod.name))
        .count();
    assert_eq!(deletes_during_the_call, 0, "deleted while in use");
    // Idle now: collected at a scan after its reclaim-after.
    env.wait_for_pods("collected", |pods| {
        pods.iter().all(|p| p.name != pod.name || p.deleting)
    });
    runner.wait_for_log(
        &format!("deleted function pod {POD_NAMESPACE}/{}", pod.name),
        WAIT,
    );
}

// A pod made from an old template version that no call uses is collected.
#[test]
fn an_idle_pod_of_an_old_template_is_collected() {
    let env = PodEnv::start();
    let template = |team: &str| template_config_map("fn-template", &template_pod_yaml(team));
    env.kube
        .create("configmaps", RUNNER_NAMESPACE, template("one"))
        .expect("template ConfigMap");
    let runner = env.serve(&["--function-pod-template=fn-template", "--scan-interval=1s"]);
    let input = crate::support::pods::sample_resource_list();
    runner
        .eval(&env.images.set_namespace, &input, Some(WAIT))
        .expect("first call");
    let old = live_pods(&env);
    assert_eq!(old.len(), 1);
    env.kube
        .patch(
            "configmaps",
            RUNNER_NAMESPACE,
            "fn-template",
            json!({ "data": template("two")["data"] }),
        )
        .expect("edit the template");
    runner.wait_for_log("function pod template", WAIT);
    runner.wait_for_log("changed (version", WAIT);
    // No call: the GC collects the old version's pod on its own.
    env.wait_for_pods("without the old pod", |pods| {
        pods.iter().all(|p| p.name != old[0] || p.deleting)
    });
    runner.wait_for_log("(template)", WAIT);
}

// Another replica refreshed a pod's reclaim-after between this replica's
// judgment and its delete: the delete's precondition fails (409) and the
// pod survives.
#[test]
fn a_refresh_by_another_replica_wins_over_a_stale_delete() {
    let env = PodEnv::start();
    let runner = env.serve(&["--pod-ttl=1s", "--scan-interval=1s"]);
    runner
        .eval(
            &env.images.set_namespace,
            &crate::support::pods::sample_resource_list(),
            Some(WAIT),
        )
        .expect("a call makes the pod");
    let pod = live_pods(&env).remove(0);
    let path = format!("{PODS_PATH}/{pod}");
    // The GC's delete is held up at the API server...
    env.kube.inject(crate::support::fakekube::Fault::latency(
        "DELETE",
        &path,
        Duration::from_secs(2),
    ));
    let arrived = env.kube.wait_for(WAIT, |_| {
        env.kube
            .requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path == path)
            .then_some(())
    });
    assert!(arrived.is_some(), "the GC never deleted the idle pod");
    // ...while another replica refreshes the pod.
    let later = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    env.kube
        .patch(
            "pods",
            POD_NAMESPACE,
            &pod,
            json!({ "metadata": { "annotations": { "fn.kpt.dev/reclaim-after": later.to_string() } } }),
        )
        .expect("the other replica's refresh");
    runner.wait_for_log(&format!("kept function pod {POD_NAMESPACE}/{pod}"), WAIT);
    let deletes: Vec<u16> = env
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path == path)
        .map(|r| r.code)
        .collect();
    assert_eq!(deletes, [409], "the stale delete was refused");
    assert!(live_pods(&env).contains(&pod), "the pod survived");
}

// Two replicas on one API for 60 s of mixed load over 3 images, 5 s TTL and
// 1 s scan (issue 13): no call fails, no pod is deleted while a call of
// either replica is in flight on it, and pods left idle are collected.
#[test]
fn two_replicas_under_mixed_load_never_delete_a_pod_in_use() {
    const LOAD: Duration = Duration::from_secs(60);
    let env = PodEnv::start();
    let flags = ["--pod-ttl=5s", "--scan-interval=1s"];
    let replicas = [env.serve(&flags), env.serve(&flags)];
    let images = [
        env.images.set_namespace.clone(),
        env.images.cat.clone(),
        env.images.slow.clone(),
    ];
    let started = std::time::Instant::now();
    // Phases: all three images for the first third, then set-namespace and
    // slow, then set-namespace alone: cat's and slow's pods go idle and must
    // be collected while the others keep serving.
    let in_phase = |elapsed: Duration| -> usize {
        match elapsed.as_secs() {
            0..=19 => 3,
            20..=39 => 2,
            _ => 1,
        }
    };
    let order = [0usize, 2, 1];
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let runner = &replicas[worker % 2];
                let (images, env) = (&images, &env);
                s.spawn(move || {
                    let mut failures = Vec::new();
                    let mut n = worker;
                    while started.elapsed() < LOAD {
                        let pick = order[n % in_phase(started.elapsed())];
                        n += 1;
                        let input = if pick == 2 {
                            slow_input(env.dir(), worker * 10_000 + n)
                        } else {
                            crate::support::pods::sample_resource_list()
                        };
                        if let Err(e) = runner.eval(&images[pick], &input, Some(WAIT)) {
                            failures.push(format!("{}: {e}", images[pick]));
                        }
                        // Gaps of 0-700 ms between a worker's calls.
                        std::thread::sleep(Duration::from_millis((n as u64 * 137) % 700));
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} failed calls: {failures:#?}\nA:\n{}\nB:\n{}",
        failures.len(),
        replicas[0].log().text(),
        replicas[1].log().text()
    );
    // Every delete the API accepted came while no call was on the pod.
    let deletes: Vec<_> = env
        .kube
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE" && r.path.starts_with(PODS_PATH) && r.code == 200)
        .collect();
    for delete in &deletes {
        let name = delete.path.rsplit('/').next().unwrap_or_default();
        let busy: Vec<_> = env
            .wrapper_calls(name)
            .into_iter()
            .filter(|c| c.in_flight_at(delete.at))
            .collect();
        assert!(busy.is_empty(), "pod {name} deleted during calls {busy:?}");
    }
    // cat's pods, idle for the last 40 s, are gone.
    let cat_id = id_of(&env, &env.images.cat);
    env.wait_for_pods("without cat's pods", |pods| {
        pods.iter()
            .filter(|p| p.name.starts_with(&cat_id))
            .all(|p| p.deleting)
    });
    assert!(!deletes.is_empty(), "idle pods were collected");
}
