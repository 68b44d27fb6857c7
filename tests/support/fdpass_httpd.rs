//! A private Apache httpd 2.4 with mod_proxy_fdpass, for the `fdpass_*` tests.
//!
//! `ProxyPassMatch "^/fdpass/.*()$" "fd://localhost/fdpass.sock$1"`: httpd 2.4.71 refuses
//! absolute `fd://` paths, so `ServerRoot/localhost` is a symlink to the folder holding the
//! socket, and the always-empty `$1` stops mod_proxy from appending the request path
//! (shared/peers/README.md). Running as root, the workers run as `www-data`, so that folder
//! must be searchable and the socket writable by it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APACHE2: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

/// `(uid, gid)` of `www-data`, from `/etc/passwd`.
pub fn www_data() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"www-data")).then(|| (f[2].parse().ok(), f[3].parse().ok()))
        })
        .and_then(|(u, g)| Some((u?, g?)))
        .expect("no www-data user in /etc/passwd (apache2 package missing?)")
}

/// Whether this process runs as root (httpd then needs `User www-data`).
pub fn is_root() -> bool {
    euid() == 0
}

/// This process' effective uid (the owner of `/proc/self`).
pub fn euid() -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("stat /proc/self"))
}

/// The uid httpd's workers will connect to our socket with.
pub fn httpd_worker_uid() -> u32 {
    if is_root() { www_data().0 } else { euid() }
}

/// A running httpd, killed with its whole process group on drop.
#[derive(Debug)]
pub struct FdpassHttpd {
    child: Child,
    root: PathBuf,
    pub addr: SocketAddr,
}

impl FdpassHttpd {
    /// Starts httpd on a free loopback port, passing `/fdpass/*` to `socket_dir/fdpass.sock`.
    /// Panics with a clear message if apache2 or mod_proxy_fdpass is not installed.
    pub fn start(socket_dir: &Path) -> Self {
        assert!(
            Path::new(APACHE2).exists() && Path::new(MODULES).join("mod_proxy_fdpass.so").exists(),
            "Apache httpd with mod_proxy_fdpass is required: {APACHE2} or {MODULES}/mod_proxy_fdpass.so \
             is missing. Run scripts/install-peers.sh (apt-get install apache2)."
        );
        let root = std::env::temp_dir().join(format!(
            "fdpass-httpd-{}-{}",
            std::process::id(),
            socket_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
        ));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["logs", "run"] {
            std::fs::create_dir_all(root.join(d)).expect("create ServerRoot");
        }
        std::os::unix::fs::symlink(socket_dir, root.join("localhost")).expect("symlink localhost");
        let mut last = String::new();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let conf = root.join("httpd.conf");
            let r = root.display();
            let user = if is_root() {
                "User www-data\nGroup www-data\n"
            } else {
                ""
            };
            std::fs::write(
                &conf,
                format!(
                    "ServerRoot \"{r}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
                     PidFile \"{r}/run/httpd.pid\"\nErrorLog \"{r}/logs/error.log\"\nLogLevel warn\n\
                     DefaultRuntimeDir \"{r}/run\"\nMutex file:{r}/run default\n{user}\
                     LoadModule mpm_event_module {MODULES}/mod_mpm_event.so\n\
                     LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
                     LoadModule proxy_module {MODULES}/mod_proxy.so\n\
                     LoadModule proxy_fdpass_module {MODULES}/mod_proxy_fdpass.so\n\
                     StartServers 1\nServerLimit 2\nThreadsPerChild 32\nMaxRequestWorkers 64\n\
                     KeepAlive On\nTimeout 30\n\
                     ProxyPassMatch \"^/fdpass/.*()$\" \"fd://localhost/fdpass.sock$1\"\n"
                ),
            )
            .expect("write httpd.conf");
            let child = Command::new(APACHE2)
                .arg("-f")
                .arg(&conf)
                .arg("-DFOREGROUND")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(root.join("logs/stderr.log")).expect("stderr log"),
                ))
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {APACHE2}: {e}"));
            let mut me = Self {
                child,
                root: root.clone(),
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = me.child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(me.addr).is_ok() {
                    return me;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            last = me.logs();
            // Drop kills it; retry on another port (it may have been taken meanwhile).
        }
        panic!("httpd did not start:\n{last}");
    }

    /// The pid of the httpd parent, which is also the process group of all its processes.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stderr and error.log, for failure messages.
    pub fn logs(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.root.join(p)).unwrap_or_default();
        format!(
            "--- stderr ---\n{}\n--- error.log ---\n{}",
            read("logs/stderr.log"),
            read("logs/error.log")
        )
    }
}

impl Drop for FdpassHttpd {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        let pgid = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(pgid, Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whatever is left of the group (children, a stuck parent) goes now.
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
