//! The seed's own example: a `VersionedMap<String, usize>` in a repository on a local directory.
//!
//! Insert a measurement, commit it, then reopen the repository from storage with the password and read it back.
//!
//! ```sh
//! cargo run --example seed
//! ```

use infini::{backends::DirBackend, fields::VersionedMap, Infinitree, KdfParams, Repository, StoreOptions};
use std::sync::Arc;

fn main() -> infini::Result<()> {
    let dir = std::env::temp_dir().join(format!("infini-example-seed-{}", std::process::id()));
    let password = b"correct horse battery staple";
    // Cheap key derivation keeps the example fast; real repositories keep the default (128 MiB of scrypt).
    let kdf = KdfParams { log_n: 12, ..KdfParams::default() };

    {
        let repo = Repository::create(Arc::new(DirBackend::new(&dir)?), password, kdf, StoreOptions::default())?;
        let mut tree = Infinitree::<VersionedMap<String, usize>>::open(Arc::new(repo), "main")?;
        tree.index().insert("sample_size".into(), 1234);
        let commit = tree.commit("first measurement! yay!")?;
        println!("committed {}", commit.id());
    }

    // Everything above is on disk, encrypted; open it again from storage with the password.
    let repo = Repository::open(Arc::new(DirBackend::new(&dir)?), password, StoreOptions::default())?;
    let tree = Infinitree::<VersionedMap<String, usize>>::open(Arc::new(repo), "main")?;
    let sample_size = tree.index().get(&"sample_size".to_string())?;
    println!("sample_size = {sample_size:?}");
    assert_eq!(sample_size, Some(1234));

    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
