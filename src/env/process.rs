//! An environment served by a child process over the JSON-lines [`protocol`](super::protocol).
//! Each answer is awaited with a timeout on a reader thread; a program that crashes, hangs or
//! writes garbage gives an [`EnvError`] with its stderr tail and is killed, never a hang.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::protocol::{Observation, VERSION, request};
use super::{EnvError, Environment, Step};
use crate::data::task::{Message, Task};
use crate::tools::ToolCall;

/// Lines of stderr kept for error messages.
const STDERR_LINES: usize = 20;

/// How to start the program.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessConfig {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

/// A running environment program.
pub struct ProcessEnv {
    cfg: ProcessConfig,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    stderr_thread: Option<JoinHandle<()>>,
    /// The name it gave in `hello`.
    pub name: String,
    dead: bool,
}

impl ProcessEnv {
    /// Starts the program and checks its protocol version.
    ///
    /// # Errors
    /// It cannot start, or its `hello` answer is missing, late, malformed or another version.
    pub fn spawn(cfg: &ProcessConfig) -> Result<Self, EnvError> {
        let mut child = Command::new(&cfg.program)
            .args(&cfg.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| EnvError::Spawn { program: cfg.program.clone(), source })?;
        let (tx, lines) = channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_thread = child.stderr.take().map(|err| {
            let kept = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut k) = kept.lock() {
                        if k.len() == STDERR_LINES {
                            k.pop_front();
                        }
                        k.push_back(line);
                    }
                }
            })
        });
        let stdin = child.stdin.take();
        let mut env = ProcessEnv {
            cfg: cfg.clone(),
            child,
            stdin,
            lines,
            stderr,
            stderr_thread,
            name: String::new(),
            dead: false,
        };
        let hello = env.request("hello", json!({ "protocol": VERSION }))?;
        let found = hello.get("protocol").cloned().unwrap_or(Value::Null);
        if found.as_u64() != Some(u64::from(VERSION)) {
            env.kill();
            return Err(EnvError::Version {
                program: cfg.program.clone(),
                expected: VERSION,
                found: found.to_string(),
            });
        }
        env.name = hello.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        Ok(env)
    }

    /// Kills the program and waits for its stderr to drain.
    fn kill(&mut self) {
        if !self.dead {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.dead = true;
        }
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.stderr.lock().map(|k| k.iter().cloned().collect()).unwrap_or_default()
    }

    /// The error for a program that stopped answering `op`.
    fn exited(&mut self, op: &str) -> EnvError {
        // Give it a moment to finish exiting, so the status and stderr are complete.
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = status.map_or_else(|| "still running, stdout closed".to_string(), |s| s.to_string());
        self.kill();
        EnvError::Exited { program: self.cfg.program.clone(), op: op.into(), status, stderr: self.stderr_tail() }
    }

    /// Sends `{"op": op, …fields}` and returns the answer's fields (`"ok": true` checked).
    ///
    /// # Errors
    /// The program exited, timed out, answered garbage or refused.
    pub fn request(&mut self, op: &str, fields: Value) -> Result<Map<String, Value>, EnvError> {
        if self.dead {
            return Err(EnvError::State(format!("{} is no longer running", self.cfg.program.display())));
        }
        let line = request(op, fields) + "\n";
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(line.as_bytes()).and_then(|()| stdin.flush()).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.exited(op));
        }
        let answer = match self.lines.recv_timeout(self.cfg.timeout) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Disconnected) => return Err(self.exited(op)),
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                return Err(EnvError::Timeout {
                    program: self.cfg.program.clone(),
                    op: op.into(),
                    seconds: self.cfg.timeout.as_secs_f64(),
                    stderr: self.stderr_tail(),
                });
            }
        };
        let garbage = |env: &mut Self, reason: String| {
            env.kill();
            EnvError::Garbage {
                program: env.cfg.program.clone(),
                op: op.into(),
                line: answer.chars().take(200).collect(),
                reason,
                stderr: env.stderr_tail(),
            }
        };
        let obj = match serde_json::from_str::<Value>(&answer) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => return Err(garbage(self, "not a JSON object".into())),
            Err(e) => return Err(garbage(self, format!("not JSON: {e}"))),
        };
        match obj.get("ok") {
            Some(Value::Bool(true)) => Ok(obj),
            Some(Value::Bool(false)) => Err(EnvError::Refused {
                program: self.cfg.program.clone(),
                op: op.into(),
                message: obj.get("error").and_then(Value::as_str).unwrap_or("(no message)").to_string(),
            }),
            _ => Err(garbage(self, "no boolean \"ok\"".into())),
        }
    }

    fn observation(&mut self, op: &str, fields: Value) -> Result<Observation, EnvError> {
        let obj = self.request(op, fields)?;
        let text = Value::Object(obj).to_string();
        serde_json::from_str(&text).map_err(|e| {
            self.kill();
            EnvError::Garbage {
                program: self.cfg.program.clone(),
                op: op.into(),
                line: text.chars().take(200).collect(),
                reason: e.to_string(),
                stderr: self.stderr_tail(),
            }
        })
    }
}

impl Environment for ProcessEnv {
    fn reset(&mut self, task: &Task) -> Result<Vec<Message>, EnvError> {
        Ok(self.observation("reset", json!({ "task": task.to_json() }))?.messages)
    }

    fn step(&mut self, calls: &[ToolCall]) -> Result<Step, EnvError> {
        let calls: Vec<Value> = calls.iter().map(|c| json!({ "name": c.name, "arguments": c.arguments })).collect();
        let obs = self.observation("step", json!({ "calls": calls }))?;
        Ok(Step { messages: obs.messages, done: obs.done, reward: obs.reward })
    }
}

impl Drop for ProcessEnv {
    fn drop(&mut self) {
        if !self.dead {
            if let Some(stdin) = self.stdin.as_mut() {
                let _ = stdin.write_all(b"{\"op\":\"close\"}\n");
                let _ = stdin.flush();
            }
            self.stdin = None;
            for _ in 0..25 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    self.dead = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}
