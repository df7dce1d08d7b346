//! Who a container of the process runtime runs as, and who may see its
//! sandbox: `securityContext.runAsUser`, `runAsGroup`, the pod's
//! `supplementalGroups` and `fsGroup`, and `runAsNonRoot`.
//!
//! Without images, the "image user" is the executor's own user: a
//! container that asks for nothing runs as it. One that asks for an
//! identity is started through util-linux `setpriv` (which sets the
//! supplemental groups too, what `std`'s `Command::uid` cannot, and keeps
//! this crate free of `unsafe` pre-exec hooks). When the executor cannot
//! honour the request — it is not root, or `setpriv` is missing, or
//! `runAsNonRoot` would run the container as root — the container does
//! not start and its status says why (`CreateContainerConfigError`),
//! rather than running as someone else.
//!
//! The sandbox is the pod's only isolation here, so it is nobody else's:
//! `<root>/pods` can be traversed but not listed, a sandbox is 0700 (0770
//! for the pod's group), owned by the pod's user, and the container
//! records (which hold the resolved environment) are the executor's alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::runner::runtime::{ContainerConfig, ContainerRuntimeSpec, PodRuntimeSpec, RuntimeError};
use crate::runner::security;

/// Where util-linux `setpriv` may be.
const SETPRIV: &[&str] = &["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"];

/// A container's Unix identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `runAsUser`.
    pub uid: Option<u32>,
    /// `runAsGroup`.
    pub gid: Option<u32>,
    /// Supplemental groups (the pod's, and `fsGroup`).
    pub groups: Vec<u32>,
}

fn id(v: i64, what: &str, container: &str) -> Result<u32, RuntimeError> {
    u32::try_from(v).map_err(|_| RuntimeError::InvalidContainerConfig {
        container: container.to_string(),
        message: format!("{what} {v} is not a valid id"),
    })
}

impl Identity {
    /// The identity `spec` asks for; `None` when it asks for none.
    pub fn of(spec: &ContainerRuntimeSpec, container: &str) -> Result<Option<Self>, RuntimeError> {
        if spec.run_as_user.is_none()
            && spec.run_as_group.is_none()
            && spec.supplemental_groups.is_empty()
        {
            return Ok(None);
        }
        let mut groups = Vec::new();
        for g in &spec.supplemental_groups {
            let g = id(*g, "supplemental group", container)?;
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        Ok(Some(Self {
            uid: spec
                .run_as_user
                .map(|u| id(u, "runAsUser", container))
                .transpose()?,
            gid: spec
                .run_as_group
                .map(|g| id(g, "runAsGroup", container))
                .transpose()?,
            groups,
        }))
    }

    /// `argv` run as this identity through `setpriv`.
    pub fn wrap(&self, setpriv: &str, argv: &[String]) -> Vec<String> {
        let mut out = vec![setpriv.to_string()];
        if let Some(u) = self.uid {
            out.push(format!("--reuid={u}"));
        }
        if let Some(g) = self.gid {
            out.push(format!("--regid={g}"));
        }
        if self.groups.is_empty() {
            out.push("--clear-groups".into());
        } else {
            let list: Vec<String> = self.groups.iter().map(u32::to_string).collect();
            out.push(format!("--groups={}", list.join(",")));
        }
        out.push("--".into());
        out.extend(argv.iter().cloned());
        out
    }
}

/// The command line `config` runs with under `spec`'s security context:
/// `argv` itself, or `argv` through `setpriv`. Refuses what cannot be
/// honoured (see the module docs).
pub fn command_line(
    config: &ContainerConfig,
    spec: &ContainerRuntimeSpec,
    argv: Vec<String>,
) -> Result<(Vec<String>, Option<Identity>), RuntimeError> {
    let refuse = |message: String| RuntimeError::InvalidContainerConfig {
        container: config.name.clone(),
        message,
    };
    let euid = rustix::process::geteuid().as_raw();
    security::verify_run_as_non_root(
        spec.run_as_non_root,
        spec.run_as_user,
        Some(i64::from(euid)),
        "",
        &security::pod_label(&config.labels),
        &config.name,
    )
    .map_err(refuse)?;
    let Some(identity) = Identity::of(spec, &config.name)? else {
        return Ok((argv, None));
    };
    if euid != 0 {
        return Err(refuse(format!(
            "the process runtime cannot run container {} as {identity:?}: the executor runs as uid {euid}, not root",
            config.name
        )));
    }
    let Some(setpriv) = SETPRIV.iter().find(|p| Path::new(p).exists()) else {
        return Err(refuse(format!(
            "the process runtime needs util-linux setpriv to run container {} as {identity:?}",
            config.name
        )));
    };
    Ok((identity.wrap(setpriv, &argv), Some(identity)))
}

/// Gives `path` (a directory the executor made for the container, e.g. its
/// working directory) to `identity`.
pub fn give(path: &Path, identity: &Identity) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, identity.uid, identity.gid)
}

/// Makes a new sandbox nobody else's: `<root>/pods` 0711, the sandbox
/// 0700 — or, when the pod names a user or a group (`runAsUser`,
/// `fsGroup`, else `runAsGroup`), owned by them with 0770 (setgid) — and
/// its container records 0700 for the executor.
pub fn secure_sandbox(dir: &Path, pod: Option<&PodRuntimeSpec>) -> std::io::Result<()> {
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    if let Some(pods) = dir.parent() {
        mode(pods, 0o711)?;
    }
    mode(&dir.join("containers"), 0o700)?;
    let owner = pod
        .and_then(|p| p.run_as_user)
        .and_then(|u| u32::try_from(u).ok());
    let group = pod
        .and_then(|p| p.fs_group.or(p.run_as_group))
        .and_then(|g| u32::try_from(g).ok());
    if owner.is_none() && group.is_none() {
        return mode(dir, 0o700);
    }
    std::os::unix::fs::chown(dir, owner, group)?;
    std::os::unix::fs::chown(dir.join("volumes"), owner, group)?;
    for d in [dir.to_path_buf(), dir.join("volumes")] {
        mode(&d, if group.is_some() { 0o2770 } else { 0o700 })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_runs_through_setpriv() {
        let spec = ContainerRuntimeSpec {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            supplemental_groups: vec![2000, 4000, 2000],
            ..ContainerRuntimeSpec::default()
        };
        let id = Identity::of(&spec, "c").unwrap().unwrap();
        assert_eq!(
            id.wrap("/usr/bin/setpriv", &["sh".into(), "-c".into(), "id".into()]),
            [
                "/usr/bin/setpriv",
                "--reuid=1000",
                "--regid=3000",
                "--groups=2000,4000",
                "--",
                "sh",
                "-c",
                "id"
            ]
        );
        assert_eq!(
            Identity::of(&ContainerRuntimeSpec::default(), "c").unwrap(),
            None
        );
        let bad = ContainerRuntimeSpec {
            run_as_user: Some(-1),
            ..ContainerRuntimeSpec::default()
        };
        assert!(Identity::of(&bad, "c").is_err());
    }
}
