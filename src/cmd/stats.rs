//! `infini stats`: repository size, dedup and compression, and cache use.

use super::progress::Bar;
use super::session::Session;
use super::{output, Context};

/// Report repository size, object counts, the size of HEAD's values against what is stored, and per-tier cache
/// hits, misses and bytes fetched in this workspace.
#[derive(clap::Args)]
pub struct Args {}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let bar = Bar::spinner(ctx, "stats", "listing objects");
        let st = s.repo.stats(&mut |i, n| bar.message(&format!("reading pack tables: {i}/{n}")))?;
        let (repo_bytes, chunks, chunk_bytes) = (st.repository_bytes, st.chunks, st.stored_chunk_bytes);
        let overhead = repo_bytes.saturating_sub(chunk_bytes);
        bar.message("summing HEAD's values");
        let ns = s.view()?;
        let (mut keys, mut logical) = (0u64, 0u64);
        for item in ns.iter() {
            let (_, e) = item?;
            keys += 1;
            logical = logical.saturating_add(e.size());
        }
        drop(bar);
        let ratio = if chunk_bytes > 0 { logical as f64 / chunk_bytes as f64 } else { 0.0 };
        let tiers = match &s.ws {
            Some(ws) => super::session::TierStats::load(ws).add(&super::session::TierStats::of(&s.repo)),
            None => super::session::TierStats::of(&s.repo),
        };
        let warm_disk = s.repo.cache_stats().warm_disk_bytes;
        let v = serde_json::json!({
            "repository_bytes": repo_bytes,
            "objects": st.objects,
            "chunks": chunks,
            "stored_chunk_bytes": chunk_bytes,
            "by_kind": {
                "data": { "chunks": st.data.count, "bytes": st.data.bytes },
                "index": { "chunks": st.index.count, "bytes": st.index.bytes },
                "commits": { "chunks": st.commits.count, "bytes": st.commits.bytes },
            },
            "pack_overhead_bytes": overhead,
            "forward_tables": { "objects": st.forward_tables.count, "bytes": st.forward_tables.bytes },
            "refs": { "objects": st.refs.count, "bytes": st.refs.bytes },
            "head_keys": keys,
            "head_logical_bytes": logical,
            "head_logical_per_stored": ratio,
            "cache": {
                "hot": { "hits": tiers.hot_hits, "misses": tiers.hot_misses },
                "warm": { "hits": tiers.warm_hits, "misses": tiers.warm_misses, "bytes_served": tiers.warm_bytes, "disk_bytes": warm_disk },
                "cold": { "reads": tiers.cold_reads, "bytes_fetched": tiers.cold_bytes },
            },
        });
        if ctx.global.json {
            return output::json(&v);
        }
        let warm = match warm_disk {
            Some(d) => format!(
                "{} hits, {} misses, {} served, {} on disk",
                tiers.warm_hits,
                tiers.warm_misses,
                output::bytes(tiers.warm_bytes),
                output::bytes(d)
            ),
            None => "off (local repository; enable with --cache-size)".to_string(),
        };
        output::line(format!(
            "repository size:   {} in {} objects\n\
             chunks:            {chunks} ({} sealed)\n\
             \x20 data:            {} ({})\n\
             \x20 index nodes:     {} ({})\n\
             \x20 commits:         {} ({})\n\
             \x20 pack overhead:   {} (tables, locators, padding)\n\
             forward tables:    {} in {} objects\n\
             refs:              {} in {} objects\n\
             HEAD:              {keys} keys, {}\n\
             HEAD / stored:     {ratio:.2}x (dedup and compression)\n\
             hot tier:          {} hits, {} misses\n\
             warm tier:         {warm}\n\
             cold tier:         {} reads, {} fetched",
            output::bytes(repo_bytes),
            st.objects,
            output::bytes(chunk_bytes),
            st.data.count,
            output::bytes(st.data.bytes),
            st.index.count,
            output::bytes(st.index.bytes),
            st.commits.count,
            output::bytes(st.commits.bytes),
            output::bytes(overhead),
            output::bytes(st.forward_tables.bytes),
            st.forward_tables.count,
            output::bytes(st.refs.bytes),
            st.refs.count,
            output::bytes(logical),
            tiers.hot_hits,
            tiers.hot_misses,
            tiers.cold_reads,
            output::bytes(tiers.cold_bytes)
        ))?;
        Ok(())
    }
}
