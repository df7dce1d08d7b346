//! The `kube-mesos` context in the user's kubeconfig, as `kind` and
//! `minikube` add theirs: merged into the first file of `$KUBECONFIG` (or
//! `~/.kube/config`) by `up`, removed by `down` and `delete`.
//!
//! kubectl itself edits the file (`kubectl config set-cluster`, ...), so
//! the user's other entries, comments aside, stay as kubectl would keep
//! them, and its own file locking applies. The entries point at files in
//! the data dir — the CA certificate and a token file — so no secret is
//! copied into the kubeconfig or onto a command line. Which file was
//! edited is remembered in the data dir, so removal edits the same one
//! even if `$KUBECONFIG` changed since.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{LocalError, Result};

/// The context, cluster and user name.
pub const CONTEXT: &str = "kube-mesos";
/// Inside the data dir: the path of the kubeconfig the context went into.
const MERGED_INTO: &str = "kubeconfig-merged-into";
/// Inside the data dir: the bearer token, for the context's `tokenFile`.
pub const TOKEN_FILE: &str = "token";

/// The kubeconfig kubectl writes to: the first path of `kubeconfig_env`
/// (`$KUBECONFIG`), else `~/.kube/config`.
pub fn target(kubeconfig_env: Option<&str>, home: Option<&Path>) -> Option<PathBuf> {
    kubeconfig_env
        .and_then(|v| v.split(':').find(|p| !p.is_empty()))
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".kube").join("config")))
}

/// The target for this process's environment.
pub fn target_from_env() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    target(std::env::var("KUBECONFIG").ok().as_deref(), home.as_deref())
}

fn kubectl(file: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LocalError::KubeconfigMergeFailed {
            what: args.join(" "),
            stderr: format!("running kubectl: {e}"),
        })?;
    if !out.status.success() {
        return Err(LocalError::KubeconfigMergeFailed {
            what: args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Adds (or updates) the `kube-mesos` context in `file` for the API server
/// at `server`, and makes it the current context.
pub fn merge(data_dir: &Path, file: &Path, server: &str, ca_file: &Path) -> Result<()> {
    let token_file = data_dir.join(TOKEN_FILE);
    let ca = format!("--certificate-authority={}", ca_file.display());
    let server = format!("--server={server}");
    kubectl(file, &["config", "set-cluster", CONTEXT, &server, &ca])?;
    kubectl(file, &["config", "set-credentials", CONTEXT])?;
    let token_key = format!("users.{CONTEXT}.tokenFile");
    kubectl(
        file,
        &[
            "config",
            "set",
            &token_key,
            &token_file.display().to_string(),
        ],
    )?;
    let cluster = format!("--cluster={CONTEXT}");
    let user = format!("--user={CONTEXT}");
    kubectl(
        file,
        &[
            "config",
            "set-context",
            CONTEXT,
            &cluster,
            &user,
            "--namespace=default",
        ],
    )?;
    kubectl(file, &["config", "use-context", CONTEXT])?;
    std::fs::write(data_dir.join(MERGED_INTO), file.display().to_string()).map_err(|source| {
        LocalError::StateIoFailed {
            path: data_dir.join(MERGED_INTO),
            source,
        }
    })
}

/// Removes the context this data dir merged, if any; returns the file it
/// was removed from. The current context is unset if it was ours.
pub fn remove(data_dir: &Path) -> Result<Option<PathBuf>> {
    let record = data_dir.join(MERGED_INTO);
    let Ok(file) = std::fs::read_to_string(&record) else {
        return Ok(None);
    };
    let file = PathBuf::from(file.trim());
    if file.is_file() {
        let current = kubectl(&file, &["config", "current-context"]).unwrap_or_default();
        // Each may be missing already (edited by hand): not an error.
        let _ = kubectl(&file, &["config", "delete-context", CONTEXT]);
        let _ = kubectl(&file, &["config", "delete-cluster", CONTEXT]);
        let _ = kubectl(&file, &["config", "delete-user", CONTEXT]);
        if current == CONTEXT {
            kubectl(&file, &["config", "unset", "current-context"])?;
        }
    }
    let _ = std::fs::remove_file(&record);
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_kubeconfig_path_wins_then_home() {
        let home = Path::new("/home/u");
        assert_eq!(
            target(Some("/a/one:/b/two"), Some(home)),
            Some(PathBuf::from("/a/one"))
        );
        assert_eq!(
            target(Some(":/b/two"), Some(home)),
            Some(PathBuf::from("/b/two"))
        );
        assert_eq!(
            target(None, Some(home)),
            Some(PathBuf::from("/home/u/.kube/config"))
        );
        assert_eq!(target(Some(""), None), None);
    }

    #[test]
    fn merge_then_remove_leaves_other_contexts() {
        if Command::new("kubectl")
            .arg("version")
            .arg("--client")
            .output()
            .is_err()
        {
            eprintln!("kubectl not installed; skipping");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/config");
        kubectl(&file, &["config", "set-context", "other", "--cluster=x"]).unwrap();
        kubectl(&file, &["config", "use-context", "other"]).unwrap();
        merge(
            dir.path(),
            &file,
            "https://127.0.0.1:1",
            &dir.path().join("ca.crt"),
        )
        .unwrap();
        assert_eq!(
            kubectl(&file, &["config", "current-context"]).unwrap(),
            CONTEXT
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("tokenFile:") && text.contains("other"),
            "{text}"
        );
        assert_eq!(remove(dir.path()).unwrap(), Some(file.clone()));
        let contexts = kubectl(&file, &["config", "get-contexts", "-o", "name"]).unwrap();
        assert_eq!(contexts, "other");
        assert!(kubectl(&file, &["config", "current-context"]).is_err());
        assert_eq!(remove(dir.path()).unwrap(), None);
    }
}
