//! The pod watch: store follows adds/changes/deletes, resumes after a
//! dropped stream without relisting, relists after 410 (ERROR event), moves
//! with bookmarks, and stops; per-pod subscriptions and the index; a start
//! failure seen through the watch.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fn_runner::kube::{Client, PodWatch, Store, Waited, WatchOptions};
use serde_json::{json, Value};

use super::client;
use crate::support::fakekube::kubelet::{Kubelet, Outcome};
use crate::support::fakekube::{FakeKube, Fault, Options};

const NS: &str = "porch-fn-system";
const SELECTOR: &str = "fn.kpt.dev/image";
const WAIT: Duration = Duration::from_secs(20);

fn options() -> WatchOptions {
    WatchOptions {
        server_timeout: Duration::from_secs(60),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..WatchOptions::default()
    }
}

fn pod(name: &str, labelled: bool) -> Value {
    let labels = if labelled {
        json!({SELECTOR: name})
    } else {
        json!({"other": "x"})
    };
    json!({"metadata": {"name": name, "labels": labels},
           "spec": {"containers": [{"name": "function", "image": "i"}]}})
}

fn start(fake: &FakeKube) -> (Arc<Client>, PodWatch) {
    let c = client(fake);
    let w = PodWatch::start(Arc::clone(&c), NS, SELECTOR, options());
    (c, w)
}

/// Waits until the store holds exactly the fake's labelled pods, with the
/// same resourceVersions.
fn converged(fake: &FakeKube, store: &Store) {
    let want = || -> BTreeSet<(String, String)> {
        fake.objects("pods", NS)
            .iter()
            .filter(|p| !p["metadata"]["labels"][SELECTOR].is_null())
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                    p["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .collect()
    };
    let got = store.wait_for(WAIT, |pods| {
        let have: BTreeSet<(String, String)> = pods
            .values()
            .map(|p| {
                (
                    p.metadata.name.clone().unwrap_or_default(),
                    p.metadata.resource_version.clone().unwrap_or_default(),
                )
            })
            .collect();
        (have == want()).then_some(())
    });
    assert!(
        got.is_some(),
        "store never matched the server: {:?} vs {:?}",
        store.list().len(),
        want()
    );
}

/// Waits until the watch's counters satisfy `done`.
fn wait_stats(store: &Store, done: impl Fn(&fn_runner::kube::WatchStats) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(&store.stats()) {
        assert!(
            Instant::now() < deadline,
            "stats never got there: {:?}",
            store.stats()
        );
        // Wakes on every store change or after 200 ms.
        store.wait_for(Duration::from_millis(200), |_| None::<()>);
    }
}

#[test]
fn store_follows_adds_changes_and_deletes() {
    // A long grace period, so the terminating state is surely observed.
    let fake = FakeKube::with_options(Options {
        pod_deletion_delay: Duration::from_secs(1),
        ..Options::default()
    });
    fake.create("pods", NS, pod("before", true)).expect("seed");
    let (_c, w) = start(&fake);
    let store = w.store();
    converged(&fake, store);
    assert!(store.is_synced());
    fake.create("pods", NS, pod("a", true)).expect("a");
    fake.create("pods", NS, pod("unlabelled", false))
        .expect("other");
    converged(&fake, store);
    assert!(store.get("unlabelled").is_none());
    // Leaving the selector is a DELETED event, entering it an ADDED one.
    fake.patch(
        "pods",
        NS,
        "unlabelled",
        json!({"metadata": {"labels": {SELECTOR: "now"}}}),
    )
    .expect("label it");
    converged(&fake, store);
    assert!(store.get("unlabelled").is_some());
    fake.patch(
        "pods",
        NS,
        "unlabelled",
        json!({"metadata": {"labels": {SELECTOR: null}}}),
    )
    .expect("unlabel it");
    converged(&fake, store);
    assert!(store.get("unlabelled").is_none());
    fake.set_pod_status(
        NS,
        "a",
        json!({"phase": "Running", "podIP": "127.0.0.9",
        "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    let ready = store.wait_for(WAIT, |pods| pods.get("a").filter(|p| p.is_ready()).cloned());
    assert_eq!(ready.expect("a ready").pod_ip(), Some("127.0.0.9"));
    fake.delete("pods", NS, "before").expect("delete");
    // Graceful: first terminating (deletionTimestamp), then gone.
    store
        .wait_for(WAIT, |pods| {
            pods.get("before")
                .filter(|p| p.is_terminating())
                .map(|_| ())
        })
        .expect("terminating pod seen");
    fake.wait_for(WAIT, |s| s.get("pods", NS, "before").is_err().then_some(()))
        .expect("pod gone after its grace period");
    converged(&fake, store);
    assert!(store.get("before").is_none());
    assert_eq!(store.stats().lists, 1);
}

#[test]
fn resumes_after_a_dropped_stream_without_relisting() {
    let fake = FakeKube::start();
    let (_c, w) = start(&fake);
    let store = w.store();
    fake.create("pods", NS, pod("a", true)).expect("a");
    converged(&fake, store);
    let watches_before = store.stats().watches;
    for round in 0..3 {
        fake.drop_watches();
        fake.create("pods", NS, pod(&format!("p{round}"), true))
            .expect("create");
        fake.patch(
            "pods",
            NS,
            "a",
            json!({"metadata": {"annotations": {"round": round.to_string()}}}),
        )
        .expect("patch");
        converged(&fake, store);
    }
    fake.delete("pods", NS, "p0").expect("delete");
    converged(&fake, store);
    let stats = store.stats();
    assert_eq!(
        stats.lists, 1,
        "a dropped stream resumes from its rv: {stats:?}"
    );
    assert!(stats.watches > watches_before, "{stats:?}");
    assert_eq!(
        store.get("a").expect("a").metadata.annotations["round"],
        "2"
    );
}

#[test]
fn relists_after_410_without_losing_or_duplicating_pods() {
    let fake = FakeKube::start();
    let (_c, w) = start(&fake);
    let store = w.store();
    fake.create("pods", NS, pod("a", true)).expect("a");
    fake.create("pods", NS, pod("b", true)).expect("b");
    converged(&fake, store);
    // The open watch's rv falls out of the window: ERROR 410 event.
    fake.create_and_compact("pods", NS, pod("c", true));
    converged(&fake, store);
    assert!(store.stats().lists >= 2, "{:?}", store.stats());
    // And while disconnected: delete + compact, then the reconnect gets 410.
    fake.drop_watches();
    fake.delete("pods", NS, "a").expect("delete a");
    fake.create_and_compact("pods", NS, pod("d", true));
    converged(&fake, store);
    let names: Vec<String> = store
        .list()
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(names.len(), unique.len(), "duplicates: {names:?}");
    assert!(names.contains(&"d".to_owned()));
}

#[test]
fn relists_after_an_http_410_and_survives_watch_errors() {
    let fake = FakeKube::start();
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    // Older servers answer an expired watch with HTTP 410 itself; and a
    // watch request may fail outright (here: 503 then 403).
    fake.inject(Fault::status("GET", &pods_path, 410).only_watch(true));
    fake.inject(Fault::status("GET", &pods_path, 403).only_watch(true));
    let (_c, w) = start(&fake);
    let store = w.store();
    wait_stats(store, |s| s.lists >= 2 && s.watches >= 1);
    fake.create("pods", NS, pod("a", true)).expect("a");
    converged(&fake, store);
    fake.inject(
        Fault::status("GET", &pods_path, 503)
            .only_watch(true)
            .times(2),
    );
    fake.drop_watches();
    fake.create("pods", NS, pod("b", true)).expect("b");
    converged(&fake, store);
}

#[test]
fn bookmarks_advance_the_resource_version() {
    let fake = FakeKube::with_options(Options {
        bookmark_interval: Duration::from_millis(100),
        ..Options::default()
    });
    let (_c, w) = start(&fake);
    let store = w.store();
    fake.create("pods", NS, pod("a", true)).expect("a");
    converged(&fake, store);
    // A change the selector does not match moves the global rv only.
    fake.create("secrets", NS, json!({"metadata": {"name": "s"}}))
        .expect("secret");
    let target = fake.resource_version().to_string();
    let deadline = Instant::now() + WAIT;
    while store.resource_version() != target {
        assert!(
            Instant::now() < deadline,
            "bookmark never arrived: {} vs {target}",
            store.resource_version()
        );
        // Wakes on every store change (bookmarks included) or after 200 ms.
        store.wait_for(Duration::from_millis(200), |_| None::<()>);
    }
    assert_eq!(store.stats().lists, 1);
}

#[test]
fn stop_ends_the_thread() {
    let fake = FakeKube::start();
    let (_c, w) = start(&fake);
    w.store().wait_for(WAIT, |_| Some(())).expect("synced");
    w.stop();
    fake.drop_watches();
    let deadline = Instant::now() + WAIT;
    while !w.is_finished() {
        assert!(Instant::now() < deadline, "watch thread did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Creates a pod as the pod runtime does (generateName, label = pod id);
/// returns its name.
fn create_for(c: &Client, pod_id: &str, image: &str) -> String {
    let pod = json!({
        "metadata": {"generateName": format!("{pod_id}-"), "labels": {SELECTOR: pod_id}},
        "spec": {"containers": [{"name": "function", "image": image}]}});
    let created = c
        .pods(NS)
        .create(&serde_json::from_value(pod).expect("pod"))
        .expect("create");
    created.metadata.name.expect("generated name")
}

#[test]
fn a_subscription_wakes_for_its_own_pod_id_only() {
    let fake = FakeKube::start();
    let (c, w) = start(&fake);
    let store = w.store();
    assert!(store.wait_synced(Instant::now() + WAIT), "synced");
    let mut mine = store.subscribe_label("fn-a");
    assert!(mine.pods().is_empty());
    // Another function's pod: the store sees it, this subscription does not.
    fake.create("pods", NS, pod("fn-b", true)).expect("b");
    store
        .wait_for(WAIT, |pods| pods.get("fn-b").map(|_| ()))
        .expect("b in the store");
    assert!(!mine.has_changed());
    // Ours.
    let name = create_for(&c, "fn-a", "i");
    let deadline = Instant::now() + WAIT;
    assert_eq!(mine.wait(deadline), Waited::Changed);
    let pods = mine.pods();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(store.labelled("fn-a"), pods);
    // It becomes ready: waiting on the pod itself now.
    let mut own = store.subscribe_pod(&name);
    assert!(!own.pods()[0].is_ready());
    fake.set_pod_status(
        NS,
        &name,
        json!({"phase": "Running", "podIP": "127.0.0.7",
               "conditions": [{"type": "Ready", "status": "True"}]}),
    );
    let ready = loop {
        assert_eq!(own.wait(deadline), Waited::Changed);
        if let Some(p) = own.pods().into_iter().find(|p| p.is_ready()) {
            break p;
        }
    };
    assert_eq!(ready.pod_ip(), Some("127.0.0.7"));
    // A caller that gives up interrupts its own wait.
    let stop = own.interrupter();
    std::thread::spawn(move || stop.interrupt());
    assert_eq!(own.wait(deadline), Waited::Interrupted);
}

#[test]
fn a_pod_that_cannot_pull_its_image_says_why_through_the_watch() {
    let fake = FakeKube::start();
    let x509 = "Failed to pull image \"127.0.0.1:5000/fn:v1\": tls: failed to verify certificate: x509: certificate signed by unknown authority";
    let kubelet = Kubelet::start(&fake, Duration::from_millis(10), move |_| {
        Outcome::Waiting {
            reason: "ErrImagePull".to_owned(),
            message: x509.to_owned(),
        }
    });
    let (c, w) = start(&fake);
    let store = w.store();
    assert!(store.wait_synced(Instant::now() + WAIT), "synced");
    let mut sub = store.subscribe_label("fn-x");
    create_for(&c, "fn-x", "127.0.0.1:5000/fn:v1");
    let deadline = Instant::now() + WAIT;
    let failure = loop {
        if let Some(f) = sub.pods().iter().find_map(|p| p.waiting_reason()) {
            break f;
        }
        assert_eq!(sub.wait(deadline), Waited::Changed, "no failure seen");
    };
    assert_eq!(failure.container.as_deref(), Some("function"));
    assert_eq!(failure.reason, "ErrImagePull");
    assert_eq!(failure.message, x509);
    drop(kubelet);
}
