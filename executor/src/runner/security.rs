//! The runtime-independent part of a pod's security context, as the
//! kubelet applies it whatever the runtime:
//!
//! - `runAsNonRoot` (`verifyRunAsNonRoot`): a container that would run as
//!   root, or as a user that cannot be verified non-root, does not start;
//!   the kubelet's message says why (`CreateContainerConfigError`);
//! - `fsGroup` on volumes (`SetVolumeOwnership`): emptyDir, configMap,
//!   secret, downwardAPI and projected volumes are given to group
//!   `fsGroup`, with group read (and write, for emptyDir) and the setgid
//!   bit on directories, so the pod's processes — which get `fsGroup` as a
//!   supplemental group — can read them whatever user they run as.
//!
//! Which user a container runs as is each runtime's business (the process
//! runtime's `identity`, CRI's security context).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// `format.Pod`: `name_namespace(uid)`, from a container's labels.
pub fn pod_label(labels: &std::collections::BTreeMap<String, String>) -> String {
    use super::runtime::{LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID};
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or_default();
    format!(
        "{}_{}({})",
        get(LABEL_POD_NAME),
        get(LABEL_POD_NAMESPACE),
        get(LABEL_POD_UID)
    )
}

/// The kubelet's `verifyRunAsNonRoot`: `run_as_user` is the effective
/// `securityContext.runAsUser`; `image_uid` and `image_user` are who the
/// container runs as without it (the image's user; for the process
/// runtime, the executor's own uid).
pub fn verify_run_as_non_root(
    run_as_non_root: bool,
    run_as_user: Option<i64>,
    image_uid: Option<i64>,
    image_user: &str,
    pod: &str,
    container: &str,
) -> Result<(), String> {
    if !run_as_non_root {
        return Ok(());
    }
    match (run_as_user, image_uid) {
        (Some(0), _) => Err(format!(
            "container's runAsUser breaks non-root policy (pod: {pod:?}, container: {container})"
        )),
        (Some(_), _) => Ok(()),
        (None, Some(0)) => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod:?}, container: {container})"
        )),
        (None, None) if !image_user.is_empty() => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root (pod: {pod:?}, container: {container})"
        )),
        _ => Ok(()),
    }
}

/// Whether a volume's ownership follows `fsGroup` (the kubelet's volume
/// plugins that support ownership management), and whether the pod may
/// write it.
pub fn fs_group_managed(volume: &k8s_openapi::api::core::v1::Volume) -> Option<bool> {
    if volume.empty_dir.is_some() {
        Some(true)
    } else if volume.config_map.is_some()
        || volume.secret.is_some()
        || volume.downward_api.is_some()
        || volume.projected.is_some()
    {
        Some(false)
    } else {
        None
    }
}

/// `SetVolumeOwnership`: every file and directory under `dir` gets group
/// `gid`, group read (and write when `writable`), directories group
/// execute and setgid; symlinks are re-owned but not re-moded.
pub fn set_volume_ownership(dir: &Path, gid: u32, writable: bool) -> std::io::Result<()> {
    let mask = if writable { 0o660 } else { 0o440 };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        std::os::unix::fs::lchown(&path, None, Some(gid))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mut mode = meta.mode() & 0o7777 | mask;
        if meta.is_dir() {
            mode |= 0o2000 | 0o110;
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_as_non_root_is_verified_as_the_kubelet_does() {
        let check = |non_root, user, image_uid, image_user: &str| {
            verify_run_as_non_root(non_root, user, image_uid, image_user, "p_ns(u)", "c")
        };
        assert!(check(false, None, Some(0), "").is_ok());
        assert!(check(true, Some(1000), Some(0), "").is_ok());
        assert_eq!(
            check(true, Some(0), None, "").unwrap_err(),
            "container's runAsUser breaks non-root policy (pod: \"p_ns(u)\", container: c)"
        );
        assert_eq!(
            check(true, None, Some(0), "").unwrap_err(),
            "container has runAsNonRoot and image will run as root (pod: \"p_ns(u)\", container: c)"
        );
        assert!(check(true, None, None, "nginx")
            .unwrap_err()
            .contains("non-numeric user (nginx)"));
        assert!(check(true, None, Some(101), "").is_ok());
    }

    #[test]
    fn fs_group_owns_volumes_with_group_access() {
        let dir = tempfile::tempdir().unwrap();
        let vol = dir.path().join("v");
        std::fs::create_dir_all(vol.join("sub")).unwrap();
        std::fs::write(vol.join("sub/secret"), "s").unwrap();
        std::fs::set_permissions(
            vol.join("sub/secret"),
            std::fs::Permissions::from_mode(0o400),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/secret", vol.join("link")).unwrap();
        // Changing the group to one we are not in needs root; use our own.
        let gid = rustix::process::getegid().as_raw();
        set_volume_ownership(&vol, gid, false).unwrap();
        let meta = std::fs::metadata(vol.join("sub/secret")).unwrap();
        assert_eq!((meta.gid(), meta.mode() & 0o7777), (gid, 0o440));
        let d = std::fs::metadata(vol.join("sub")).unwrap();
        assert_eq!(d.mode() & 0o2110, 0o2110);
        set_volume_ownership(&vol, gid, true).unwrap();
        let meta = std::fs::metadata(vol.join("sub/secret")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o660);
    }
}
