//! Forgetting commits through the library: what a kept commit reaches survives gc even when only forgotten commits
//! wrote it, what only forgotten commits reach is freed, and reading a forgotten commit names the run.

use infini::backends::{Backend, MemoryBackend};
use infini::namespace::{store_value, NamespaceIndex};
use infini::retention::RetentionPolicy;
use infini::{
    CommitInfo, CommitOptions, Error, ForgetOptions, ForgetScope, GcOptions, Infinitree, KdfParams, Repository,
    StoreOptions,
};
use std::sync::Arc;

use crate::gc::noise;

fn gc_now(repo: &Repository) -> u64 {
    let opts = GcOptions { grace_secs: 0, min_age_secs: 0, ..GcOptions::default() };
    (0..3).map(|_| repo.gc(&NamespaceIndex::default(), &opts).unwrap().freed_bytes).sum()
}

fn stored(mem: &MemoryBackend) -> u64 {
    mem.list("objects/").unwrap().iter().map(|o| o.size).sum()
}

#[test]
fn a_kept_commit_keeps_what_only_forgotten_ancestors_wrote_and_the_rest_is_freed() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut tree = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    let put = |tree: &mut Infinitree<NamespaceIndex>, key: &str, value: &[u8]| {
        let e = store_value(&repo, &mut &value[..], &mut |_| {}).unwrap();
        tree.index().ns.insert(key.into(), e);
    };
    // The first commit writes a value no later commit changes: only it (forgotten below) introduced the value, so
    // a kept commit traced against its forgotten parent, not against its nearest kept ancestor, would miss its data.
    let stable = noise(1, 300_000);
    put(&mut tree, "stable", &stable);
    let day = 86_400;
    let mut commits: Vec<CommitInfo> = Vec::new();
    commits.push(tree.commit_with("0", &CommitOptions::default().time(1_000 * day)).unwrap());
    for i in 1..8u64 {
        put(&mut tree, "churn", &noise(100 + i, 200_000));
        commits.push(tree.commit_with(&i.to_string(), &CommitOptions::default().time((1_000 + i) * day)).unwrap());
    }
    assert_eq!(
        commits.iter().map(CommitInfo::time).collect::<Vec<_>>(),
        (1_000..1_008).map(|d| d * day).collect::<Vec<_>>()
    );
    let before = stored(&mem);

    let policy = RetentionPolicy { last: Some(2), ..RetentionPolicy::default() };
    let out = repo
        .forget(
            &ForgetScope::Branch("main".into()),
            &ForgetOptions { policy: Some(policy), ..ForgetOptions::default() },
        )
        .unwrap();
    assert_eq!(out.forgotten, 6);
    let forgotten = repo.forgotten().unwrap();
    assert!((0..6).all(|i| forgotten.contains(&commits[i].id())));
    assert!(!forgotten.contains(&commits[6].id()) && !forgotten.contains(&commits[7].id()));
    assert_eq!(forgotten.run_of(&commits[0].id()).unwrap().number, 1);

    let freed = gc_now(&repo);
    // The churned values of commits 1..=5 (200 KB each) are gone; commit 6's and 7's and the stable value stay.
    assert!(freed >= 5 * 200_000, "freed {freed} of {before}");
    let report = repo.check(&NamespaceIndex::default(), true).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let read = |c: &CommitInfo, key: &str| -> Vec<u8> {
        let at = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap().at(c.id()).unwrap();
        let e = at.ns.get(&key.to_string()).unwrap().expect("the key is there");
        let mut out = Vec::new();
        std::io::copy(&mut repo.blob_reader(e.blob.clone()), &mut out).unwrap();
        out
    };
    for (i, c) in commits.iter().enumerate().skip(6) {
        assert!(read(c, "stable") == stable, "commit {i}: stable");
        assert!(read(c, "churn") == noise(100 + i as u64, 200_000), "commit {i}: churn");
    }
    // A forgotten commit is refused by id, naming the run.
    let e = repo.resolve(&commits[3].id().to_hex(), None).unwrap_err();
    assert!(matches!(&e, Error::NotFound { what } if what.contains("forget run 1")), "{e}");
}

#[test]
fn forget_refuses_an_empty_policy_and_leaves_the_history_alone() {
    let repo = Repository::create(
        Arc::new(MemoryBackend::new()),
        b"pw",
        KdfParams { log_n: 10, r: 8, p: 1 },
        StoreOptions::default(),
    )
    .unwrap();
    let e = repo
        .forget(
            &ForgetScope::All,
            &ForgetOptions { policy: Some(RetentionPolicy::default()), ..ForgetOptions::default() },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(repo.forgotten().unwrap().is_empty());
}

#[test]
fn mount_offers_kept_commits_only() {
    use infini::browse::{BrowseOptions, Browser, Layout, ROOT_INO};
    let repo = Arc::new(
        Repository::create(
            Arc::new(MemoryBackend::new()),
            b"pw",
            KdfParams { log_n: 10, r: 8, p: 1 },
            StoreOptions::default(),
        )
        .unwrap(),
    );
    let mut tree = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    let mut ids = Vec::new();
    for i in 0..4u64 {
        let e = store_value(&repo, &mut &noise(i, 100)[..], &mut |_| {}).unwrap();
        tree.index().ns.insert("k".into(), e);
        ids.push(tree.commit_with("c", &CommitOptions::default().time(1_000_000 + i)).unwrap().id().to_hex());
    }
    let policy = RetentionPolicy { last: Some(1), ..RetentionPolicy::default() };
    repo.forget(&ForgetScope::All, &ForgetOptions { policy: Some(policy), ..ForgetOptions::default() }).unwrap();
    let b = Browser::new(repo, Layout::All { head: None }, BrowseOptions::default());
    let commits = b.lookup(ROOT_INO, "commits").unwrap().unwrap().ino;
    let listed: Vec<String> = b.readdir(commits).unwrap().into_iter().map(|l| l.name).collect();
    assert!(listed.contains(&ids[3]), "{listed:?}");
    for id in &ids[..3] {
        assert!(!listed.contains(id), "forgotten commit {id} offered: {listed:?}");
        assert!(b.lookup(commits, id).unwrap().is_none());
    }
}

#[test]
fn commits_and_forget_runs_racing_lose_no_commit_and_no_kept_data() {
    let repo = Arc::new(
        Repository::create(
            Arc::new(MemoryBackend::new()),
            b"pw",
            KdfParams { log_n: 10, r: 8, p: 1 },
            StoreOptions::default(),
        )
        .unwrap(),
    );
    let value = |i: u64| noise(500 + i, 5_000);
    let committed: Vec<CommitInfo> = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut tree = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
            (0..40u64)
                .map(|i| {
                    let e = store_value(&repo, &mut &value(i)[..], &mut |_| {}).unwrap();
                    tree.index().ns.insert(format!("k{}", i % 5), e);
                    tree.commit_with(&i.to_string(), &CommitOptions::default().time(2_000_000 + i * 3600)).unwrap()
                })
                .collect()
        });
        let policy = RetentionPolicy { last: Some(3), ..RetentionPolicy::default() };
        let opts = ForgetOptions { policy: Some(policy), ..ForgetOptions::default() };
        while !writer.is_finished() {
            match repo.forget(&ForgetScope::Branch("main".into()), &opts) {
                Ok(_) => {}
                // Before the first commit there is no branch yet.
                Err(Error::NotFound { .. }) => {}
                Err(e) => panic!("forget failed while a writer commits: {e}"),
            }
        }
        writer.join().unwrap()
    });
    // Every commit is on the branch, in order; the newest is the head and was never forgotten.
    let head = repo.branch("main").unwrap().unwrap().head;
    assert_eq!(head, committed[39].ptr);
    let history = repo.log(&head, usize::MAX).unwrap();
    let ids: Vec<_> = history.iter().map(CommitInfo::id).rev().collect();
    assert_eq!(ids, committed.iter().map(CommitInfo::id).collect::<Vec<_>>());
    let forgotten = repo.forgotten().unwrap();
    assert!(!forgotten.contains(&committed[39].id()));
    // What is kept reads back after gc; check is clean.
    gc_now(&repo);
    let report = repo.check(&NamespaceIndex::default(), true).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for (i, c) in committed.iter().enumerate().filter(|(_, c)| !forgotten.contains(&c.id())) {
        let at = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap().at(c.id()).unwrap();
        let e = at.ns.get(&format!("k{}", i % 5)).unwrap().expect("the key is there");
        let mut out = Vec::new();
        std::io::copy(&mut repo.blob_reader(e.blob.clone()), &mut out).unwrap();
        assert!(out == value(i as u64), "commit {i}");
    }
}
