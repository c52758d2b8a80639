//! Two writers committing to one branch at once: changes to different keys merge automatically; changes to the
//! same key are a conflict, reported as `Error::MergeConflict` naming the keys, and left staged.
//!
//! ```sh
//! cargo run --example writers
//! ```

use infini::{backends::DirBackend, fields::VersionedMap, Error, Infinitree, KdfParams, Repository, StoreOptions};
use std::sync::{Arc, Barrier};

type Counters = VersionedMap<String, u64>;

fn main() -> infini::Result<()> {
    let dir = std::env::temp_dir().join(format!("infini-example-writers-{}", std::process::id()));
    let kdf = KdfParams { log_n: 12, ..KdfParams::default() };
    let repo = Arc::new(Repository::create(Arc::new(DirBackend::new(&dir)?), b"pw", kdf, StoreOptions::default())?);
    let mut setup = Infinitree::<Counters>::open(repo.clone(), "main")?;
    setup.index().insert("shared".into(), 0);
    setup.commit("start")?;

    // Round 1: two threads, each opened at the same head, change different keys and commit at the same moment.
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|who| {
            let (repo, barrier) = (repo.clone(), barrier.clone());
            std::thread::spawn(move || -> infini::Result<()> {
                let mut tree = Infinitree::<Counters>::open(repo, "main")?;
                tree.index().insert(who.to_string(), 1);
                barrier.wait();
                tree.commit(&format!("{who} was here"))?;
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread panicked")?;
    }
    let tree = Infinitree::<Counters>::open(repo.clone(), "main")?;
    assert_eq!(tree.index().get(&"alice".to_string())?, Some(1));
    assert_eq!(tree.index().get(&"bob".to_string())?, Some(1));
    println!("disjoint keys: both commits kept (merged)");

    // Round 2: both change the same key from the same base: one wins, the other gets a conflict.
    let mut a = Infinitree::<Counters>::open(repo.clone(), "main")?;
    let mut b = Infinitree::<Counters>::open(repo.clone(), "main")?;
    a.index().insert("shared".into(), 1);
    b.index().insert("shared".into(), 2);
    a.commit("a sets shared")?;
    match b.commit("b sets shared") {
        Err(Error::MergeConflict { field, keys }) => {
            println!("same key: conflict in field {field} on {keys:?}, b's change is still staged")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let tree = Infinitree::<Counters>::open(repo, "main")?;
    assert_eq!(tree.index().get(&"shared".to_string())?, Some(1));

    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
