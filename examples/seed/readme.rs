use infini::{
    Infinitree,
    Index,
    Key,
    anyhow,
    backends::Directory,
    fields::{VersionedMap},
};
use serde::{Serialize, Deserialize};

fn main() -> anyhow::Result<()> {
    let mut tree = Infinitree::<VersionedMap<String, usize>>::empty(
        Directory::new("test_data")?,
        Key::from_credentials("username", "password")?
    ).unwrap();

    tree.index().insert("sample_size".into(), 1234);

    tree.commit("first measurement! yay!");
    Ok(())
}
