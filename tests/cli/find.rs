//! `infini find`: which commits hold keys matching a pattern, across history and branches.

use crate::util::Env;

#[test]
fn find_lists_every_commit_holding_a_matching_key_newest_first() {
    let env = Env::init();
    env.put("etc/app.conf", b"v1");
    env.put("web/index.html", b"<html>");
    let c1 = env.commit("one");
    env.put("etc/app.conf", b"version two");
    env.put("web/about/team.html", b"<html>team");
    let c2 = env.commit("two");
    env.ok(["rm", "etc/app.conf"]);
    let c3 = env.commit("three: conf removed");
    env.ok(["fork", "side"]);
    env.put("side/notes.conf", b"n");
    let c4 = env.commit("on side");
    env.ok(["checkout", "main"]);

    // No '/': the last segment. Newest first; the commit that removed it holds none.
    let v = env.ok(["--json", "find", "*.conf"]).json();
    let rows: Vec<(String, String, u64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["commit"].as_str().unwrap().to_string(),
                r["key"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(c2.clone(), "etc/app.conf".to_string(), 11), (c1.clone(), "etc/app.conf".to_string(), 2)]);
    // With '/': the whole key; ** crosses segments, * does not.
    let keys = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--json", "find"];
        a.extend_from_slice(args);
        let v = env.ok(a).json();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}:{}", &r["commit"].as_str().unwrap()[..8], r["key"].as_str().unwrap()))
            .collect()
    };
    assert_eq!(
        keys(&["web/**/*.html"]),
        vec![
            format!("{}:web/about/team.html", &c3[..8]),
            format!("{}:web/index.html", &c3[..8]),
            format!("{}:web/about/team.html", &c2[..8]),
            format!("{}:web/index.html", &c2[..8]),
            format!("{}:web/index.html", &c1[..8])
        ]
    );
    assert_eq!(keys(&["web/*.html", "-n", "1"]), vec![format!("{}:web/index.html", &c3[..8])]);
    // --all searches every branch; shared commits once.
    let all = keys(&["--all", "*.CONF", "-i"]);
    assert!(all.contains(&format!("{}:side/notes.conf", &c4[..8])), "{all:?}");
    assert_eq!(all.iter().filter(|k| k.ends_with("etc/app.conf")).count(), 2, "{all:?}");
    // Text: a header per commit, a line per key; the count on stderr.
    let out = env.ok(["find", "team.html"]);
    assert!(out.text().contains("web/about/team.html") && out.text().contains("three: conf removed"), "{out}");
    assert!(out.stderr.contains("2 match(es) in 2 of 3 commit(s)"), "{out}");
    // A pattern globset cannot parse is a usage error.
    env.fails_with(2, ["find", "[z-a]"]);
    env.fails_with(3, ["find", "x", "--at", "nosuchrev"]);
}
