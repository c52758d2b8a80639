//! Long operations report their phases, totals and work done through the options' progress sink.

use infini::backends::MemoryBackend;
use infini::namespace::{store_value, NamespaceIndex};
use infini::progress::{Progress, ProgressSink, Unit};
use infini::Infinitree;
use infini::KdfParams;
use infini::StoreOptions;
use infini::{CheckOptions, GcOptions, Repository};
use std::sync::{Arc, Mutex};

/// A phase: its name, unit, announced total and the units counted in it.
type Phase = (String, Unit, Option<u64>, u64);

/// Every phase reported.
#[derive(Default)]
struct Recorder(Mutex<Vec<Phase>>);

impl Progress for Recorder {
    fn phase(&self, name: &str, unit: Unit, total: Option<u64>) {
        self.0.lock().unwrap().push((name.to_string(), unit, total, 0));
    }
    fn inc(&self, n: u64) {
        self.0.lock().unwrap().last_mut().expect("inc after a phase").3 += n;
    }
}

fn repo_with_two_branches() -> Arc<Repository> {
    let mem = Arc::new(MemoryBackend::new());
    let repo =
        Arc::new(Repository::create(mem, b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap());
    let mut main = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    for i in 0..3u8 {
        let v: Vec<u8> = (0..300_000u32).map(|j| (j as u8).wrapping_mul(i + 3)).collect();
        let e = store_value(&repo, &mut v.as_slice(), &mut |_| {}).unwrap();
        main.index().ns.insert(format!("k{i}"), e);
        main.commit("k").unwrap();
    }
    main.fork("other").unwrap();
    repo
}

#[test]
fn check_reports_bytes_of_every_pack_then_commits() {
    let repo = repo_with_two_branches();
    let rec = Arc::new(Recorder::default());
    let opts = CheckOptions { read_data: true, progress: ProgressSink::new(rec.clone()) };
    let rep = repo.check_with(&NamespaceIndex::default(), &opts).unwrap();
    assert!(rep.errors.is_empty(), "{rep:?}");
    let phases = rec.0.lock().unwrap().clone();
    assert_eq!(phases.len(), 2, "{phases:?}");
    let (name, unit, total, done) = &phases[0];
    assert_eq!((name.as_str(), *unit), ("packs", Unit::Bytes));
    assert_eq!(*total, Some(rep.bytes_read), "the announced total is what is read");
    assert_eq!(*done, rep.bytes_read);
    assert_eq!((phases[1].0.as_str(), phases[1].1, phases[1].3), ("commits", Unit::Items, rep.commits));

    let rec = Arc::new(Recorder::default());
    let opts = CheckOptions { read_data: false, progress: ProgressSink::new(rec.clone()) };
    let rep = repo.check_with(&NamespaceIndex::default(), &opts).unwrap();
    let phases = rec.0.lock().unwrap().clone();
    assert_eq!(phases[0], ("packs".to_string(), Unit::Items, Some(rep.packs), rep.packs));
}

#[test]
fn gc_reports_mark_condemn_and_delete() {
    let repo = repo_with_two_branches();
    let rec = Arc::new(Recorder::default());
    let opts =
        GcOptions { grace_secs: 0, dry_run: false, progress: ProgressSink::new(rec.clone()), ..GcOptions::default() };
    let plan = repo.gc(&NamespaceIndex::default(), &opts).unwrap();
    let phases = rec.0.lock().unwrap().clone();
    let names: Vec<_> = phases.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["mark", "condemn", "delete"], "{phases:?}");
    assert_eq!(phases[0].3, 3, "three commits marked: {phases:?}");
    assert_eq!((phases[1].2, phases[1].3), (Some(plan.packs as u64), plan.packs as u64));
    assert_eq!((phases[2].2, phases[2].3), (Some(plan.delete.len() as u64), plan.delete.len() as u64));
}
