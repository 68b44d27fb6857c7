//! Supervised child processes that can never outlive the test binary.
//!
//! A `static` is never dropped, so killing on `Drop` is not enough for the
//! shared Tomcat. Each peer therefore runs under a small bash watchdog, in its
//! own process group: the watchdog polls the test process every 200 ms and,
//! once it is gone (or a zombie), TERMs the peer, waits up to 5 s, then KILLs
//! the whole group. The peer itself runs under `setpriv --pdeathsig KILL`, so
//! it also dies if the watchdog is SIGKILLed. `Drop` stops the group at once.
//! When the test process is gone, the watchdog also removes the `cleanup`
//! directory (the peer's temp dir) unless `TOWER_AJP_KEEP_PEERS` is set.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

const WATCHDOG: &str = r#"
owner=$1; shift
alive() {
    local s
    s=$(cat "/proc/$owner/stat" 2>/dev/null) || return 1
    s=${s##*) }
    case ${s%% *} in Z|X|x) return 1 ;; esac
}
setpriv --pdeathsig KILL -- "$@" &
child=$!
stop() {
    trap '' TERM INT HUP
    kill -TERM "$child" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$child" 2>/dev/null || break
        sleep 0.1
    done
    if [ "${1-}" = cleanup ] && [ -n "${WATCHDOG_CLEANUP-}" ] && [ -z "${TOWER_AJP_KEEP_PEERS-}" ]; then
        rm -rf -- "$WATCHDOG_CLEANUP"
    fi
    kill -KILL 0
}
trap stop TERM INT HUP
while alive && kill -0 "$child" 2>/dev/null; do
    sleep 0.2 & wait $!
done
if ! kill -0 "$child" 2>/dev/null; then
    wait "$child"
    echo "[watchdog] supervised process exited with status $?" >&2
else
    echo "[watchdog] test process $owner is gone: stopping the supervised process" >&2
    stop cleanup
fi
stop
"#;

/// A process group (watchdog + peer) tied to the lifetime of the test binary.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Supervised {
    /// Starts `program args...` under the watchdog, in `cwd`, with stdout and
    /// stderr appended to `log`, and `env` added to the environment. `cleanup`
    /// is removed by the watchdog if the test process disappears first.
    pub fn spawn(
        name: &str,
        program: &str,
        args: &[String],
        env: &[(&str, String)],
        cwd: &Path,
        log: &Path,
        cleanup: Option<&Path>,
    ) -> Supervised {
        Supervised::spawn_owned_by(
            std::process::id(),
            name,
            program,
            args,
            env,
            cwd,
            log,
            cleanup,
        )
    }

    /// Like [`Supervised::spawn`] but tied to the life of process `owner`
    /// instead of this test process (used to test the watchdog itself).
    #[allow(clippy::too_many_arguments)]
    pub fn spawn_owned_by(
        owner: u32,
        name: &str,
        program: &str,
        args: &[String],
        env: &[(&str, String)],
        cwd: &Path,
        log: &Path,
        cleanup: Option<&Path>,
    ) -> Supervised {
        use std::os::unix::process::CommandExt;
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open log {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log file handle");
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg(format!("{name}-watchdog"))
            .arg(owner.to_string())
            .arg(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(dir) = cleanup {
            cmd.env("WATCHDOG_CLEANUP", dir);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn bash watchdog for {name}: {e}"));
        Supervised {
            name: name.to_owned(),
            child: Mutex::new(child),
            log: log.to_owned(),
        }
    }

    /// Pid of the watchdog (= the process group id).
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    /// The exit status if the group is gone (the peer exited or was stopped).
    pub fn exited(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().ok().flatten()
    }

    /// The combined stdout/stderr log of the watchdog and the peer.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Stops the peer (TERM, up to 5 s, then KILL the group) and waits, at most
    /// 10 s, for the group to be gone. Idempotent.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        let pgid = Pid::from_raw(child.id() as i32);
        let _ = kill(pgid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "{}: watchdog did not stop in 10 s, killing its group",
            self.name
        );
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
