//! Application state with several fields on a directory backend: commit, fork, change both branches, and load an
//! old version.
//!
//! ```sh
//! cargo run --example app_state
//! ```

use infini::fields::{LinkedList, List, Serialized, VersionedMap};
use infini::{backends::DirBackend, Index, Infinitree, KdfParams, Repository, StoreOptions};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Settings stored whole at each commit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Settings {
    currency: String,
    low_stock_alert: u32,
}

/// Everything the application keeps, one field per kind of state.
#[derive(Default, Index)]
struct Shop {
    /// Stock per item: an ordered map; a commit writes only the changed keys' paths.
    stock: VersionedMap<String, u32>,
    /// Every sale ever made: an append-only list; a commit writes only the new items.
    sales: LinkedList<(String, u32)>,
    /// A short list of featured items, stored whole.
    featured: List<String>,
    /// Settings, stored whole; concurrent changes to it conflict.
    #[infini(name = "config")]
    settings: Serialized<Settings>,
    /// Not persisted: rebuilt by the application.
    #[infini(skip)]
    #[allow(dead_code)]
    scratch: Vec<String>,
}

fn main() -> infini::Result<()> {
    let dir = std::env::temp_dir().join(format!("infini-example-app-{}", std::process::id()));
    let kdf = KdfParams { log_n: 12, ..KdfParams::default() };
    let repo = Arc::new(Repository::create(Arc::new(DirBackend::new(&dir)?), b"pw", kdf, StoreOptions::default())?);

    let mut main = Infinitree::<Shop>::open(repo.clone(), "main")?;
    let shop = main.index();
    shop.stock.insert("apple".into(), 10);
    shop.stock.insert("pear".into(), 4);
    shop.sales.push(("apple".into(), 2));
    shop.featured.push("apple".into());
    shop.settings.set(Settings { currency: "EUR".into(), low_stock_alert: 3 });
    let first = main.commit("open the shop")?;
    println!("main: {}", first.id());

    // A branch for an experiment, from main's head.
    let mut experiment = main.fork("experiment")?;
    experiment.index().stock.insert("mango".into(), 7);
    experiment.index().settings.set(Settings { currency: "USD".into(), low_stock_alert: 1 });
    let exp = experiment.commit("try mangoes, priced in dollars")?;
    println!("experiment: {}", exp.id());

    // Meanwhile main sells pears.
    main.index().stock.update_with(&"pear".to_string(), |n| *n -= 1)?;
    main.index().sales.push(("pear".into(), 1));
    main.commit("sell a pear")?;

    // Both branches have their own state.
    assert_eq!(main.index().stock.get(&"mango".to_string())?, None);
    assert_eq!(experiment.index().stock.get(&"mango".to_string())?, Some(7));
    assert_eq!(main.index().settings.get().currency, "EUR");
    assert_eq!(experiment.index().settings.get().currency, "USD");
    let sales: Vec<(String, u32)> = main.index().sales.iter().collect::<infini::Result<_>>()?;
    assert_eq!(sales, vec![("apple".to_string(), 2), ("pear".to_string(), 1)]);

    // Any old version can be loaded; only the nodes it touches are read.
    let old = main.at(first.id())?;
    assert_eq!(old.stock.get(&"pear".to_string())?, Some(4));
    assert_eq!(old.sales.len(), 1);

    for c in main.commits() {
        let c = c?;
        println!("{} {}", c.id(), c.message());
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
