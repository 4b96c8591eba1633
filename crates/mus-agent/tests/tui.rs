//! The TUI's state, keys and drawing, on ratatui's TestBackend.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mus_agent::cgroup::cpu::CpuSampler;
use mus_agent::cgroup::index::{Owner, Scope};
use mus_agent::pod::{ContainerId, ContainerRow, ContainerState, QosClass};
use mus_agent::tui::app::{Action, App, Mode, StaleEntry};
use mus_agent::tui::{collect_items, draw};
use mus_common::Weight;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn row(ns: &str, pod: &str, uid: &str, container: &str, id: &str) -> ContainerRow {
    ContainerRow {
        namespace: ns.into(),
        pod: pod.into(),
        pod_uid: uid.into(),
        cgroup_uid: uid.into(),
        container: container.into(),
        phase: "Running".into(),
        qos: Some(QosClass::BestEffort),
        container_id: ContainerId::parse(&format!("containerd://{id}")),
        state: ContainerState::Running,
    }
}

const CART: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const DNS: &str = "aaaaaaaa-0000-0000-0000-000000000002";

fn rows() -> Vec<ContainerRow> {
    vec![
        row("kube-system", "dns", DNS, "coredns", "d1"),
        row("shop", "cart", CART, "app", "c1"),
        row("shop", "cart", CART, "proxy", "c2"),
    ]
}

/// A cgroupfs-layout tree for `rows()`, with `cpu.stat` files.
fn tree(root: &Path) {
    for (uid, id) in [(DNS, "d1"), (CART, "c1"), (CART, "c2")] {
        let dir = root.join(format!("kubepods/besteffort/pod{uid}/{id}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("cpu.stat"), "usage_usec 1000000\n").expect("write");
    }
}

fn ino(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").ino()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal.draw(|f| draw::draw(f, app)).expect("draw");
    let buffer = terminal.backend().buffer();
    buffer
        .content()
        .chunks(usize::from(width))
        .map(|line| line.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{screen}"))
}

#[test]
fn table_shows_pods_containers_markers_weights_and_cpu() {
    let root = tempfile::tempdir().expect("tempdir");
    tree(root.path());
    let cart_pod = root.path().join(format!("kubepods/besteffort/pod{CART}"));
    let dns_ctr = root.path().join(format!("kubepods/besteffort/pod{DNS}/d1"));
    // The cart pod as a whole, and dns's container alone, are boosted.
    let weights = HashMap::from([(ino(&cart_pod), 8192), (ino(&dns_ctr), 4096)]);
    let mut sampler = CpuSampler::default();
    let t0 = Instant::now();
    collect_items(&rows(), root.path(), &weights, &mut sampler, t0);
    std::fs::write(dns_ctr.join("cpu.stat"), "usage_usec 1250000\n").expect("write");
    let items = collect_items(
        &rows(),
        root.path(),
        &weights,
        &mut sampler,
        t0 + Duration::from_secs(1),
    );

    assert_eq!(items.len(), 5, "two pod lines and three container lines");
    assert_eq!(
        items[1].boost.map(|b| (b.weight, b.scope)),
        Some((4096, Scope::Container))
    );
    assert_eq!(
        items[2].boost.map(|b| (b.weight, b.scope)),
        Some((8192, Scope::Pod))
    );
    assert_eq!(
        items[4].boost.map(|b| b.scope),
        Some(Scope::Pod),
        "a pod boost covers every container"
    );

    let mut app = App::new("node-a".into());
    app.set_viewport(draw::table_rows(&app, 110, 14));
    app.set_items(items);
    let s = screen(&app, 110, 14);
    assert!(s.contains("node node-a"), "{s}");
    let coredns = line_with(&s, "└ coredns");
    assert!(
        coredns.contains('●') && coredns.contains("4096") && coredns.contains("25.0"),
        "{coredns}"
    );
    let cart = line_with(&s, " cart ");
    assert!(cart.contains('●') && cart.contains("8192"), "{cart}");
    let proxy = line_with(&s, "└ proxy");
    assert!(
        proxy.contains('○') && proxy.contains("8192"),
        "inherited marker: {proxy}"
    );
    let dns = line_with(&s, " dns ");
    assert!(!dns.contains('●') && !dns.contains('○'), "{dns}");
    assert!(
        s.contains("Enter/b boost") && s.contains("q quit"),
        "help line:\n{s}"
    );
}

fn app_with_rows() -> App {
    let root = tempfile::tempdir().expect("tempdir");
    tree(root.path());
    let items = collect_items(
        &rows(),
        root.path(),
        &HashMap::new(),
        &mut CpuSampler::default(),
        Instant::now(),
    );
    let mut app = App::new("node-a".into());
    app.set_items(items);
    app
}

#[test]
fn keys_move_boost_unboost_and_set_weights() {
    let mut app = app_with_rows();
    assert_eq!(
        app.selected_item().map(|i| i.label()).as_deref(),
        Some("pod kube-system/dns")
    );
    assert_eq!(app.handle_key(key(KeyCode::Char('j'))), None);
    assert_eq!(app.handle_key(key(KeyCode::Down)), None);
    assert_eq!(
        app.selected_item().map(|i| i.label()).as_deref(),
        Some("pod shop/cart")
    );
    app.handle_key(key(KeyCode::Char('k')));
    assert_eq!(
        app.selected_item().map(|i| i.label()).as_deref(),
        Some("container kube-system/dns/coredns")
    );

    let Some(Action::Boost(item, weight)) = app.handle_key(key(KeyCode::Enter)) else {
        panic!("Enter boosts")
    };
    assert_eq!(
        (item.label().as_str(), weight),
        ("container kube-system/dns/coredns", Weight::default())
    );
    assert!(matches!(
        app.handle_key(key(KeyCode::Char('b'))),
        Some(Action::Boost(..))
    ));
    assert!(
        matches!(app.handle_key(key(KeyCode::Char('u'))), Some(Action::Unboost(i)) if i.container.as_deref() == Some("coredns"))
    );

    // w, digits, Enter: the new weight is remembered and applied to the line.
    assert_eq!(app.handle_key(key(KeyCode::Char('w'))), None);
    for c in "8192".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    assert!(screen(&app, 100, 12).contains("weight (1-65536, 1024 = normal): 8192_"));
    let Some(Action::Boost(_, weight)) = app.handle_key(key(KeyCode::Enter)) else {
        panic!("w applies")
    };
    assert_eq!(weight.get(), 8192);
    assert_eq!(app.weight.get(), 8192);

    app.handle_key(key(KeyCode::Char('w')));
    app.handle_key(key(KeyCode::Char('0')));
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        None,
        "a bad weight boosts nothing"
    );
    assert!(
        app.message
            .as_ref()
            .is_some_and(|m| m.error && m.text.contains("out of range"))
    );
    assert!(screen(&app, 100, 12).contains("weight 0 is out of range"));

    assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Some(Action::Quit));
    assert_eq!(
        app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Some(Action::Quit)
    );
}

#[test]
fn filter_narrows_the_table() {
    let mut app = app_with_rows();
    app.handle_key(key(KeyCode::Char('/')));
    assert_eq!(app.mode, Mode::Filter);
    for c in "prox".chars() {
        app.handle_key(key(KeyCode::Char(c)));
    }
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.visible_count(), 1);
    let s = screen(&app, 100, 12);
    assert!(
        s.contains("└ proxy") && !s.contains("coredns") && s.contains("filter /prox"),
        "{s}"
    );
    // Esc in normal mode clears the filter before it would quit.
    assert_eq!(app.handle_key(key(KeyCode::Esc)), None);
    assert_eq!(app.visible_count(), 5);
}

#[test]
fn stale_view_lists_and_deletes_entries() {
    let mut app = app_with_rows();
    assert_eq!(
        app.handle_key(key(KeyCode::Char('s'))),
        Some(Action::LoadStale)
    );
    app.set_stale(vec![
        StaleEntry {
            id: 4242,
            weight: 4096,
            owner: Owner::Stale,
        },
        StaleEntry {
            id: 77,
            weight: 2048,
            owner: Owner::Cgroup {
                path: "/sys/fs/cgroup/system.slice/redis.service".into(),
            },
        },
    ]);
    let s = screen(&app, 100, 12);
    assert!(s.contains("map entries no listed pod explains: 2"), "{s}");
    assert!(
        line_with(&s, "4242").contains("stale (no such cgroup)"),
        "{s}"
    );
    assert!(s.contains("d delete entry"), "{s}");
    app.handle_key(key(KeyCode::Char('j')));
    assert_eq!(
        app.handle_key(key(KeyCode::Char('d'))),
        Some(Action::DeleteEntry(77))
    );
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn hundreds_of_pods_render_one_screenful_and_keep_the_selection() {
    let rows: Vec<ContainerRow> = (0..400)
        .map(|n| {
            row(
                "load",
                &format!("pod-{n:03}"),
                &format!("bbbbbbbb-0000-0000-0000-{n:012}"),
                "app",
                &format!("x{n}"),
            )
        })
        .collect();
    let root = tempfile::tempdir().expect("tempdir");
    let items = collect_items(
        &rows,
        root.path(),
        &HashMap::new(),
        &mut CpuSampler::default(),
        Instant::now(),
    );
    assert_eq!(items.len(), 800);
    let mut app = App::new("node-a".into());
    app.set_viewport(draw::table_rows(&app, 80, 16));
    app.set_items(items.clone());
    assert_eq!(app.window().count(), 10);

    app.handle_key(key(KeyCode::End));
    let window: Vec<_> = app.window().collect();
    assert_eq!(window.len(), 10);
    assert!(
        window
            .last()
            .is_some_and(|(item, selected)| *selected && item.row.pod == "pod-399")
    );
    let s = screen(&app, 100, 16);
    assert!(s.contains("pod-399") && !s.contains("pod-000"), "{s}");

    app.handle_key(key(KeyCode::PageUp));
    let selected = app.selected_item().map(|i| i.label());
    // A refresh (same pods, new figures) keeps the cursor on the same line.
    app.set_items(items);
    assert_eq!(app.selected_item().map(|i| i.label()), selected);
    app.handle_key(key(KeyCode::Char('g')));
    assert_eq!(
        app.selected_item().map(|i| i.row.pod.clone()).as_deref(),
        Some("pod-000")
    );
}

#[test]
fn a_status_line_longer_than_the_terminal_is_wrapped_not_cut() {
    let mut app = app_with_rows();
    app.problem = Some(
        "forbidden: this identity may not watch pods in all namespaces; grant it RBAC verb \"watch\" on resource \"pods\" (ask your cluster admin)".into(),
    );
    let text = screen(&app, 60, 14);
    // Every word of the problem is on screen, wrapped at spaces over the lines it
    // needs, above the help line; the table gives up the rows.
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert_eq!(
        lines[10..13],
        [
            "forbidden: this identity may not watch pods in all",
            "namespaces; grant it RBAC verb \"watch\" on resource \"pods\"",
            "(ask your cluster admin)",
        ],
        "{text}"
    );
    assert!(lines[13].starts_with("j/k move"), "{text}");
    assert!(
        lines[9].starts_with('└'),
        "the table ends above the status\n{text}"
    );
}

#[test]
fn a_status_too_long_for_three_lines_ends_in_an_ellipsis() {
    let mut app = app_with_rows();
    app.problem = Some("word ".repeat(100));
    let text = screen(&app, 60, 14);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("word word")).count(),
        3,
        "{text}"
    );
    assert!(text.contains("word…"), "{text}");
}
