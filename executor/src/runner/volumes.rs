//! Volumes materialized into the pod sandbox (`<sandbox>/volumes/<name>/`),
//! as the kubelet's volume plugins would set them up.
//!
//! - `emptyDir`: a directory (`medium: Memory` is a plain directory too);
//! - `hostPath`: the host path itself, with the kubelet's `type` checks
//!   (`DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File`, `Socket`,
//!   `CharDevice`, `BlockDevice`);
//! - `configMap`, `secret`, `downwardAPI`, `projected`: files written like the
//!   kubelet's AtomicWriter: the payload goes into a fresh `..<n>` directory,
//!   the `..data` symlink is switched to it by rename, and each user-visible
//!   top-level path is a symlink through `..data`, so a reader never sees a
//!   half-written set. `items`, `defaultMode` (default 0644), per-item `mode`
//!   and `optional` are honoured.
//! - `projected` sources `serviceAccountToken` and `clusterTrustBundle` are
//!   skipped with a warning: there is no token issuer on this side yet.
//!
//! A missing non-optional ConfigMap/Secret fails the setup with the
//! kubelet's FailedMount message
//! (`MountVolume.SetUp failed for volume "v" : configmap "x" not found`); the
//! pod's containers then wait in `ContainerCreating` and setup is retried.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1 as core;

use super::env::{field_value, resource_value, ObjectSource, PodFacts, SourceError};

/// Default file mode of configMap/secret/downwardAPI/projected files (0644).
pub const DEFAULT_MODE: u32 = 0o644;

/// Why a volume could not be set up. Display strings follow the kubelet.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A referenced ConfigMap does not exist.
    #[error("configmap {0:?} not found")]
    ConfigMapNotFound(String),
    /// A referenced Secret does not exist.
    #[error("secret {0:?} not found")]
    SecretNotFound(String),
    /// A ConfigMap item names a missing key.
    #[error("configmap references non-existent config key: {0}")]
    ConfigMapKeyNotFound(String),
    /// A Secret item names a missing key.
    #[error("secret references non-existent secret key: {0}")]
    SecretKeyNotFound(String),
    /// The hostPath type check failed.
    #[error("hostPath type check failed: {path} is not a {what}")]
    HostPathTypeCheckFailed {
        /// Path.
        path: String,
        /// Expected kind (`directory`, `file`, `socket file`...).
        what: &'static str,
    },
    /// A downward API item failed.
    #[error("{0}")]
    DownwardApiFailed(#[source] super::env::EnvError),
    /// An item path escapes the volume.
    #[error("invalid path {0:?}: must be relative and may not contain '..'")]
    InvalidItemPath(String),
    /// Fetching an object failed (retryable).
    #[error("fetching {kind} {name}: {source}")]
    FetchFailed {
        /// `configmap` / `secret`.
        kind: &'static str,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: SourceError,
    },
    /// Giving the volume to the pod's `fsGroup` failed.
    #[error("setting volume ownership of {path} for fsGroup: {source}")]
    OwnershipFailed {
        /// The volume's directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the volume failed.
    #[error("writing {path}: {source}")]
    WriteFailed {
        /// Path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A volume that failed, with the kubelet event message.
#[derive(Debug, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {source}")]
pub struct MountFailed {
    /// Volume name.
    pub volume: String,
    /// Cause.
    #[source]
    pub source: VolumeError,
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::WriteFailed {
        path: path.to_path_buf(),
        source,
    }
}

/// One file of a projected payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    /// Content.
    pub data: Vec<u8>,
    /// Mode.
    pub mode: u32,
}

fn mode(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).unwrap_or(default) & 0o7777
}

fn check_rel(path: &str) -> Result<(), VolumeError> {
    let p = Path::new(path);
    if path.is_empty()
        || p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        || path.starts_with("..")
    {
        return Err(VolumeError::InvalidItemPath(path.to_string()));
    }
    Ok(())
}

/// Payload of a key→value source with optional `items`.
fn project_keys(
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<core::KeyToPath>>,
    default_mode: u32,
    optional: bool,
    missing_key: impl Fn(String) -> VolumeError,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), VolumeError> {
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                check_rel(&k)?;
                out.insert(
                    k,
                    FileProjection {
                        data: v,
                        mode: default_mode,
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                check_rel(&item.path)?;
                match data.get(&item.key) {
                    Some(v) => {
                        out.insert(
                            item.path.clone(),
                            FileProjection {
                                data: v.clone(),
                                mode: mode(item.mode, default_mode),
                            },
                        );
                    }
                    None if optional => {}
                    None => return Err(missing_key(item.key.clone())),
                }
            }
        }
    }
    Ok(())
}

async fn config_map_payload(
    pod: &core::Pod,
    src: &dyn ObjectSource,
    name: &str,
    items: Option<&Vec<core::KeyToPath>>,
    optional: bool,
    default_mode: u32,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), VolumeError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let cm = src
        .get_config_map(ns, name)
        .await
        .map_err(|source| VolumeError::FetchFailed {
            kind: "configmap",
            name: name.into(),
            source,
        })?;
    let Some(cm) = cm else {
        return if optional {
            Ok(())
        } else {
            Err(VolumeError::ConfigMapNotFound(name.into()))
        };
    };
    let mut data: BTreeMap<String, Vec<u8>> = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    for (k, v) in cm.binary_data.unwrap_or_default() {
        data.insert(k, v.0);
    }
    project_keys(
        data,
        items,
        default_mode,
        optional,
        VolumeError::ConfigMapKeyNotFound,
        out,
    )
}

async fn secret_payload(
    pod: &core::Pod,
    src: &dyn ObjectSource,
    name: &str,
    items: Option<&Vec<core::KeyToPath>>,
    optional: bool,
    default_mode: u32,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), VolumeError> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let s = src
        .get_secret(ns, name)
        .await
        .map_err(|source| VolumeError::FetchFailed {
            kind: "secret",
            name: name.into(),
            source,
        })?;
    let Some(s) = s else {
        return if optional {
            Ok(())
        } else {
            Err(VolumeError::SecretNotFound(name.into()))
        };
    };
    let mut data: BTreeMap<String, Vec<u8>> = s
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in s.string_data.unwrap_or_default() {
        data.insert(k, v.into_bytes());
    }
    project_keys(
        data,
        items,
        default_mode,
        optional,
        VolumeError::SecretKeyNotFound,
        out,
    )
}

fn downward_payload(
    pod: &core::Pod,
    facts: &PodFacts,
    items: &[core::DownwardAPIVolumeFile],
    default_mode: u32,
    out: &mut BTreeMap<String, FileProjection>,
) -> Result<(), VolumeError> {
    let containers: Vec<&core::Container> =
        pod.spec.iter().flat_map(|s| s.containers.iter()).collect();
    for item in items {
        check_rel(&item.path)?;
        let value = if let Some(f) = &item.field_ref {
            field_value(pod, facts, &f.field_path).map_err(VolumeError::DownwardApiFailed)?
        } else if let Some(r) = &item.resource_field_ref {
            let fallback = core::Container::default();
            let c = containers.first().copied().unwrap_or(&fallback);
            resource_value(pod, c, facts, r).map_err(VolumeError::DownwardApiFailed)?
        } else {
            String::new()
        };
        out.insert(
            item.path.clone(),
            FileProjection {
                data: value.into_bytes(),
                mode: mode(item.mode, default_mode),
            },
        );
    }
    Ok(())
}

/// Writes `payload` into `dir` with the AtomicWriter layout.
pub fn write_atomic(
    dir: &Path,
    payload: &BTreeMap<String, FileProjection>,
) -> Result<(), VolumeError> {
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    let mut n = 0u32;
    let staging = loop {
        let p = dir.join(format!("..{n}"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    for (path, file) in payload {
        let target = staging.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        std::fs::write(&target, &file.data).map_err(write_err(&target))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))
            .map_err(write_err(&target))?;
    }
    std::fs::create_dir_all(&staging).map_err(write_err(&staging))?;
    // Switch `..data` atomically: symlink under a temp name, then rename.
    let data_link = dir.join("..data");
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    let staging_name = staging.file_name().map(PathBuf::from).unwrap_or_default();
    let old = std::fs::read_link(&data_link).ok();
    std::os::unix::fs::symlink(&staging_name, &tmp_link).map_err(write_err(&tmp_link))?;
    std::fs::rename(&tmp_link, &data_link).map_err(write_err(&data_link))?;
    // User-visible top-level entries point through `..data`.
    let tops: std::collections::BTreeSet<String> = payload
        .keys()
        .filter_map(|p| p.split('/').next().map(str::to_string))
        .collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::read_link(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(top), &link)
                .map_err(write_err(&link))?;
        }
    }
    if let Some(old) = old.filter(|o| *o != staging_name) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

fn host_path(hp: &core::HostPathVolumeSource) -> Result<PathBuf, VolumeError> {
    let path = PathBuf::from(&hp.path);
    let meta = std::fs::metadata(&path).ok();
    let fail = |what| VolumeError::HostPathTypeCheckFailed {
        path: hp.path.clone(),
        what,
    };
    let ty = hp.type_.as_deref().unwrap_or("");
    match (ty, &meta) {
        ("DirectoryOrCreate", None) => {
            std::fs::create_dir_all(&path).map_err(write_err(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(write_err(&path))?;
            return Ok(path);
        }
        ("FileOrCreate", None) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_err(parent))?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(write_err(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
                .map_err(write_err(&path))?;
            return Ok(path);
        }
        _ => {}
    }
    let m = meta.as_ref();
    let check = match ty {
        "DirectoryOrCreate" | "Directory" => Some((m.is_some_and(|m| m.is_dir()), "directory")),
        "FileOrCreate" | "File" => Some((m.is_some_and(|m| m.is_file()), "file")),
        "Socket" => Some((m.is_some_and(|m| m.file_type().is_socket()), "socket file")),
        "CharDevice" => Some((
            m.is_some_and(|m| m.file_type().is_char_device()),
            "character device",
        )),
        "BlockDevice" => Some((
            m.is_some_and(|m| m.file_type().is_block_device()),
            "block device",
        )),
        _ => None,
    };
    if let Some((false, what)) = check {
        return Err(fail(what));
    }
    Ok(path)
}

/// Runs `work` (file system calls that may block: a slow disk, a large
/// payload, a recursive chown) on tokio's blocking pool, so that a pod's
/// volumes never stall the runtime threads every other pod shares.
async fn off_runtime<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, VolumeError> + Send + 'static,
) -> Result<T, VolumeError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|joined| {
            Err(VolumeError::WriteFailed {
                path: path.to_path_buf(),
                source: std::io::Error::other(joined),
            })
        })
}

/// Sets up one volume; returns the host path that backs it.
pub async fn setup_volume(
    pod: &core::Pod,
    volume: &core::Volume,
    volumes_dir: &Path,
    facts: &PodFacts,
    src: &dyn ObjectSource,
) -> Result<PathBuf, VolumeError> {
    let dir = volumes_dir.join(&volume.name);
    let mut payload = BTreeMap::new();
    if let Some(hp) = &volume.host_path {
        let (hp, at) = (hp.clone(), PathBuf::from(&hp.path));
        return off_runtime(&at, move || host_path(&hp)).await;
    } else if let Some(cm) = &volume.config_map {
        config_map_payload(
            pod,
            src,
            &cm.name,
            cm.items.as_ref(),
            cm.optional == Some(true),
            mode(cm.default_mode, DEFAULT_MODE),
            &mut payload,
        )
        .await?;
    } else if let Some(s) = &volume.secret {
        secret_payload(
            pod,
            src,
            s.secret_name.as_deref().unwrap_or_default(),
            s.items.as_ref(),
            s.optional == Some(true),
            mode(s.default_mode, DEFAULT_MODE),
            &mut payload,
        )
        .await?;
    } else if let Some(d) = &volume.downward_api {
        downward_payload(
            pod,
            facts,
            d.items.as_deref().unwrap_or_default(),
            mode(d.default_mode, DEFAULT_MODE),
            &mut payload,
        )?;
    } else if let Some(p) = &volume.projected {
        let default_mode = mode(p.default_mode, DEFAULT_MODE);
        for source in p.sources.iter().flatten() {
            if let Some(cm) = &source.config_map {
                config_map_payload(
                    pod,
                    src,
                    &cm.name,
                    cm.items.as_ref(),
                    cm.optional == Some(true),
                    default_mode,
                    &mut payload,
                )
                .await?;
            } else if let Some(s) = &source.secret {
                secret_payload(
                    pod,
                    src,
                    &s.name,
                    s.items.as_ref(),
                    s.optional == Some(true),
                    default_mode,
                    &mut payload,
                )
                .await?;
            } else if let Some(d) = &source.downward_api {
                downward_payload(
                    pod,
                    facts,
                    d.items.as_deref().unwrap_or_default(),
                    default_mode,
                    &mut payload,
                )?;
            } else {
                tracing::warn!(volume = %volume.name, "projected source skipped: serviceAccountToken / clusterTrustBundle are not supported yet");
            }
        }
    } else {
        // emptyDir (any medium) and anything unknown: a plain directory.
        if volume.empty_dir.is_none() {
            tracing::warn!(volume = %volume.name, "unsupported volume type: using an empty directory");
        }
        let d = dir.clone();
        off_runtime(&dir, move || {
            std::fs::create_dir_all(&d).map_err(write_err(&d))
        })
        .await?;
        return Ok(dir);
    }
    let d = dir.clone();
    off_runtime(&dir, move || write_atomic(&d, &payload)).await?;
    Ok(dir)
}

/// Sets up all volumes of the pod; returns name → host path.
pub async fn setup_volumes(
    pod: &core::Pod,
    volumes_dir: &Path,
    facts: &PodFacts,
    src: &dyn ObjectSource,
) -> Result<BTreeMap<String, PathBuf>, MountFailed> {
    let mut out = BTreeMap::new();
    let fs_group = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|sc| sc.fs_group)
        .and_then(|g| u32::try_from(g).ok());
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let path = setup_volume(pod, v, volumes_dir, facts, src)
            .await
            .map_err(|source| MountFailed {
                volume: v.name.clone(),
                source,
            })?;
        if let (Some(gid), Some(writable)) = (fs_group, super::security::fs_group_managed(v)) {
            let p = path.clone();
            off_runtime(&path, move || {
                super::security::set_volume_ownership(&p, gid, writable).map_err(|source| {
                    VolumeError::OwnershipFailed {
                        path: p.clone(),
                        source,
                    }
                })
            })
            .await
            .map_err(|source| MountFailed {
                volume: v.name.clone(),
                source,
            })?;
        }
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;
    use serde_json::json;

    use super::*;
    use crate::runner::env::StaticObjects;

    fn objects() -> StaticObjects {
        let mut o = StaticObjects::default();
        o.config_maps.insert(
            ("ns".into(), "cfg".into()),
            serde_json::from_value(
                json!({"metadata": {"name": "cfg"}, "data": {"a.conf": "A", "b.conf": "B"}}),
            )
            .unwrap(),
        );
        let mut s: core::Secret =
            serde_json::from_value(json!({"metadata": {"name": "sec"}})).unwrap();
        s.data = Some(BTreeMap::from([(
            "token".to_string(),
            ByteString(b"t0k".to_vec()),
        )]));
        o.secrets.insert(("ns".into(), "sec".into()), s);
        o
    }

    fn pod(volumes: serde_json::Value) -> core::Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}], "volumes": volumes}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn config_secret_downward_projected_and_empty_dir() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host/data");
        let p = pod(json!([
            {"name": "scratch", "emptyDir": {"medium": "Memory"}},
            {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "conf/a", "mode": 0o600}]}},
            {"name": "all", "configMap": {"name": "cfg", "defaultMode": 0o440}},
            {"name": "sec", "secret": {"secretName": "sec"}},
            {"name": "opt", "secret": {"secretName": "nope", "optional": true}},
            {"name": "down", "downwardAPI": {"items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}
            ]}},
            {"name": "proj", "projected": {"sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "b.conf", "path": "b"}]}},
                {"secret": {"name": "sec"}},
                {"serviceAccountToken": {"path": "token-sa"}}
            ]}},
            {"name": "host", "hostPath": {"path": host.to_str().unwrap(), "type": "DirectoryOrCreate"}}
        ]));
        let vols = setup_volumes(
            &p,
            &dir.path().join("vols"),
            &PodFacts::default(),
            &objects(),
        )
        .await
        .unwrap();
        let read = |v: &str, f: &str| std::fs::read_to_string(vols[v].join(f)).unwrap();
        assert!(vols["scratch"].is_dir());
        assert_eq!(read("cfg", "conf/a"), "A");
        let m = std::fs::metadata(vols["cfg"].join("conf/a"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o600);
        assert!(!vols["cfg"].join("b.conf").exists());
        assert_eq!(
            std::fs::read_link(vols["cfg"].join("conf")).unwrap(),
            PathBuf::from("..data/conf")
        );
        assert_eq!(read("all", "b.conf"), "B");
        let m = std::fs::metadata(vols["all"].join("b.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o440);
        assert_eq!(read("sec", "token"), "t0k");
        assert!(vols["opt"].is_dir());
        assert_eq!(read("down", "name"), "web");
        assert_eq!(read("down", "labels"), "app=\"web\"");
        assert_eq!(read("down", "mem"), "64");
        assert_eq!(read("proj", "b"), "B");
        assert_eq!(read("proj", "token"), "t0k");
        assert!(!vols["proj"].join("token-sa").exists());
        assert_eq!(vols["host"], host);
        assert!(host.is_dir());
    }

    #[tokio::test]
    async fn failures_carry_kubelet_messages() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let cases = [
            (json!([{"name": "v", "configMap": {"name": "gone"}}]), "MountVolume.SetUp failed for volume \"v\" : configmap \"gone\" not found".to_string()),
            (json!([{"name": "v", "secret": {"secretName": "gone"}}]), "MountVolume.SetUp failed for volume \"v\" : secret \"gone\" not found".to_string()),
            (json!([{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}}]), "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: zz".to_string()),
            (json!([{"name": "v", "hostPath": {"path": file.to_str().unwrap(), "type": "Directory"}}]), format!("MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: {} is not a directory", file.display())),
        ];
        for (vols, want) in cases {
            let err = setup_volumes(
                &pod(vols),
                &dir.path().join("vols"),
                &PodFacts::default(),
                &objects(),
            )
            .await
            .unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }
}
