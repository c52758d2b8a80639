//! A process killed in the middle of a command leaves the last commit intact; the command can simply be run again.

use crate::util::{random_bytes, write, Env};
use std::time::Duration;

#[test]
fn killing_a_put_midway_loses_nothing_and_it_can_be_rerun() {
    let env = Env::init();
    env.put("kept", b"committed before the crash");
    let first = env.commit("first");
    let value = random_bytes(9, 60_000_000);
    let file = env.root.join("big.bin");
    write(&file, &value);
    for delay_ms in [30u64, 120, 400] {
        // Start a large put and kill it with SIGKILL partway.
        let mut child = env
            .cmd(["put", "big", file.to_str().unwrap()])
            .command()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // The repository is intact and the last commit readable.
        env.ok(["check", "--read-data"]);
        assert_eq!(env.get("kept"), b"committed before the crash");
        assert_eq!(env.log_ids()[0], first);
    }
    // Running the interrupted work again succeeds.
    env.ok(["put", "big", file.to_str().unwrap()]);
    env.commit("second");
    assert_eq!(env.get("big"), value);
    env.ok(["check", "--read-data"]);
}
