//! Private Apache httpd 2.4 instances (one per test; they start in < 0.1 s).
//!
//! [`Httpd::start`] writes `ServerRoot/httpd.conf` = a generated prelude + the
//! test's configuration, and runs `/usr/sbin/apache2 -f ... -DFOREGROUND` under
//! the watchdog of [`super::proc`] (stopped on drop, and when the test binary
//! exits). The prelude:
//!
//! - `ServerRoot` = a fresh /tmp/tower-ajp-httpd.* dir (mode 0755; removed on
//!   drop), `ServerName 127.0.0.1`, `Listen 127.0.0.1:PORT` (a free port),
//!   `PidFile run/httpd.pid`, `ErrorLog logs/error.log`, `LogLevel warn`,
//!   `Mutex file:run`, `DefaultRuntimeDir run`, `DocumentRoot htdocs` (empty:
//!   everything not proxied is a 404);
//! - `LoadModule` for mpm_event, authz_core, proxy, proxy_ajp, proxy_http,
//!   proxy_fdpass, then each extra module name given (`"jk"`, `"headers"`,
//!   `"env"`, `"setenvif"`, `"rewrite"`, `"ssl"`, `"proxy_balancer"`,
//!   `"lbmethod_byrequests"`, `"slotmem_shm"`, ... = `mod_NAME.so`);
//! - for `"jk"`: `JkShmFile run/jk.shm`, `JkLogFile logs/mod_jk.log`,
//!   `JkLogLevel warn`, and `JkWorkersFile workers.properties` if the builder
//!   was given that file (else use `JkWorkerProperty` lines);
//! - `User`/`Group www-data` when running as root;
//! - event MPM: 1 to 2 processes × 32 threads (`ServerLimit 2`,
//!   `ThreadsPerChild 32`, `MaxRequestWorkers 64`), `KeepAlive On`,
//!   `MaxKeepAliveRequests 0`, `KeepAliveTimeout 5`, `Timeout 30`. Later
//!   directives in the test's text override these.
//!
//! In the test's text, `@ROOT@` is replaced by the ServerRoot path and
//! `@PORT@` by the listening port.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::proc::Supervised;
use super::tomcat::make_temp_dir;
use super::{INSTALL_HINT, free_port, port_accepts, tail};

/// The httpd binary of Debian's apache2 package.
pub const APACHE2: &str = "/usr/sbin/apache2";
/// Where Debian keeps httpd modules.
pub const MODULES_DIR: &str = "/usr/lib/apache2/modules";
/// How long [`Httpd::start`] waits for the port before panicking.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

const BASE_MODULES: [&str; 6] = [
    "mpm_event",
    "authz_core",
    "proxy",
    "proxy_ajp",
    "proxy_http",
    "proxy_fdpass",
];

/// Builds an httpd: extra modules, extra files in the ServerRoot, config text.
#[derive(Debug)]
pub struct HttpdBuilder {
    root: PathBuf,
    modules: Vec<String>,
    conf: String,
}

impl HttpdBuilder {
    /// The ServerRoot (already created), so a test can place sockets, symlinks
    /// (e.g. `ServerRoot/localhost` for mod_proxy_fdpass) or files before start.
    pub fn server_root(&self) -> &Path {
        &self.root
    }

    /// Loads `mod_NAME.so` for each name, after the base modules.
    pub fn modules(mut self, names: &[&str]) -> Self {
        self.modules.extend(names.iter().map(|s| (*s).to_owned()));
        self
    }

    /// Appends configuration text (with `@ROOT@` / `@PORT@` placeholders).
    pub fn conf(mut self, text: &str) -> Self {
        self.conf.push_str(text);
        self.conf.push('\n');
        self
    }

    /// Writes `ServerRoot/relative` (mode 0644) before start, e.g.
    /// `workers.properties` for mod_jk.
    pub fn file(self, relative: &str, content: &str) -> Self {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
        }
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        self
    }

    /// Starts httpd and waits (at most 10 s) until its port accepts
    /// connections; panics with the error log otherwise. Retries with another
    /// port (3 attempts) if the chosen port was taken meanwhile.
    pub fn start(self) -> Httpd {
        check_installed(&self.modules);
        let mut last = String::new();
        for attempt in 1..=3 {
            let port = free_port();
            let conf = self.write_conf(port);
            let log = self.root.join("logs/error.log");
            let _ = std::fs::remove_file(&log);
            let started = Instant::now();
            let process = Supervised::spawn(
                "httpd",
                APACHE2,
                &[
                    "-f".to_owned(),
                    conf.display().to_string(),
                    "-DFOREGROUND".to_owned(),
                ],
                &[],
                &self.root,
                &self.root.join("logs/stderr.log"),
                Some(&self.root),
            );
            loop {
                if port_accepts(port) && process.exited().is_none() {
                    return Httpd {
                        root: self.root,
                        port,
                        process,
                        started_in: started.elapsed(),
                    };
                }
                if process.exited().is_some() || started.elapsed() > START_TIMEOUT {
                    let report = format!(
                        "httpd {} (ServerRoot {}):\n--- logs/stderr.log ---\n{}\n--- logs/error.log ---\n{}\n--- httpd.conf ---\n{}",
                        if process.exited().is_some() {
                            "exited during start"
                        } else {
                            "not listening after 10 s"
                        },
                        self.root.display(),
                        tail(&self.root.join("logs/stderr.log"), 30),
                        tail(&log, 50),
                        std::fs::read_to_string(&conf).unwrap_or_default()
                    );
                    process.stop();
                    if report.contains("Address already in use") && attempt < 3 {
                        eprintln!("httpd: port {port} was taken (attempt {attempt}), retrying");
                        last = report;
                        break;
                    }
                    panic!("{report}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("httpd could not bind a port in 3 attempts:\n{last}");
    }

    fn write_conf(&self, port: u16) -> PathBuf {
        let root = self.root.display().to_string();
        let mut c = format!(
            "# prelude generated by tests/support/httpd.rs\n\
             ServerRoot \"{root}\"\n\
             ServerName 127.0.0.1\n\
             Listen 127.0.0.1:{port}\n\
             PidFile \"{root}/run/httpd.pid\"\n\
             ErrorLog \"{root}/logs/error.log\"\n\
             LogLevel warn\n\
             DefaultRuntimeDir \"{root}/run\"\n\
             Mutex file:{root}/run default\n\
             DocumentRoot \"{root}/htdocs\"\n"
        );
        for m in BASE_MODULES
            .iter()
            .copied()
            .chain(self.modules.iter().map(String::as_str))
        {
            c.push_str(&format!("LoadModule {m}_module {MODULES_DIR}/mod_{m}.so\n"));
        }
        if self.modules.iter().any(|m| m == "jk") {
            c.push_str(&format!(
                "JkShmFile \"{root}/run/jk.shm\"\nJkLogFile \"{root}/logs/mod_jk.log\"\nJkLogLevel warn\n"
            ));
            if self.root.join("workers.properties").exists() {
                c.push_str(&format!("JkWorkersFile \"{root}/workers.properties\"\n"));
            }
        }
        let euid = std::os::unix::fs::MetadataExt::uid(
            &std::fs::metadata("/proc/self").expect("stat /proc/self"),
        );
        if euid == 0 {
            c.push_str("User www-data\nGroup www-data\n");
        }
        c.push_str(
            "StartServers 1\n\
             ServerLimit 2\n\
             ThreadsPerChild 32\n\
             MaxRequestWorkers 64\n\
             MinSpareThreads 8\n\
             MaxSpareThreads 64\n\
             KeepAlive On\n\
             MaxKeepAliveRequests 0\n\
             KeepAliveTimeout 5\n\
             Timeout 30\n\
             # test configuration\n",
        );
        c.push_str(
            &self
                .conf
                .replace("@ROOT@", &root)
                .replace("@PORT@", &port.to_string()),
        );
        let path = self.root.join("httpd.conf");
        std::fs::write(&path, c).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

/// A running private httpd, stopped (and its ServerRoot removed) on drop.
#[derive(Debug)]
pub struct Httpd {
    root: PathBuf,
    port: u16,
    process: Supervised,
    started_in: Duration,
}

impl Httpd {
    /// A builder with a fresh ServerRoot.
    pub fn builder() -> HttpdBuilder {
        let root = make_temp_dir("tower-ajp-httpd");
        for d in ["logs", "run", "htdocs"] {
            std::fs::create_dir_all(root.join(d))
                .unwrap_or_else(|e| panic!("cannot create {}/{d}: {e}", root.display()));
        }
        HttpdBuilder {
            root,
            modules: Vec::new(),
            conf: String::new(),
        }
    }

    /// Starts httpd with `extra_conf` after the prelude and `modules` (names
    /// as in `mod_NAME.so`) loaded after the base ones. See the module doc.
    pub fn start(extra_conf: &str, modules: &[&str]) -> Httpd {
        Httpd::builder().modules(modules).conf(extra_conf).start()
    }

    /// The listening port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port()`.
    pub fn addr(&self) -> std::net::SocketAddr {
        super::local(self.port)
    }

    /// The ServerRoot directory.
    pub fn server_root(&self) -> &Path {
        &self.root
    }

    /// The whole error log (plus httpd's stderr, if any).
    pub fn error_log(&self) -> String {
        let mut s = std::fs::read_to_string(self.root.join("logs/error.log")).unwrap_or_default();
        let stderr = std::fs::read_to_string(self.root.join("logs/stderr.log")).unwrap_or_default();
        if !stderr.trim().is_empty() {
            s.push_str("--- stderr ---\n");
            s.push_str(&stderr);
        }
        s
    }

    /// The mod_jk log (empty if mod_jk is not loaded).
    pub fn jk_log(&self) -> String {
        std::fs::read_to_string(self.root.join("logs/mod_jk.log")).unwrap_or_default()
    }

    /// How long the start took (spawn until the port accepted).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Whether httpd is still running.
    pub fn is_running(&self) -> bool {
        self.process.exited().is_none()
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        self.process.stop();
        if std::env::var_os("TOWER_AJP_KEEP_PEERS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn check_installed(modules: &[String]) {
    assert!(
        Path::new(APACHE2).exists(),
        "{APACHE2} is missing: {INSTALL_HINT}"
    );
    for m in BASE_MODULES
        .iter()
        .copied()
        .chain(modules.iter().map(String::as_str))
    {
        let so = Path::new(MODULES_DIR).join(format!("mod_{m}.so"));
        assert!(
            so.exists(),
            "httpd module {} is missing: {INSTALL_HINT}",
            so.display()
        );
    }
}
