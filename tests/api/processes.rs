//! Real processes for the fault and shutdown tests: the `deskpulse` binary, and a PostgreSQL
//! server of the test's own that it may stop and start.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::helpers::TEST_SECRET;

/// `deskpulse serve` as a child process, on a free port, logging JSON lines to a buffer.
pub struct ServerProcess {
    child: Child,
    pub address: String,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts the server over `database_url` with the test secret and `env`, and waits until it
    /// listens (not until it is ready).
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deskpulse"));
        for (name, _) in std::env::vars() {
            if name.starts_with("DESKPULSE_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("DESKPULSE_JWT_SECRET", TEST_SECRET)
            .env("DESKPULSE_BIND", "127.0.0.1:0")
            .env("DESKPULSE_METRICS_BIND", "127.0.0.1:0")
            .env("DESKPULSE_WORKERS", "2")
            .env("DESKPULSE_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start deskpulse serve");
        let stderr = child.stderr.take().expect("the server's standard error");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_sender, port_receiver) = mpsc::channel();
        let reader_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if parsed["fields"]["message"] == "deskpulse listening" {
                    let _ = port_sender.send(parsed["fields"]["port"].as_u64());
                }
                let mut log = reader_log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let port = port_receiver
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or_else(|| panic!("the server did not say where it listens: {}", log.lock().unwrap()));
        ServerProcess { child, address: format!("http://127.0.0.1:{port}"), port, log }
    }

    /// Sends a signal (e.g. `libc::SIGTERM`) to this process, and only to it. Straight through
    /// the system call: a fresh machine may have no `kill` program (procps).
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) only sends a signal; the pid is our own live child.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal}) failed: {}", std::io::Error::last_os_error());
    }

    /// The server's resident memory (VmRSS), in KiB, from /proc.
    pub fn resident_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll the server process").is_none()
    }

    /// The exit status, once the process has exited; `None` if it still runs after `timeout`.
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The last `count` lines of the log: enough to say what a failed assertion saw.
    pub fn log_tail(&self, count: usize) -> String {
        let log = self.log.lock().unwrap();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Lowest port handed out by [`free_port`].
const LOWEST_CHOSEN_PORT: u16 = 10_000;

/// A free TCP port on the loopback interface (free when asked; good enough for a test), chosen
/// below the kernel's ephemeral range. A port from that range (as binding port 0 gives) can be
/// taken as the local end of any outgoing connection on the machine while its listener is away,
/// and then a PostgreSQL restarted on it fails with "Address already in use" for as long as that
/// connection or its TIME_WAIT lasts; below the range, only an explicit bind can take it.
pub fn free_port() -> u16 {
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let choices = ephemeral_from.saturating_sub(LOWEST_CHOSEN_PORT);
    assert!(choices > 1_000, "ports below the ephemeral range ({ephemeral_from}) to choose from");
    loop {
        let random = uuid::Uuid::new_v4().as_u128();
        let port = LOWEST_CHOSEN_PORT + u16::try_from(random % u128::from(choices)).expect("below the range");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A PostgreSQL cluster of one test's own, in a temporary directory, trusting local connections.
/// As root it runs as the `postgres` user (PostgreSQL refuses root). Dropping it stops the
/// server and deletes the directory.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
}

/// The newest PostgreSQL server binaries installed the Debian way.
fn postgres_bin() -> PathBuf {
    let mut found: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("bin/initdb").exists())
        .map(|entry| {
            let version = entry.file_name().to_string_lossy().split('.').filter_map(|p| p.parse().ok()).collect();
            (version, entry.path().join("bin"))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin (scripts/postgres.sh installs them)")
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0").unwrap_or(false)
}

impl PrivatePostgres {
    /// Creates the cluster and starts it on a free port. initdb's defaults make it a primary a
    /// replica can stream from (`wal_level = replica`, WAL senders, and a `replication` line for
    /// 127.0.0.1 in pg_hba.conf).
    pub fn start() -> PrivatePostgres {
        let cluster = PrivatePostgres::unstarted();
        let data = cluster.data_dir();
        cluster.run("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        cluster.start_server();
        cluster
    }

    /// A streaming replica of `primary`, PostgreSQL's own way: a base backup taken with `-R`
    /// (standby.signal and primary_conninfo written for it), started on a free port.
    pub fn replica_of(primary: &PrivatePostgres) -> PrivatePostgres {
        let replica = PrivatePostgres::unstarted();
        let (data, port) = (replica.data_dir(), primary.port.to_string());
        replica.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        replica.start_server();
        replica
    }

    /// A directory for a cluster, owned by the user the server runs as, and a free port.
    fn unstarted() -> PrivatePostgres {
        let dir = std::env::temp_dir().join(format!("deskpulse-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("create the cluster's directory");
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            let status = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().unwrap();
            assert!(status.success(), "chown the cluster's directory to postgres");
        }
        PrivatePostgres { bin: postgres_bin(), dir, port: free_port(), as_postgres_user }
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command.args(args).current_dir(&self.dir).output().expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{} {args:?}: {}{}\n{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
        output
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=60",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.run("pg_ctl", &["-D", &self.data_dir(), "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
    }

    /// Stops the server; `mode` is pg_ctl's: `fast` ends sessions (in-flight statements fail),
    /// `immediate` is a crash.
    pub fn stop_server(&self, mode: &str) {
        self.run("pg_ctl", &["-D", &self.data_dir(), "-m", mode, "-w", "-t", "60", "stop"]);
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        // Already stopped is fine: this is cleanup.
        let _ = command.args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
