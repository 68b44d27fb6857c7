//! Smoke test of the benchmark harness: `bench/run.sh --quick` (every row, tiny runs)
//! starts the tower-ajp gateway (twice: by default and with `--busy-poll`), httpd
//! mod_proxy_ajp, httpd mod_jk, the demo container (AJP and direct HTTP) and Tomcat 10,
//! measures, stops everything and prints the table.
//! The figures of a quick run mean nothing; this checks that the harness works and every
//! row has figures. It reuses this build's binaries (`BENCH_PROFILE=dev`: the examples
//! `cargo test` builds anyway, and the fdpass bench in the same profile), so it adds
//! about a minute to the test run. The full benchmark is `bash bench/run.sh`: never a test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROWS: &[&str] = &[
    "GET /hello c=1, req/s",
    "GET c=1, p50 ms",
    "GET c=1, p99 ms",
    "GET /hello c=64, req/s",
    "GET c=64, p50 ms",
    "GET c=64, p99 ms",
    "GET /hello c=256, req/s",
    "GET c=256, p50 ms",
    "GET c=256, p99 ms",
    "download, MB/s",
    "upload, MB/s",
    "proxy peak RSS after transfers, MiB",
    "proxy peak RSS after all, MiB",
    "proxy CPU s, all GET runs",
    "proxy CPU µs per GET",
    "proxy CPU s, transfers",
];

#[test]
fn quick_mode_prints_every_row() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke.md");
    let _ = std::fs::remove_file(&out);
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(root.join("bench/run.sh"))
        .arg("--quick")
        .env("BENCH_PROFILE", "dev")
        .env("BENCH_OUT", &out)
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash bench/run.sh --quick");
    // The script bounds itself (timeout(1) around the whole run); this is a second bound.
    let limit = Duration::from_secs(600);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            // SIGTERM to the script: its trap stops what it started.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
            panic!("bench/run.sh --quick still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        status.success(),
        "bench/run.sh --quick failed ({status}):\n{stdout}\n--- stderr ---\n{stderr}"
    );
    let written = std::fs::read_to_string(&out).expect("the table file");
    assert_eq!(written.trim(), stdout.trim(), "stdout is the table");

    let header = written
        .lines()
        .find(|l| l.starts_with("| metric |"))
        .expect("table header");
    for col in [
        "tower-ajp gateway |",
        "tower-ajp gateway --busy-poll",
        "httpd mod_proxy_ajp",
        "httpd mod_jk",
        "direct HTTP (ceiling)",
    ] {
        assert!(header.contains(col), "column {col} missing: {header}");
    }
    // With the CPU split (2 or more CPUs), a diagnostic c=1 cell runs with everything on one
    // CPU; the CI machine has 2.
    let split = written.contains("alone on CPU");
    let one_cpu_rows: &[&str] = if split {
        &["(diagnostic), req/s", "GET c=1 on one CPU, p99 ms"]
    } else {
        &[]
    };
    for backend in ["demo container", "Tomcat 10"] {
        for row in ROWS.iter().chain(one_cpu_rows) {
            let label = format!("| {backend}: ");
            let line = written
                .lines()
                .find(|l| l.starts_with(&label) && l.contains(row))
                .unwrap_or_else(|| panic!("row {backend}: {row} missing:\n{written}"));
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // "", label, gateway, gateway --busy-poll, mod_proxy_ajp, mod_jk, direct, ""
            assert_eq!(cells.len(), 8, "{line}");
            for (i, cell) in cells[2..6].iter().enumerate() {
                let number = cell.split_whitespace().next().unwrap_or("");
                // The busy-polling gateway sits out the one-CPU cells (it would spin on
                // the CPU the load needs).
                if i == 1 && one_cpu_rows.contains(row) {
                    assert_eq!(number, "—", "{line}");
                    continue;
                }
                assert!(
                    number.parse::<f64>().is_ok(),
                    "no figure in column {i} of {line}"
                );
            }
        }
    }
    let fdpass = written
        .lines()
        .find(|l| l.starts_with("| fdpass: hand-offs/s"))
        .unwrap_or_else(|| panic!("fdpass row missing:\n{written}"));
    // Columns 2 (fdpass-layer), 4 (mod_proxy_fdpass) and 6 (the ceiling) have figures.
    for column in [2, 4, 6] {
        assert!(
            fdpass.split('|').nth(column).is_some_and(|c| c
                .split_whitespace()
                .next()
                .is_some_and(|n| n.parse::<f64>().is_ok())),
            "no fdpass figure in column {column}: {fdpass}"
        );
    }
    assert!(
        written.contains("The whole run ("),
        "run time missing:\n{written}"
    );
    for gateway in ["tower-ajp gateway (", "tower-ajp gateway --busy-poll ("] {
        assert!(
            written.contains(&format!("Targets, {gateway}")),
            "targets of {gateway} missing:\n{written}"
        );
    }
}
