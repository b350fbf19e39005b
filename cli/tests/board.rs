//! `poc247 board` driven as a duty officer drives it: the real binary in a real terminal
//! (tmux), real nodes in this process; keys sent with `tmux send-keys`, the screen read with
//! `tmux capture-pane`, the outcome checked through the node's API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use poc247_tests::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of this test's own (`-L`), so nothing else's sessions are touched.
struct Tmux {
    server: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// What the terminal shows now.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "board"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "board"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "{out:?}");
    }

    /// Waits until the screen shows `what` (a generous overall bound: this is no measure of
    /// speed), and returns it.
    async fn until(&self, what: &str) -> String {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                Instant::now() < end,
                "the board never showed {what:?}; it shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_sees_a_request_arrive_on_the_board_opens_it_and_acknowledges_it() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed for this test (apt-get install tmux; .ci/run installs it)");
    }
    let mut net = Net::embedded().await.unwrap();
    let fr = net.config("FR").unwrap().socket;
    // The shell stays after the board, to show how it ended.
    let tmux = Tmux {
        server: format!("poc247-board-{}", std::process::id()),
    };
    let command = format!(
        "env -u NO_COLOR TERM=xterm-256color '{}' --socket '{}' board; echo board exited with $?; sleep 600",
        env!("CARGO_BIN_EXE_poc247"),
        fr.display()
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "board",
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    assert!(out.status.success(), "{out:?}");
    // The board is up and following FR's events, with nothing owed yet.
    tmux.until("connected: live").await;
    tmux.until("nothing owed").await;

    // LU sends a request: it appears on FR's board with no key pressed.
    let done = net.submit("LU", &preservation_request("FR")).await.unwrap();
    let case = done["case_ref"].as_str().unwrap().to_owned();
    let screen = tmux.until(&case).await;
    assert!(screen.contains("acknowledgement"), "{screen}");
    assert!(!screen.contains("nothing owed"), "{screen}");

    // Enter opens the case's `show` view in a pane.
    tmux.keys(&["Enter"]);
    let screen = tmux.until("messages (1)").await;
    assert!(screen.contains("Esc closes"), "{screen}");
    assert!(screen.contains("requested (LU asked us)"), "{screen}");

    // a asks the officer's name; Enter acknowledges the case through the API.
    tmux.keys(&["a"]);
    tmux.until("as officer:").await;
    tmux.keys(&["-l", "night duty"]);
    tmux.keys(&["Enter"]);
    tmux.until(&format!("acknowledged {case} as night duty"))
        .await;
    let at_fr = net.case("FR", &case).await.unwrap();
    assert_eq!(at_fr["state"], "acknowledged", "{at_fr}");
    let ack = at_fr["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "acknowledgement")
        .cloned()
        .unwrap_or_else(|| panic!("no acknowledgement in {at_fr}"));
    assert_eq!(ack["body"]["officer"], "night duty", "{ack}");
    // And LU receives it: the same case, acknowledged on both sides.
    let end = Instant::now() + Duration::from_secs(60);
    while net.case("LU", &case).await.unwrap()["state"] != "acknowledged" {
        assert!(Instant::now() < end, "LU never saw the acknowledgement");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // FR stops: the board says it lost the node; FR is back: the board says so and follows
    // again: a new request, an emergency, appears, marked and in colour.
    net.net.stop_node(&party("FR")).await;
    tmux.until("LOST THE NODE").await;
    net.net.start_node(&party("FR")).await.unwrap();
    tmux.until("the node is back").await;
    tmux.until("connected: live").await;
    let mut emergency = preservation_request("FR");
    emergency["urgency"] = "emergency".into();
    emergency["fields"]["emergency_facts"] = "a child is held; the kidnapper uses it".into();
    let again = net.submit("LU", &emergency).await.unwrap();
    let second = again["case_ref"].as_str().unwrap().to_owned();
    let screen = tmux.until(&second).await;
    let row = screen.lines().find(|l| l.contains(&second)).unwrap();
    assert!(row.contains("EMERGENCY"), "{screen}");
    let coloured = String::from_utf8_lossy(
        &tmux
            .run(&["capture-pane", "-p", "-e", "-t", "board"])
            .stdout,
    )
    .into_owned();
    let row = coloured.lines().find(|l| l.contains(&second)).unwrap();
    assert!(
        ["31m", "91m", "38;5;1m", "38;5;9m"]
            .iter()
            .any(|red| row.contains(&format!("\u{1b}[{red}"))),
        "the emergency is not in red: {row:?}"
    );

    // q quits, with exit status 0, and gives the terminal back.
    tmux.keys(&["q"]);
    tmux.until("board exited with 0").await;
    net.net.shutdown().await;
}
