#!/usr/bin/env python3
"""A history of commits to a small source tree, made by any tool: log-history.py DIR N COMMAND.

Writes version 1 of a tree of 60 files of Rust-like text (src/mod0/file0.rs .. src/mod5/file59.rs, about 0.6 MB)
into DIR, runs COMMAND (a shell command, in DIR, with $V set to the version number), then for each version 2..N
edits 1 to 4 files (a few lines each) and runs COMMAND again: N commits. Deterministic: the same N gives the same
bytes at every version, whichever tool commits them, so each file changes in the same commits for every tool (a
file changes in about 1 commit in 24).
"""
import os
import random
import subprocess
import sys

WORDS = ["fn", "let", "mut", "self", "return", "match", "impl", "struct", "pub", "use", "if", "else", "for", "in",
         "while", "loop", "Some", "None", "Ok", "Err", "value", "index", "commit", "branch", "key", "store"]


def line(r):
    return " " * (4 * r.randrange(4)) + " ".join(r.choice(WORDS) for _ in range(r.randrange(3, 12))) + ";\n"


def write(root, rel, lines):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.writelines(lines)


def main():
    root, n, command = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    r = random.Random(7)
    files = {f"src/mod{i // 10}/file{i}.rs": [line(r) for _ in range(r.randrange(40, 300))] for i in range(60)}
    for rel, ls in files.items():
        write(root, rel, ls)
    for v in range(1, n + 1):
        if v > 1:
            rv = random.Random(1000 + v)
            for rel in sorted({rv.choice(sorted(files)) for _ in range(rv.randrange(1, 5))}):
                ls = files[rel]
                for _ in range(rv.randrange(1, 10)):
                    p = rv.randrange(len(ls) + 1)
                    ls.insert(p, line(rv))
                write(root, rel, ls)
        subprocess.run(command, shell=True, cwd=root, check=True, env=dict(os.environ, V=str(v)))


if __name__ == "__main__":
    main()
