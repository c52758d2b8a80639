//! `infini stats`: repository size, dedup and compression, and cache use.

use super::session::Session;
use super::{output, Context};
use infini::engine::object::parse_object_name;

/// Report repository size, object counts, and the size of HEAD's values against what is stored.
#[derive(clap::Args)]
pub struct Args {}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let store = s.repo.store();
        let objects = s.repo.backend().list("objects/")?;
        let repo_bytes: u64 = objects.iter().map(|o| o.size).sum();
        let mut chunks = 0u64;
        let mut chunk_bytes = 0u64;
        for o in &objects {
            if let Some(id) = parse_object_name(&o.name) {
                let t = store.pack_table(&id)?;
                chunks += t.len() as u64;
                chunk_bytes += t.iter().map(|e| e.len as u64).sum::<u64>();
            }
        }
        let ns = s.view()?;
        let (mut keys, mut logical) = (0u64, 0u64);
        for item in ns.iter_prefix(store, b"") {
            let (_, e) = item?;
            keys += 1;
            logical += e.size();
        }
        let ratio = if chunk_bytes > 0 { logical as f64 / chunk_bytes as f64 } else { 0.0 };
        let hot = store.hot();
        let st = &store.stats;
        let v = serde_json::json!({
            "repository_bytes": repo_bytes,
            "objects": objects.len(),
            "chunks": chunks,
            "stored_chunk_bytes": chunk_bytes,
            "head_keys": keys,
            "head_logical_bytes": logical,
            "head_logical_per_stored": ratio,
            "cache": {
                "hot": { "hits": hot.hits.load(std::sync::atomic::Ordering::Relaxed), "misses": hot.misses.load(std::sync::atomic::Ordering::Relaxed), "bytes": hot.bytes() },
                "fetched_chunks": st.chunks_fetched.load(std::sync::atomic::Ordering::Relaxed),
                "fetched_bytes": st.bytes_fetched.load(std::sync::atomic::Ordering::Relaxed),
            },
        });
        if ctx.global.json {
            return output::json(&v);
        }
        println!("repository size:   {} in {} objects", output::bytes(repo_bytes), objects.len());
        println!("chunks:            {chunks} ({} sealed)", output::bytes(chunk_bytes));
        println!("HEAD:              {keys} keys, {}", output::bytes(logical));
        println!("HEAD / stored:     {ratio:.2}x (dedup and compression)");
        Ok(())
    }
}
