//! OpenAI-compatible test servers as child processes: a free loopback port, a process killed when its
//! handle drops, and a wait until `/v1/models` answers. Shared by the real llama.cpp server and the python
//! stubs of `remote` and `reasoning`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Where its stderr (and for llama.cpp its access log) goes.
    pub log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Waits until `/v1/models` answers.
    pub fn ready(self) -> Server {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(120) {
            if ureq::get(&format!("{}/models", self.url())).call().is_ok() {
                return self;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the server did not start:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Writes `script` to `dir/name` and runs it as `python3 <script> <mode> <port> <extra…>` on a free
    /// port, stderr to `dir/<name>.log`; returns once it answers.
    pub fn python(dir: &Path, name: &str, script: &str, mode: &str, extra: &[&Path]) -> Server {
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new("python3")
            .arg(&path)
            .arg(mode)
            .arg(port.to_string())
            .args(extra)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 runs");
        Server { child, port, log }.ready()
    }
}
