# Side-by-side benchmark against borg, restic (and rustic): `make bench`.
# Included by the top-level Makefile. Environment knobs (BENCH_SIZE_MB,
# INFINI_BIN, BENCH_RUSTIC, BENCH_S3, ...) are documented in scripts/bench.sh.

BENCH_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: bench
bench:
	cargo build --release
	mkdir -p bench-work && cargo bench --bench stream | tee bench-work/stream.md
	cargo bench --bench fields | tee bench-work/fields.md
	bash $(BENCH_MK_DIR)bench.sh
