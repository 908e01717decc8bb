//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod lab;

use std::path::{Path, PathBuf};
use std::process::Command;

use vpclab::model::{Lab, Problems};
use vpclab::template::{self, Options};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads template text with default options.
pub fn load(text: &str) -> Result<Lab, Problems> {
    template::load(text, &Options::default())
}

/// Loads a template file of the repository.
pub fn load_file(rel: &str) -> Lab {
    template::load_file(&root().join(rel), &Options::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?}"))
        + 1
}

/// Runs the vpclab binary; returns (exit code, stdout, stderr).
pub fn vpclab(args: &[&str]) -> (i32, String, String) {
    vpclab_env(args, &[])
}

/// [`vpclab`] with more environment variables.
pub fn vpclab_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vpclab"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .expect("run vpclab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A template written to a temporary file, removed (with its folder) when dropped.
pub struct TempTemplate {
    dir: PathBuf,
    path: PathBuf,
}

impl TempTemplate {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempTemplate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `text` to a fresh temporary file.
pub fn temp_template(name: &str, text: &str) -> TempTemplate {
    let dir = std::env::temp_dir().join(format!("vpclab-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    TempTemplate { dir, path }
}

/// A path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
