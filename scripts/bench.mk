# Side-by-side benchmark against borg, restic (and rustic): `make bench`.
# Included by the top-level Makefile. Environment knobs (BENCH_SIZE_MB,
# INFINI_BIN, BENCH_RUSTIC, BENCH_S3, ...) are documented in scripts/bench.sh.

BENCH_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: bench bench-tree
bench:
	cargo build --release
	mkdir -p bench-work && cargo bench --bench stream | tee bench-work/stream.md
	cargo bench --bench fields | tee bench-work/fields.md
	bash $(BENCH_MK_DIR)bench.sh; s=$$?; bash $(BENCH_MK_DIR)bench-tree.sh && exit $$s

# Only the directory-tree comparison (put -r / get -r against borg, restic and rustic).
bench-tree:
	cargo build --release
	bash $(BENCH_MK_DIR)bench-tree.sh
