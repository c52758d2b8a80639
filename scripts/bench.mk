# Side-by-side benchmarks (not run by CI). Included by the top-level Makefile.
#   make bench         every section in scripts/bench.d/: the stream, a million keys, S3 round trips (a local
#                      SeaweedFS, installed like the tests' one; BENCH_S3=0 skips it), then trees and the mount
#   make bench-scale   at scale: 1,000,000 and 10,000,000 small keys, and as many chunks known to the dedup index
#                      (long: tens of minutes)
# Environment knobs (BENCH_SECTIONS, BENCH_SIZE_MB, INFINI_BIN, BENCH_RUSTIC, BENCH_S3, BENCH_KEYS, ...) are
# documented in scripts/bench.sh and the section files.

BENCH_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: bench bench-scale bench-build bench-tree bench-mount

bench-build:
	cargo build --release --bin infini --example cpu_limit

bench: bench-build test-deps
	mkdir -p bench-work && cargo bench --bench stream | tee bench-work/stream.md
	cargo bench --bench fields | tee bench-work/fields.md
	BENCH_KEYS="$${BENCH_KEYS:-1000000}" BENCH_KEYS_PEERS="$${BENCH_KEYS_PEERS:-restic rustic}" \
	  BENCH_CHUNKS="$${BENCH_CHUNKS:-1000000}" bash $(BENCH_MK_DIR)bench.sh; s=$$?; bash $(BENCH_MK_DIR)bench-tree.sh || s=$$?; \
	  bash $(BENCH_MK_DIR)bench-mount.sh || s=$$?; exit $$s

bench-scale: bench-build
	BENCH_SECTIONS="$${BENCH_SECTIONS:-keys chunks}" BENCH_KEYS="$${BENCH_KEYS:-1000000 10000000}" \
		BENCH_CHUNKS="$${BENCH_CHUNKS:-1000000 10000000}" \
		BENCH_TARGET="make bench-scale" bash $(BENCH_MK_DIR)bench.sh

# Only the directory-tree comparison (put -r / get -r against borg, restic and rustic).
bench-tree:
	cargo build --release
	bash $(BENCH_MK_DIR)bench-tree.sh

# Only the mount benchmark (reading through `infini mount` against get -r).
bench-mount:
	cargo build --release
	bash $(BENCH_MK_DIR)bench-mount.sh
