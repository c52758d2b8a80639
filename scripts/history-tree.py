#!/usr/bin/env python3
"""Versions of a synthetic source tree that changes like a small project's: history-tree.py OUT N.

Writes versions 1..N into OUT/v0001, OUT/v0002, ... Version 1 is 60 files of Rust-like text (about 0.6 MB) in six
directories; each later version edits 1 to 4 files (1 to 9 line insertions, replacements or deletions each), every
10th version adds a file and every 15th deletes one. Deterministic: the same N gives the same bytes.
"""
import os
import random
import sys

WORDS = ["fn", "let", "mut", "self", "return", "match", "impl", "struct", "pub", "use", "if", "else", "for", "in",
         "while", "loop", "Some", "None", "Ok", "Err", "value", "index", "commit", "branch", "key", "store"]


def line(r):
    return " " * (4 * r.randrange(4)) + " ".join(r.choice(WORDS) for _ in range(r.randrange(3, 12))) + ";\n"


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    r = random.Random(7)
    files = {f"src/mod{i // 10}/file{i}.rs": [line(r) for _ in range(r.randrange(40, 300))] for i in range(60)}
    for v in range(1, n + 1):
        if v > 1:
            rv = random.Random(1000 + v)
            for _ in range(rv.randrange(1, 5)):
                ls = files[rv.choice(sorted(files))]
                for _ in range(rv.randrange(1, 10)):
                    op, p = rv.random(), rv.randrange(len(ls) + 1)
                    if op < 0.5:
                        ls.insert(p, line(rv))
                    elif ls and op < 0.8:
                        ls[min(p, len(ls) - 1)] = line(rv)
                    elif ls:
                        del ls[min(p, len(ls) - 1)]
            if v % 10 == 0:
                files[f"src/new/file_v{v}.rs"] = [line(rv) for _ in range(rv.randrange(20, 100))]
            if v % 15 == 0:
                del files[rv.choice(sorted(files))]
        for name, ls in files.items():
            p = os.path.join(out, f"v{v:04d}", name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write("".join(ls))


if __name__ == "__main__":
    main()
