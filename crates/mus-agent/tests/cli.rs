//! The binary itself: exit statuses and output, against the fake API server.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::bpffs::BpfFs;
use common::child::{AgentFiles, exit_within, spawn_logged, watch_command};
use common::cluster::Cluster;
use common::{FakeApi, PodSpecOf, Reply, State, a_node, pod, pod_list};
use hyper::StatusCode;
use mus_common::{CgroupId, PrioMap, Weight};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mus-agent"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run mus-agent")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    let out = agent(&["boost"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = agent(&["boost", "a/b", "--pid", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn failures_exit_1_with_one_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pin = dir.path().join("high_prio_cgroups");
    let pin = pin.to_str().expect("utf-8");
    let out = agent(&["boost", "shop/web", "--weight", "0", "--pin-path", pin]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("weight 0 is out of range"),
        "{}",
        stderr(&out)
    );

    let root = node_tree();
    let root = root.path().to_str().expect("utf-8");
    let out = agent(&[
        "boost",
        "--cgroup",
        "/system.slice/redis.service",
        "--cgroup-root",
        root,
        "--pin-path",
        pin,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    // As root the runner hint, as another user the privilege hint: one line each.
    assert!(
        err.contains("start mus-runner") || err.contains("must run as root"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_json_through_a_kubeconfig_file() {
    let api = FakeApi::start(|_| {
        let web = pod(PodSpecOf {
            namespace: "shop",
            name: "web",
            uid: "55555555-5555-5555-5555-555555555555",
            node: "node-a",
            qos: "BestEffort",
            phase: "Running",
            containers: vec![("nginx", "containerd://abc", State::Running)],
        });
        Reply::Json(StatusCode::OK, pod_list(vec![web]))
    })
    .await;
    let files = AgentFiles::new(&api.url());
    let out = agent_async(strings(&[
        "list",
        "--json",
        "--node",
        "node-a",
        "--kubeconfig",
        &files.kubeconfig,
        "--pin-path",
        &files.pin,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["namespace"], "shop");
    assert_eq!(rows[0]["container"], "nginx");
    assert_eq!(rows[0]["container_id"]["id"], "abc");
    assert_eq!(rows[0]["boost"], serde_json::Value::Null);
    assert!(
        stderr(&out).contains("boosts not shown"),
        "{}",
        stderr(&out)
    );
    assert!(
        api.requests()[0]
            .query
            .contains("fieldSelector=spec.nodeName%3Dnode-a"),
        "{:?}",
        api.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_api_server_is_one_sentence() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let files = AgentFiles::new(&format!("http://{addr}"));
    let out = agent_async(strings(&[
        "list",
        "--node",
        "n",
        "--kubeconfig",
        &files.kubeconfig,
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("is unreachable") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// Runs the agent on a blocking thread (the fake API server needs the runtime).
async fn agent_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        agent(&args)
    })
    .await
    .expect("join")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A cgroup tree shaped like a systemd node's, under a temporary directory.
fn node_tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    for dir in [
        "init.scope",
        "web",
        "system.slice/redis.service",
        "user.slice",
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).expect("mkdir");
    }
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn a_404_from_something_that_is_not_kubernetes_says_so() {
    // What `kubectl proxy`'s neighbour, an ingress or a plain web server answers.
    let api =
        FakeApi::start(|_| Reply::Json(StatusCode::NOT_FOUND, "404 page not found".to_string()))
            .await;
    let files = AgentFiles::new(&api.url());
    for args in [
        strings(&["list", "--node", "n", "--kubeconfig", &files.kubeconfig]),
        strings(&[
            "boost",
            "shop/web",
            "--node",
            "n",
            "--kubeconfig",
            &files.kubeconfig,
            "--pin-path",
            &files.pin,
        ]),
    ] {
        let out = agent_async(args.clone()).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("not a Kubernetes API server") && err.contains(&api.url()),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("was not found") && !err.contains("mus-runner"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn a_negative_weight_is_out_of_range_not_a_flag() {
    let out = agent(&["boost", "shop/web", "--weight", "-5"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("weight -5 is out of range: use 1 to 65536"),
        "{err}"
    );
    assert!(!err.contains("-- -5"), "{err}");
}

#[test]
fn a_broken_kubeconfig_is_one_sentence_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nclusters: [\n  - name: f\n    cluster: {server: \n",
    )
    .expect("write");
    let kc = kc.display().to_string();
    let out = agent(&["list", "--node", "n", "--kubeconfig", &kc]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "no YAML code frame:\n{err}");
    assert!(err.contains(&kc), "{err}");
    assert!(!err.contains("pass --kubeconfig"), "it was passed: {err}");
}

#[test]
fn no_subcommand_without_a_terminal_is_a_usage_error() {
    // `output()` gives the child no stdin and pipes for stdout and stderr.
    let out = agent(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("needs a terminal") && err.contains("list"),
        "{err}"
    );
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "no escape sequences: {:?} {err:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn node_wide_cgroups_are_refused_without_force() {
    let root = node_tree();
    let root_arg = root.path().display().to_string();
    let pin = root.path().join("no-map").display().to_string();
    let boost = |target: &[&str]| {
        let mut args = vec!["boost", "--cgroup-root", &root_arg, "--pin-path", &pin];
        args.extend(target);
        agent(&args)
    };
    for cgroup in [
        "/",
        "/init.scope",
        "/system.slice",
        "/user.slice",
        "/kubepods.slice",
        "/kubepods.slice/kubepods-burstable.slice",
    ] {
        let out = boost(&["--cgroup", cgroup]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{cgroup}: {err}");
        assert!(
            err.contains("refusing to boost") && err.contains("--force"),
            "{cgroup}: {err}"
        );
        assert!(!err.contains("mus-runner"), "refused before the map: {err}");
        // With --force the refusal is lifted: what stops it now is the missing map.
        let out = boost(&["--cgroup", cgroup, "--force"]);
        assert!(
            stderr(&out).contains("no map is pinned"),
            "{cgroup}: {}",
            stderr(&out)
        );
    }
    // One service, one pod or one group made by hand is what boosting is for.
    for cgroup in [
        "/web",
        "/system.slice/redis.service",
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice",
    ] {
        let out = boost(&["--cgroup", cgroup]);
        assert!(
            stderr(&out).contains("no map is pinned"),
            "{cgroup}: {}",
            stderr(&out)
        );
    }
    // PID 1's cgroup is the root or init.scope: node-wide either way.
    let out = agent(&["boost", "--pid", "1", "--pin-path", &pin]);
    assert!(
        stderr(&out).contains("refusing to boost"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_target_is_reported_before_a_missing_runner() {
    let root = node_tree();
    let root_arg = root.path().display().to_string();
    let pin = root.path().join("no-map").display().to_string();
    let out = agent(&[
        "boost",
        "--cgroup",
        "/nope.service",
        "--cgroup-root",
        &root_arg,
        "--pin-path",
        &pin,
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not exist") && !err.contains("mus-runner"),
        "{err}"
    );
}

#[test]
fn the_missing_runner_hint_fits_where_the_agent_runs() {
    let root = node_tree();
    let root_arg = root.path().display().to_string();
    let pin = root.path().join("no-map").display().to_string();
    let args = [
        "boost",
        "--cgroup",
        "/system.slice/redis.service",
        "--cgroup-root",
        &root_arg,
        "--pin-path",
        &pin,
    ];
    let on_host = agent(&args);
    assert!(
        stderr(&on_host).contains("systemctl start mus-runner"),
        "{}",
        stderr(&on_host)
    );
    // Inside the DaemonSet's pod (the kubelet sets this in every container).
    let in_pod = Command::new(env!("CARGO_BIN_EXE_mus-agent"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
        .output()
        .expect("run mus-agent");
    let err = stderr(&in_pod);
    assert_eq!(in_pod.status.code(), Some(1), "{err}");
    assert!(!err.contains("systemctl"), "{err}");
    assert!(err.contains("runner container"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_logs_have_no_colours_when_stderr_is_not_a_terminal() {
    let api = FakeApi::start(|_| Reply::Json(StatusCode::OK, pod_list(vec![]))).await;
    let files = AgentFiles::new(&api.url());
    let (mut child, log) = spawn_logged(
        watch_command(&files)
            .args(["--metrics-addr", "127.0.0.1:0"])
            .env_remove("NO_COLOR"),
    );
    let seen = log
        .wait_for_async("no map is pinned", Duration::from_secs(20))
        .await;
    let _ = child.kill();
    let _ = child.wait();
    let log = log.text();
    assert!(seen.is_some(), "{log}");
    assert!(
        !log.contains('\x1b'),
        "ANSI escapes in a piped log: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_refuses_a_cgroup_root_that_is_not_cgroup2() {
    // A plain directory, as /sys/fs/cgroup (a tmpfs) is on a hybrid host: its
    // directories' inode numbers are not cgroup IDs. Everything else is in order.
    let api = idle_cluster().await;
    let files = AgentFiles::new(&api.url());
    let root = node_tree();
    let root_arg = root.path().display().to_string();
    let (mut child, log) = spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_mus-agent"))
            .args(["watch", "--node", "n", "--listen", "127.0.0.1:0"])
            .args(["--kubeconfig", &files.kubeconfig, "--pin-path", &files.pin])
            .args(["--cgroup-root", &root_arg])
            .env_remove("KUBECONFIG")
            .stderr(std::process::Stdio::piped()),
    );
    let ended = tokio::task::block_in_place(|| exit_within(&mut child, Duration::from_secs(20)));
    let _ = (child.kill(), child.wait());
    let err = log.text();
    assert_eq!(ended.and_then(|s| s.code()), Some(1), "it ran on: {err}");
    assert!(
        err.contains(&format!("{root_arg} is not a cgroup2 mount")) && !err.contains("serving"),
        "{err}"
    );
}

/// A cluster with the daemons' Node ("n", reporting no boot ID) and no pods.
async fn idle_cluster() -> Cluster {
    let api = Cluster::start().await;
    api.add_node(a_node("n", "2", ""));
    api
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_one_map_stops_and_names_the_first() {
    let api = idle_cluster().await;
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(16);
    let mut files = AgentFiles::new(&api.url());
    files.pin = bpf.pin().display().to_string();
    let listen = ["--listen", "127.0.0.1:0"];
    let (mut first, first_log) = spawn_logged(watch_command(&files).args(listen));
    let opened = first_log
        .wait_for_async("opened the scheduler's map", Duration::from_secs(20))
        .await;
    assert!(opened.is_some(), "{}", first_log.text());

    let (mut second, second_log) = spawn_logged(watch_command(&files).args(listen));
    let ended = tokio::task::block_in_place(|| exit_within(&mut second, Duration::from_secs(20)));
    let still_running = exit_within(&mut first, Duration::ZERO).is_none();
    let _ = (second.kill(), second.wait(), first.kill(), first.wait());
    let err = second_log.text();
    assert_eq!(
        ended.and_then(|s| s.code()),
        Some(1),
        "the second daemon ran on: {err}"
    );
    assert!(
        err.contains(&format!("another mus-agent watch (pid {})", first.id()))
            && err.contains(&format!("the map pinned at {}", files.pin)),
        "{err}"
    );
    assert!(
        still_running,
        "the first daemon goes on: {}",
        first_log.text()
    );

    // A dry run writes nothing, so it may look on beside the daemon.
    let (mut third, _) = spawn_logged(watch_command(&files).args(listen));
    let (mut dry, dry_log) = spawn_logged(watch_command(&files).args(listen).arg("--dry-run"));
    let locked = tokio::task::block_in_place(|| exit_within(&mut third, Duration::from_secs(2)));
    let dry_ran = dry_log
        .wait_for_async("opened the scheduler's map", Duration::from_secs(20))
        .await;
    let _ = (third.kill(), third.wait(), dry.kill(), dry.wait());
    assert_eq!(
        locked, None,
        "the lock is free again once its holder is gone"
    );
    assert!(dry_ran.is_some(), "{}", dry_log.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_warns_of_selectors_a_tenant_could_satisfy() {
    let api = idle_cluster().await;
    let files = AgentFiles::new(&api.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "priorityClasses: {critical: 4096}\nclassNamespaceSelector: {matchLabels: {tier: web}}\n",
    )
    .expect("write");
    let (mut child, log) = spawn_logged(
        watch_command(&files)
            .args(["--listen", "127.0.0.1:0", "--policy"])
            .arg(&policy),
    );
    let warned = log
        .wait_for_async(
            "classNamespaceSelector: selects namespaces by labels",
            Duration::from_secs(20),
        )
        .await;
    let _ = (child.kill(), child.wait());
    let warned = warned.unwrap_or_else(|| panic!("no warning:\n{}", log.text()));
    assert!(warned.contains(&policy.display().to_string()), "{warned}");
    assert!(warned.contains("mus.patos.dev/boost"), "{warned}");
}

/// `mus-agent ARGS` through setpriv (util-linux), `who` being its user and
/// capability options.
fn agent_as(who: &[&str], args: &[&str]) -> Output {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test switches users: run it as root"
    );
    Command::new("setpriv")
        .args(who)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_mus-agent"))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run setpriv")
}

/// setpriv's options for user 65534 with `caps` ("-all" or e.g. "+bpf") inherited
/// and ambient, so that they survive the exec.
fn nobody_with(caps: &str) -> Vec<&str> {
    vec![
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "--inh-caps",
        caps,
        "--ambient-caps",
        caps,
    ]
}

#[test]
fn the_pins_mode_decides_not_cap_bpf() {
    let bpf = BpfFs::mount();
    let _map = bpf.create_map(16);
    let id = CgroupId(42);
    let map = PrioMap::open(&bpf.pin()).expect("open");
    map.set(id, Weight::new(4096).expect("weight"))
        .expect("set");
    let pin = bpf.pin().display().to_string();
    let unboost = ["unboost", "--id", "42", "--pin-path", &pin];

    // Neither root nor a capability: refused before the kernel is asked.
    let out = agent_as(&nobody_with("-all"), &unboost);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("must run as root"), "{err}");
    // CAP_BPF passes that check, but not the pin's mode (root's, 0600): the kernel
    // refuses the open, and the sentence says what is needed instead.
    let out = agent_as(&nobody_with("+bpf"), &unboost);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("permission denied opening")
            && err.contains("as root")
            && err.contains("access to the pin"),
        "{err}"
    );
    assert!(map.get(id).expect("get").is_some(), "nothing was removed");
    // uid 0 with no capability at all, as the DaemonSet's agent runs: the pin is
    // its own file, and that is enough.
    let out = agent_as(&["--bounding-set", "-all", "--inh-caps", "-all"], &unboost);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unboosted cgroup ID 42"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(map.get(id).expect("get"), None);
}

/// A cgroup-like tree for `plan`: the kubelet's slices with `cpu.weight` files and
/// an idle `cpu.stat` everywhere, `plain` without the cpu controller.
fn plan_tree() -> tempfile::TempDir {
    let root = node_tree();
    let pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice";
    let with_weights = ["web", "system.slice", "kubepods.slice", pod];
    for dir in with_weights {
        std::fs::write(root.path().join(dir).join("cpu.weight"), "100\n").expect("weight");
    }
    std::fs::create_dir_all(root.path().join("web/plain")).expect("mkdir");
    root
}

/// A boost object's YAML in a file: the directory (removed on drop) and the path.
fn boost_yaml(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("boost.yaml");
    std::fs::write(&file, text).expect("write");
    let file = file.to_str().expect("utf-8").to_string();
    (dir, file)
}

/// `plan ARGS` on the tree `root`, as node `node-a` of the fake cluster of `files`,
/// sampling for a tenth of a second.
async fn plan_on_node_a(root: &tempfile::TempDir, files: &AgentFiles, args: &[&str]) -> Output {
    let mut all = strings(&[
        "plan",
        "--sample",
        "0.1",
        "--cgroup-root",
        root.path().to_str().expect("utf-8"),
        "--node",
        "node-a",
        "--kubeconfig",
        &files.kubeconfig,
        "--pin-path",
        &files.pin,
    ]);
    all.extend(strings(args));
    agent_async(all).await
}

fn plan(root: &tempfile::TempDir, args: &[&str]) -> Output {
    let root = root.path().to_str().expect("utf-8");
    let mut all = vec!["plan", "--cgroup-root", root];
    all.extend_from_slice(args);
    if !args.contains(&"--sample") {
        all.extend(["--sample", "0.1"]);
    }
    agent(&all)
}

#[test]
fn plan_refuses_bad_input_with_one_sentence() {
    let root = plan_tree();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--cgroup", "/web", "--weight", "0"],
            "weight 0 is out of range: use 1 to 65536",
        ),
        (
            &["--cgroup", "/web", "--weight", "70000"],
            "weight 70000 is out of range",
        ),
        (&["--cgroup", "/nope"], "/nope does not exist"),
        (
            &["--cgroup", "/web/plain"],
            "has no cpu controller (no cpu.weight)",
        ),
        (
            &["--cgroup", "/web", "--sample", "0"],
            "--sample 0 is out of range",
        ),
        (
            &["-f", "/no/such/boost.yaml"],
            "cannot read /no/such/boost.yaml",
        ),
    ];
    for (args, want) in cases {
        let out = plan(&root, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let (_dir, file) = boost_yaml(
        "metadata: {name: b}\nspec:\n  podName: cart\n  weight: 100000\n  duration: 1h\n  reason: r\n",
    );
    let out = plan(&root, &["-f", &file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("spec.weight: weight 100000 is out of range"),
        "{err}"
    );
    // nothing named, or two things: usage errors
    for args in [&[][..], &["--cgroup", "/web", "--pod", "a/b"]] {
        assert_eq!(plan(&root, args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn plan_of_an_idle_tree_says_nothing_is_busy() {
    let root = plan_tree();
    let out = plan(&root, &["--cgroup", "web", "--json", "--weight", "8192"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(plan["weight"], 8192);
    assert_eq!(plan["targets"], serde_json::json!(["/web"]));
    let rows = plan["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "only the target: nothing is busy: {rows:?}");
    assert_eq!(rows[0]["target"], true);
    assert_eq!(rows[0]["before_pct"], 0.0);
    let notes = plan["notes"].to_string();
    assert!(notes.contains("no target is busy now"), "{notes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_refuses_a_pod_elsewhere_and_a_selector_that_matches_nothing() {
    let api = FakeApi::start(|call| {
        if call.path.ends_with("/pods/cart") {
            let cart = pod(PodSpecOf {
                namespace: "shop",
                name: "cart",
                uid: "55555555-5555-5555-5555-555555555555",
                node: "node-b",
                qos: "Burstable",
                phase: "Running",
                containers: vec![("app", "containerd://abc", State::Running)],
            });
            Reply::Json(StatusCode::OK, serde_json::to_string(&cart).expect("json"))
        } else {
            Reply::Json(StatusCode::OK, pod_list(vec![]))
        }
    })
    .await;
    let files = AgentFiles::new(&api.url());
    let root = plan_tree();
    let (_dir, file) = boost_yaml(
        "kind: CPUBoost\nmetadata: {name: b, namespace: shop}\nspec:\n  selector:\n    matchLabels: {app: web}\n  duration: 1h\n  reason: r\n",
    );
    let cases = [
        (
            vec!["--pod", "shop/cart"],
            "pod shop/cart runs on node node-b, not on this node (node-a)",
        ),
        (
            vec!["-f", file.as_str()],
            "the selector app=web matches no running pod of namespace shop on this node (node-a)",
        ),
    ];
    for (args, want) in cases {
        let out = plan_on_node_a(&root, &files, &args).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let selector = api
        .requests()
        .into_iter()
        .find(|c| c.path.ends_with("/namespaces/shop/pods"))
        .expect("the selector's list");
    assert!(
        selector.query.contains("labelSelector=app%3Dweb")
            && selector
                .query
                .contains("fieldSelector=spec.nodeName%3Dnode-a"),
        "{}",
        selector.query
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_names_a_pod_by_its_namespace_and_name() {
    const UID: &str = "11111111-2222-3333-4444-555555555555";
    let api = FakeApi::start(|call| {
        let cart = pod(PodSpecOf {
            namespace: "shop",
            name: "cart",
            uid: UID,
            node: "node-a",
            qos: "Burstable",
            phase: "Running",
            containers: vec![("app", "containerd://abc", State::Running)],
        });
        let body = if call.path.ends_with("/pods/cart") {
            serde_json::to_string(&cart).expect("json")
        } else {
            pod_list(vec![cart])
        };
        Reply::Json(StatusCode::OK, body)
    })
    .await;
    let files = AgentFiles::new(&api.url());
    let root = plan_tree();
    let mut dir = root.path().to_path_buf();
    for part in [
        "kubepods.slice",
        "kubepods-burstable.slice",
        &format!("kubepods-burstable-pod{}.slice", UID.replace('-', "_")),
    ] {
        dir.push(part);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("cpu.weight"), "10\n").expect("weight");
    }
    let out = plan_on_node_a(&root, &files, &["--pod", "shop/cart", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = &plan["rows"][0];
    assert_eq!(row["name"], "shop/cart", "{plan}");
    assert_eq!(row["kind"], "pod", "{plan}");
    assert_eq!(row["target"], true, "{plan}");
    assert_eq!(plan["weight"], 4096, "the default weight: {plan}");
}
