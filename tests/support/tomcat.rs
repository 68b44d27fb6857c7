//! A private Tomcat 10 with the test webapp (tests/webapp) deployed as ROOT.
//!
//! [`tomcat()`] starts ONE instance per test binary, lazily, on first use, and
//! shares it between all the tests of the binary (each `#[tokio::test]` has its
//! own runtime, so this API is synchronous: call it at the start of a test; it
//! blocks about 3 s the first time). [`Tomcat::start`] makes a private instance
//! (stopped on drop) for tests that need exact connection counts.
//!
//! Layout: `CATALINA_HOME=/usr/share/tomcat10`, a temp `CATALINA_BASE`
//! (/tmp/tower-ajp-tomcat.*, removed when the instance stops) with generated
//! `conf/` (server.xml, web.xml, catalina.properties, logging.properties),
//! `logs/catalina.out` (everything: stdout, stderr and java.util.logging),
//! `temp/`, `work/`. Java runs with `-Xms64m -Xmx256m -XX:+UseSerialGC`, no jar
//! scanning, no JSP, no manager apps. Connectors, all on 127.0.0.1 and free
//! ports, sharing one executor (max 200 threads); see [`Connector`].
//! Engine `jvmRoute="tc1"` ([`JVM_ROUTE`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::proc::Supervised;
use super::{INSTALL_HINT, free_ports, local, port_accepts, probe_get, tail};

/// `CATALINA_HOME` of Debian's tomcat10 package.
pub const CATALINA_HOME: &str = "/usr/share/tomcat10";
/// Secret of the [`Connector::Secret`] connector.
pub const SECRET: &str = "s3cret-value";
/// `jvmRoute` of the Engine: session ids end in `.tc1`.
pub const JVM_ROUTE: &str = "tc1";
/// How long [`Tomcat::start`] waits for readiness before panicking.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The AJP connectors of the test Tomcat. All have the default
/// `connectionTimeout`/`keepAliveTimeout` (-1: idle connections stay open)
/// unless said otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Connector {
    /// packetSize 8192, no secret (`secretRequired="false"`),
    /// `allowedRequestAttributesPattern=".*"`, `tomcatAuthentication="false"`.
    Plain,
    /// `secret="s3cret-value"` ([`SECRET`]), default (strict) request attribute
    /// policy, default `tomcatAuthentication` (true), packetSize 8192.
    Secret,
    /// packetSize 65536, otherwise like [`Connector::Plain`].
    Big,
    /// Like [`Connector::Plain`] but `keepAliveTimeout="1000"`
    /// `connectionTimeout="1000"`: Tomcat closes a connection idle for 1 s
    /// (stale pooled connection tests).
    ShortKeepAlive,
}

impl Connector {
    /// Every AJP connector.
    pub const ALL: [Connector; 4] = [
        Connector::Plain,
        Connector::Secret,
        Connector::Big,
        Connector::ShortKeepAlive,
    ];

    fn index(self) -> usize {
        match self {
            Connector::Plain => 0,
            Connector::Secret => 1,
            Connector::Big => 2,
            Connector::ShortKeepAlive => 3,
        }
    }

    /// The `<Connector>` attributes that make this connector what it is.
    fn attributes(self) -> String {
        match self {
            Connector::Plain => r#"secretRequired="false" allowedRequestAttributesPattern=".*" packetSize="8192" tomcatAuthentication="false""#.to_owned(),
            Connector::Secret => format!(r#"secret="{SECRET}" packetSize="8192""#),
            Connector::Big => r#"secretRequired="false" allowedRequestAttributesPattern=".*" packetSize="65536" tomcatAuthentication="false""#.to_owned(),
            Connector::ShortKeepAlive => r#"secretRequired="false" allowedRequestAttributesPattern=".*" packetSize="8192" tomcatAuthentication="false" keepAliveTimeout="1000" connectionTimeout="1000""#.to_owned(),
        }
    }
}

/// A running private Tomcat. The shared one is [`tomcat()`].
#[derive(Debug)]
pub struct Tomcat {
    base: PathBuf,
    ajp: [u16; 4],
    http: u16,
    process: Supervised,
    started_in: Duration,
}

static SHARED: OnceLock<Result<Tomcat, String>> = OnceLock::new();

/// The Tomcat shared by every test of this test binary, started on first call
/// (blocking, ~2-3 s; panics with the log tail if it does not come up in 60 s).
/// A failed start is remembered: later calls panic at once with the same
/// message instead of trying again.
pub fn tomcat() -> &'static Tomcat {
    let shared = SHARED.get_or_init(|| {
        std::panic::catch_unwind(Tomcat::start).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned())
        })
    });
    match shared {
        Ok(t) => t,
        Err(msg) => panic!("the shared Tomcat failed to start: {msg}"),
    }
}

impl Tomcat {
    /// Starts a new private instance and waits until it is ready: every port
    /// accepts TCP and `GET /hello` on the HTTP connector answers 200. Retries
    /// (3 attempts) with new ports if a port was taken meanwhile. Stopped on drop
    /// and, in any case, when the test binary exits.
    pub fn start() -> Tomcat {
        check_installed();
        let webapp = compiled_webapp();
        let mut last_failure = String::new();
        for attempt in 1..=3 {
            match Tomcat::try_start(&webapp) {
                Ok(t) => return t,
                Err(StartError::PortTaken(log)) => {
                    eprintln!(
                        "tomcat: a port was taken during start (attempt {attempt}), retrying"
                    );
                    last_failure = log;
                }
                Err(StartError::Failed(msg)) => panic!("{msg}"),
            }
        }
        panic!("Tomcat could not bind its ports in 3 attempts; last log:\n{last_failure}");
    }

    fn try_start(webapp: &Path) -> Result<Tomcat, StartError> {
        let started = Instant::now();
        let base = make_temp_dir("tower-ajp-tomcat");
        let ports = free_ports(5);
        let ajp = [ports[0], ports[1], ports[2], ports[3]];
        let http = ports[4];
        write_base(&base, webapp, ajp, http);
        let log = base.join("logs/catalina.out");
        let base_s = base.display().to_string();
        let args: Vec<String> = [
            "-Xms64m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            "-Xshare:auto",
            "-Djava.security.egd=file:/dev/./urandom",
            "--add-opens=java.base/java.lang=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([
            format!("-Djava.util.logging.config.file={base_s}/conf/logging.properties"),
            "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager".to_owned(),
            format!("-Dcatalina.base={base_s}"),
            format!("-Dcatalina.home={CATALINA_HOME}"),
            format!("-Djava.io.tmpdir={base_s}/temp"),
            "-classpath".to_owned(),
            format!("{CATALINA_HOME}/bin/bootstrap.jar:{CATALINA_HOME}/bin/tomcat-juli.jar"),
            "org.apache.catalina.startup.Bootstrap".to_owned(),
            "start".to_owned(),
        ])
        .collect();
        let process = Supervised::spawn(
            "tomcat",
            &java(),
            &args,
            &[("CATALINA_BASE", base_s.clone())],
            &base,
            &log,
            Some(&base),
        );
        let mut tomcat = Tomcat {
            base,
            ajp,
            http,
            process,
            started_in: Duration::ZERO,
        };
        let deadline = started + START_TIMEOUT;
        loop {
            if tomcat.process.exited().is_some() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("Address already in use") || text.contains("BindException") {
                    return Err(StartError::PortTaken(tail(&log, 50)));
                }
                return Err(StartError::Failed(format!(
                    "Tomcat exited during start (CATALINA_BASE {}); last 50 lines of {}:\n{}",
                    tomcat.base.display(),
                    log.display(),
                    tail(&log, 50)
                )));
            }
            if tomcat.all_ports().iter().all(|&p| port_accepts(p))
                && matches!(
                    probe_get(http, "/hello", Duration::from_secs(2)),
                    Some((200, ref body)) if body.ends_with(b"Hello, AJP!\n")
                )
            {
                tomcat.started_in = started.elapsed();
                return Ok(tomcat);
            }
            if Instant::now() >= deadline {
                return Err(StartError::Failed(format!(
                    "Tomcat not ready after {START_TIMEOUT:?} (CATALINA_BASE {}); last 50 lines of {}:\n{}",
                    tomcat.base.display(),
                    log.display(),
                    tail(&log, 50)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Port of AJP connector `c`.
    pub fn ajp_port(&self, c: Connector) -> u16 {
        self.ajp[c.index()]
    }

    /// `127.0.0.1:ajp_port(c)`.
    pub fn ajp_addr(&self, c: Connector) -> SocketAddr {
        local(self.ajp_port(c))
    }

    /// Port of the HTTP/1.1 connector (default settings except
    /// `maxKeepAliveRequests="-1"`, for benchmarks).
    pub fn http_port(&self) -> u16 {
        self.http
    }

    /// `127.0.0.1:http_port()`.
    pub fn http_addr(&self) -> SocketAddr {
        local(self.http)
    }

    /// ESTABLISHED TCP connections Tomcat holds on `port` (one of its ports); see
    /// [`super::established_connections`]. Note the shared instance is used by
    /// every test of the binary at the same time: compare before/after counts
    /// only on a connector no concurrent test uses, or use [`Tomcat::start`].
    pub fn established_connections(&self, port: u16) -> usize {
        super::established_connections(port)
    }

    /// The `CATALINA_BASE` directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Path of the log (stdout + stderr + java.util.logging of Tomcat).
    pub fn log_path(&self) -> PathBuf {
        self.base.join("logs/catalina.out")
    }

    /// The last `n` lines of the log, for panic messages.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log_path(), n)
    }

    /// How long the start took (spawn until ready).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Pid of the supervising watchdog (also the process group id).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn all_ports(&self) -> Vec<u16> {
        let mut v = self.ajp.to_vec();
        v.push(self.http);
        v
    }
}

impl Drop for Tomcat {
    fn drop(&mut self) {
        self.process.stop();
        if std::env::var_os("TOWER_AJP_KEEP_PEERS").is_none() {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }
}

enum StartError {
    PortTaken(String),
    Failed(String),
}

fn java() -> String {
    match std::env::var_os("JAVA_HOME") {
        Some(h) if Path::new(&h).join("bin/java").exists() => {
            Path::new(&h).join("bin/java").display().to_string()
        }
        _ => "java".to_owned(),
    }
}

fn check_installed() {
    for f in [
        "bin/bootstrap.jar",
        "bin/tomcat-juli.jar",
        "lib/catalina.jar",
        "lib/servlet-api.jar",
    ] {
        let p = Path::new(CATALINA_HOME).join(f);
        assert!(p.exists(), "{} is missing: {INSTALL_HINT}", p.display());
    }
    for tool in ["javac", "java", "setpriv"] {
        let found = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .stdout(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(found, "`{tool}` not found in PATH: {INSTALL_HINT}");
    }
}

/// A fresh directory /tmp/PREFIX.PID.N (mode 0755, so httpd's www-data workers
/// can reach files in it).
pub(crate) fn make_temp_dir(prefix: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{prefix}.{}.{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", dir.display()));
    dir
}

fn write(path: PathBuf, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn write_base(base: &Path, webapp: &Path, ajp: [u16; 4], http: u16) {
    for d in ["logs", "temp", "work", "webapps", "lib"] {
        std::fs::create_dir_all(base.join(d))
            .unwrap_or_else(|e| panic!("cannot create {}/{d}: {e}", base.display()));
    }
    let mut connectors = format!(
        r#"    <Connector executor="tc-exec" protocol="HTTP/1.1" address="127.0.0.1" port="{http}" maxKeepAliveRequests="-1"/>
"#
    );
    for c in Connector::ALL {
        connectors.push_str(&format!(
            "    <!-- {c:?} -->\n    <Connector executor=\"tc-exec\" protocol=\"AJP/1.3\" address=\"127.0.0.1\" port=\"{}\" {}/>\n",
            ajp[c.index()],
            c.attributes()
        ));
    }
    write(
        base.join("conf/server.xml"),
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by tests/support/tomcat.rs -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Executor name="tc-exec" namePrefix="tc-exec-" maxThreads="200" minSpareThreads="4"/>
{connectors}    <Engine name="Catalina" defaultHost="localhost" jvmRoute="{JVM_ROUTE}">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" deployOnStartup="false">
        <Context path="" docBase="{webapp}" reloadable="false">
          <Manager pathname=""/>
          <JarScanner scanClassPath="false" scanManifest="false"/>
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
"#,
            webapp = webapp.display()
        ),
    );
    write(
        base.join("conf/web.xml"),
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated by tests/support/tomcat.rs: default servlet only, no JSP -->
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <init-param><param-name>listings</param-name><param-value>false</param-value></init-param>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet-mapping><servlet-name>default</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
  <session-config><session-timeout>30</session-timeout></session-config>
</web-app>
"#,
    );
    write(
        base.join("conf/catalina.properties"),
        r#"# generated by tests/support/tomcat.rs
package.access=sun.,org.apache.catalina.,org.apache.coyote.,org.apache.jasper.,org.apache.tomcat.
package.definition=sun.,java.,org.apache.catalina.,org.apache.coyote.,org.apache.jasper.,org.apache.naming.,org.apache.tomcat.
common.loader="${catalina.base}/lib","${catalina.base}/lib/*.jar","${catalina.home}/lib","${catalina.home}/lib/*.jar"
server.loader=
shared.loader=
tomcat.util.scan.StandardJarScanFilter.jarsToSkip=*
tomcat.util.scan.StandardJarScanFilter.jarsToScan=
tomcat.util.buf.StringCache.byte.enabled=true
org.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true
"#,
    );
    write(
        base.join("conf/logging.properties"),
        r#"# generated by tests/support/tomcat.rs: everything to stderr (logs/catalina.out)
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = ALL
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
java.util.logging.ConsoleHandler.encoding = UTF-8
"#,
    );
}

/// Source directory of the test webapp.
pub fn webapp_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webapp")
}

/// Compiles tests/webapp (javac against Tomcat's servlet-api.jar) into
/// `$CARGO_TARGET_TMPDIR/tower-ajp-webapp-HASH` (an exploded webapp:
/// `WEB-INF/web.xml` + `WEB-INF/classes`), reusing it while the sources are
/// unchanged; returns its path. Safe against concurrent test binaries.
pub fn compiled_webapp() -> PathBuf {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let src = webapp_source();
    let mut files = Vec::new();
    collect_files(&src, &mut files);
    files.sort();
    let mut h = DefaultHasher::new();
    for f in &files {
        f.strip_prefix(&src).unwrap_or(f).hash(&mut h);
        std::fs::read(f)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()))
            .hash(&mut h);
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = cache.join(format!("tower-ajp-webapp-{:016x}", h.finish()));
    if out.join("WEB-INF/classes/towerajp/Echo.class").exists() {
        return out;
    }
    let tmp = cache.join(format!(
        "tower-ajp-webapp-{:016x}.tmp.{}",
        h.finish(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let classes = tmp.join("WEB-INF/classes");
    std::fs::create_dir_all(&classes)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", classes.display()));
    std::fs::copy(src.join("WEB-INF/web.xml"), tmp.join("WEB-INF/web.xml"))
        .unwrap_or_else(|e| panic!("cannot copy web.xml: {e}"));
    let sources: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "java"))
        .collect();
    let output = std::process::Command::new("javac")
        .arg("-nowarn")
        .arg("-encoding")
        .arg("UTF-8")
        .arg("-cp")
        .arg(format!("{CATALINA_HOME}/lib/servlet-api.jar"))
        .arg("-d")
        .arg(&classes)
        .args(&sources)
        .output()
        .unwrap_or_else(|e| panic!("cannot run javac ({e}): {INSTALL_HINT}"));
    assert!(
        output.status.success(),
        "javac failed on {}:\n{}{}",
        src.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if std::fs::rename(&tmp, &out).is_err() {
        // Another test binary won the race: use its (identical) result.
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            out.join("WEB-INF/classes/towerajp/Echo.class").exists(),
            "cannot move compiled webapp to {}",
            out.display()
        );
    }
    out
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read_dir entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
