//! The PostgreSQL store against a real PostgreSQL started for each test.

use std::{
    sync::{Arc, Barrier},
    time::Duration,
};

use veranda_pgtest::Postgres;
use veranda_storage::{Change, ErrorKind, ObjectTable, RevisionRow};
use veranda_store_pg::{Store, migrations};

fn database(pg: &Postgres, name: &str) -> String {
    pg.create_database(name).expect("create database")
}

fn revision(name: &str) -> RevisionRow {
    RevisionRow {
        namespace: "ns".into(),
        name: name.into(),
        repository: "repo".into(),
        meta: "{\"labels\":{\"a\":\"b\"}}".into(),
        resource_version: 0,
        fingerprint: "f1".into(),
    }
}

#[test]
fn postgres_store_conforms() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let store = Store::open(&database(&pg, "conformance")).expect("open");
    veranda_storage::conformance::store(&store);
    // A store opened at an older schema writes its own way (statement by statement, as
    // before `veranda_apply`) and conforms too.
    for version in 2..migrations::latest() {
        let url = database(&pg, &format!("conformance_v{version}"));
        let store = Store::open_at(&url, version).expect("open at an older schema");
        veranda_storage::conformance::store(&store);
    }
}

#[test]
fn migrations_run_from_an_empty_database_once() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "fresh");
    // Replicas starting together: every one opens, the schema is built once.
    let barrier = Arc::new(Barrier::new(4));
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                Store::open(&url).map(|_| ())
            })
        })
        .collect();
    for t in opened {
        t.join().expect("thread").expect("open");
    }
    let versions = pg.psql("fresh", "SELECT version FROM schema_migrations ORDER BY version");
    let expected: String =
        migrations::MIGRATIONS.iter().map(|m| format!("{}\n", m.version)).collect();
    assert_eq!(versions.expect("psql"), expected);
    // Opening again applies nothing and keeps the counter.
    let store = Store::open(&url).expect("reopen");
    assert_eq!(store.current_resource_version(), 0);
}

#[test]
fn migrating_from_the_previous_version_keeps_every_row() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "previous");
    let previous = migrations::latest() - 1;
    assert!(previous >= 1, "there is a previous version to migrate from");
    {
        let old = Store::open_at(&url, previous).expect("open at the previous version");
        old.put_object(ObjectTable::Repositories, "ns", "repo", &mut |rv| {
            format!("{{\"rv\":{rv}}}")
        })
        .expect("put");
        old.put_object(ObjectTable::Secrets, "ns", "s", &mut |_| "sealed".into()).expect("put");
        old.apply(vec![Change::PutRevision(revision("a")), Change::PutRevision(revision("b"))])
            .expect("apply");
    }
    let store = Store::open(&url).expect("migrate to the latest");
    assert_eq!(store.current_resource_version(), 4, "the counter is kept");
    let repo =
        store.get_object(ObjectTable::Repositories, "ns", "repo").expect("get").expect("row");
    assert_eq!((repo.object.as_str(), repo.resource_version), ("{\"rv\":1}", 1));
    let secret = store.get_object(ObjectTable::Secrets, "ns", "s").expect("get").expect("row");
    assert_eq!(secret.object, "sealed");
    let mut rows = store.list_revisions("ns", "repo").expect("list");
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(rows.iter().map(|r| r.resource_version).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(rows[0].meta, "{\"labels\":{\"a\":\"b\"}}");
    // The new version's feed records what is written from now on.
    let before = store.changes_since(0, 100).expect("feed");
    store.apply(vec![Change::PutRevision(revision("c"))]).expect("apply");
    store
        .apply(vec![Change::DeleteRevision { namespace: "ns".into(), name: "a".into() }])
        .expect("delete");
    let after = store.changes_since(before.last().map_or(0, |e| e.seq), 100).expect("feed");
    let seen: Vec<_> =
        after.iter().map(|e| (e.name.as_str(), e.resource_version, e.deleted)).collect();
    assert_eq!(seen, [("c", 5, false), ("a", 6, true)], "a delete takes a version of its own");
}

#[test]
fn a_database_migrated_by_a_newer_binary_is_refused() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "newer");
    drop(Store::open(&url).expect("open"));
    pg.psql("newer", "INSERT INTO schema_migrations (version, description) VALUES (999, 'future')")
        .expect("psql");
    let Err(e) = Store::open(&url) else { panic!("a newer schema was accepted") };
    let text = e.to_string();
    assert!(text.contains("999") && text.contains(&migrations::latest().to_string()), "{text}");
}

#[test]
fn concurrent_writers_get_unique_versions_in_commit_order() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let store = Arc::new(Store::open(&database(&pg, "concurrent")).expect("open"));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut versions = Vec::new();
                for i in 0..20 {
                    if i % 2 == 0 {
                        let row = store
                            .put_object(
                                ObjectTable::Packages,
                                "ns",
                                &format!("p{t}-{i}"),
                                &mut |rv| rv.to_string(),
                            )
                            .expect("put");
                        assert_eq!(row.object, row.resource_version.to_string());
                        versions.push(row.resource_version);
                    } else {
                        let rows = store
                            .apply(vec![Change::PutRevision(revision(&format!("r{t}-{i}")))])
                            .expect("apply");
                        versions.push(rows[0].resource_version);
                    }
                }
                versions
            })
        })
        .collect();
    let mut all: Vec<i64> = threads.into_iter().flat_map(|t| t.join().expect("thread")).collect();
    all.sort();
    assert_eq!(all, (1..=320).collect::<Vec<i64>>(), "every version once, none skipped");
    // The feed is in commit order, and commit order is resourceVersion order.
    let feed = store.changes_since(0, 1000).expect("feed");
    assert_eq!(feed.len(), 320);
    assert!(feed.windows(2).all(|w| w[0].resource_version < w[1].resource_version), "{feed:?}");
    assert_eq!(store.current_resource_version(), 320);
    assert_eq!(store.database_resource_version().expect("counter"), 320);
}

#[test]
fn a_failed_object_builder_rolls_back() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let store = Store::open(&database(&pg, "rollback")).expect("open");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.put_object(ObjectTable::Packages, "ns", "p", &mut |_| panic!("builder failed"))
    }));
    assert!(panicked.is_err());
    assert!(store.get_object(ObjectTable::Packages, "ns", "p").expect("get").is_none());
    // The worker is free again and the version taken was rolled back with it.
    let row =
        store.put_object(ObjectTable::Packages, "ns", "q", &mut |_| "{}".into()).expect("put");
    assert_eq!(row.resource_version, 1);
}

#[test]
fn the_store_survives_a_database_restart() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let store = Store::open(&database(&pg, "restart")).expect("open");
    store.apply(vec![Change::PutRevision(revision("a"))]).expect("apply");
    pg.stop().expect("stop");
    let e = store.apply(vec![Change::PutRevision(revision("b"))]).expect_err("database is down");
    let e = veranda_storage::Error::from(e);
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    pg.restart().expect("restart");
    // Every pooled connection broke; each is replaced by the next call that finds it broken.
    let mut ok = 0;
    for i in 0..(2 * veranda_store_pg::POOL_SIZE + 2) {
        if store.apply(vec![Change::PutRevision(revision(&format!("c{i}")))]).is_ok() {
            ok += 1;
        }
    }
    assert!(ok >= veranda_store_pg::POOL_SIZE + 2, "only {ok} writes after the restart");
    let rows = store.list_revisions("ns", "repo").expect("list after restart");
    assert!(rows.iter().any(|r| r.name == "a"), "the acknowledged write survived");
    assert!(!rows.iter().any(|r| r.name == "b"), "the failed write left nothing");
}

#[test]
fn errors_never_show_the_password() {
    let url = "postgres://someone:hunter2-secret@127.0.0.1:1/db?connect_timeout=2";
    let Err(e) = Store::open(url) else { panic!("connected to port 1") };
    let text = format!("{e} {e:?}");
    assert!(!text.contains("hunter2"), "{text}");
    let Err(e) = Store::open("postgres://u:hunter2@[bad") else { panic!("bad URL accepted") };
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
    assert_eq!(veranda_store_pg::describe(url), "postgres://127.0.0.1:1/db");
}

#[test]
fn the_feed_wakes_a_listener() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "listen");
    let store = Store::open(&url).expect("open");
    let mut listener = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    listener.batch_execute("LISTEN veranda_changes").expect("listen");
    store.apply(vec![Change::PutRevision(revision("a"))]).expect("apply");
    use postgres::fallible_iterator::FallibleIterator;
    let mut notifications = listener.notifications();
    let got = notifications
        .timeout_iter(std::time::Duration::from_secs(10))
        .next()
        .expect("notification")
        .expect("no notification within 10 s");
    assert_eq!((got.channel(), got.payload()), ("veranda_changes", "package_revisions"));
}

#[test]
fn wait_for_changes_wakes_on_another_servers_write_and_the_feed_names_it() {
    use veranda_storage::FeedTable;
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "wait");
    let (follower, writer) = (Store::open(&url).expect("open"), Store::open(&url).expect("open"));
    let start = follower.feed_position().expect("position");
    // The first wait opens the listener; it may time out.
    follower.wait_for_changes(Duration::from_millis(50));
    let writing = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        writer.apply(vec![Change::PutRevision(revision("woken"))]).expect("apply");
        writer
    });
    let began = std::time::Instant::now();
    follower.wait_for_changes(Duration::from_secs(20));
    assert!(began.elapsed() < Duration::from_secs(10), "woken by the write, not the timeout");
    let writer = writing.join().expect("writer");
    let feed = follower.changes_since(start, 100).expect("feed");
    let entry = feed.last().expect("an entry");
    assert_eq!(
        (entry.table, entry.name.as_str(), entry.deleted),
        (FeedTable::Revisions, "woken", false)
    );
    assert_eq!(follower.feed_position().expect("position"), entry.seq);
    // What the follower read moves its resourceVersion past the other server's write.
    assert_eq!(
        veranda_storage::Store::current_resource_version(&follower).expect("current"),
        writer.current_resource_version()
    );
}

/// A CA and a server certificate for 127.0.0.1 made with the `openssl` command: the server's
/// certificate and key (PEM) and the CA's file.
fn certificates(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=test CA",
        "-days",
        "2",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").expect("write ext");
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let read = |name: &str| std::fs::read(dir.join(name)).expect("read");
    (read("server.crt"), read("server.key"), dir.join("ca.crt"))
}

#[test]
fn tls_verifies_the_server_against_the_given_ca() {
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "tls");
    let dir = tempfile_dir();
    let (cert, key, ca) = certificates(&dir);
    pg.enable_tls(&cert, &key).expect("enable TLS");
    let require = format!("{url}?sslmode=require");
    // An untrusted certificate is refused, and the error says what to do.
    let Err(e) = Store::open(&require) else { panic!("an untrusted certificate was accepted") };
    let text = e.to_string();
    assert!(text.contains("--store-ca-file"), "{text}");
    // With its CA the connection is verified and encrypted.
    let store = Store::open_with_ca(&require, Some(&ca)).expect("open over TLS");
    store.put_object(ObjectTable::Packages, "ns", "p", &mut |_| "{}".into()).expect("put");
    let ssl = pg
        .psql("tls", "SELECT count(*) FROM pg_stat_ssl WHERE ssl AND pid <> pg_backend_pid()")
        .expect("psql");
    assert!(ssl.trim().parse::<i64>().expect("a count") >= 1, "no TLS connection: {ssl}");
    // sslmode=disable on a trusted network connects in plain text.
    Store::open(&format!("{url}?sslmode=disable")).expect("open without TLS");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "veranda-store-pg-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create dir");
    dir
}

#[test]
fn one_server_claims_a_database_at_a_time() {
    use std::time::Duration;
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "claim");
    let first = Store::open(&url).expect("open");
    first.claim("veranda pid 1 on host-a", Duration::from_secs(1)).expect("claim");
    let second = Store::open(&url).expect("open");
    let Err(e) = second.claim("veranda pid 2", Duration::from_millis(300)) else {
        panic!("two servers claimed one database")
    };
    assert!(e.to_string().contains("veranda pid 1 on host-a"), "{e}");
    drop(first);
    second.claim("veranda pid 2", Duration::from_secs(10)).expect("claimed once the first left");
}

#[test]
fn a_claim_taken_over_during_a_database_restart_stops_writes() {
    use std::time::{Duration, Instant};
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "takeover");
    let first = Store::open(&url).expect("open");
    first.claim("first", Duration::from_secs(1)).expect("claim");
    pg.stop().expect("stop");
    pg.restart().expect("restart");
    // Another server gets in before the first one's claim reconnects.
    let second = Store::open(&url).expect("open");
    second.claim("second", Duration::from_secs(1)).expect("the lock went with the session");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let write = first.apply(vec![Change::PutRevision(revision("late"))]);
        if let Err(veranda_store_pg::Error::Lost) = write {
            break;
        }
        assert!(Instant::now() < deadline, "the first server still writes: {write:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    second.apply(vec![Change::PutRevision(revision("mine"))]).expect("the holder writes");
}

#[test]
fn a_database_that_accepts_and_never_answers_times_out() {
    use std::time::{Duration, Instant};
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    // Accepts every connection and never says a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let url = format!("postgres://someone:pw@127.0.0.1:{port}/db?connect_timeout=2");
    let Err(e) = Store::open(&url) else { panic!("a silent server was accepted") };
    assert!(started.elapsed() < Duration::from_secs(10), "waited {:?}", started.elapsed());
    let e = veranda_storage::Error::from(e);
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("no answer within 2 s"), "{e}");
}

#[test]
fn try_locks_are_shared_and_a_broken_session_holds_none() {
    use veranda_storage::Store as _;
    let pg = Postgres::start().expect("start PostgreSQL");
    let url = database(&pg, "locks");
    let (a, b) = (Store::open(&url).expect("open"), Store::open(&url).expect("open"));
    let held = a.try_lock("repo/x").expect("lock").expect("free");
    assert!(held.held());
    assert!(b.try_lock("repo/x").expect("lock").is_none(), "one holder across servers");
    assert!(b.try_lock("repo/y").expect("lock").is_some(), "another name is free");
    drop(held);
    let eventually = |what: &str, mut check: Box<dyn FnMut() -> bool + '_>| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut taken = None;
    eventually(
        "a dropped lock is free for another server",
        Box::new(|| {
            taken = b.try_lock("repo/x").expect("lock");
            taken.is_some()
        }),
    );
    let taken = taken.expect("taken");

    // The holder's session ends (a database restart, a network break): its guard says so, and
    // another server can take the lock; the stale guard's drop releases nothing of the new.
    pg.psql(
        "locks",
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    )
    .expect("terminate the lock session");
    eventually("the guard notices its session ended", Box::new(|| !taken.held()));
    let again = a.try_lock("repo/x").expect("lock").expect("free after the session ended");
    drop(taken);
    std::thread::sleep(Duration::from_millis(300));
    assert!(b.try_lock("repo/x").expect("lock").is_none(), "the stale drop released nothing");
    assert!(again.held());
}
