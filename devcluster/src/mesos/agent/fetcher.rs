//! The fetcher: puts an executor's `CommandInfo.uris` into its sandbox.
//!
//! Mirrors apache/mesos `src/launcher/fetcher.cpp` for the cases the
//! devcluster needs: `file://` URIs and plain absolute paths are copied,
//! `http(s)://` URIs are downloaded; the file is named after the URI's last
//! path segment unless `output_file` says otherwise; `executable` makes it
//! mode 0755 (and is never extracted); otherwise, with `extract` (default
//! true), `.tar`, `.tar.gz` and `.tgz` archives are unpacked into the
//! sandbox. The cache is not implemented: every fetch downloads.
//!
//! One deviation, for disk's sake: a local file is hard-linked into the
//! sandbox when it can be (same filesystem, and already executable when
//! `executable` is asked for, so the link never changes the source's mode).
//! Every executor launch copies the ~150 MB debug binary otherwise, and a
//! test run launches hundreds of them. Nothing in a sandbox writes to a
//! fetched executable, so a link behaves as the copy does.

use std::path::{Path, PathBuf};

use kube_mesos_proto::v1::command_info::Uri;

/// Why a fetch failed. Not retryable for the same launch: Mesos fails the
/// container launch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URI's scheme or shape is not supported.
    #[error("unsupported URI '{uri}'")]
    UriUnsupported { uri: String },
    /// `output_file` would leave the sandbox.
    #[error("output file '{name}' escapes the sandbox")]
    OutputFileInvalid { name: String },
    /// Copying a local file failed.
    #[error("copying '{from}' into the sandbox failed")]
    CopyFailed {
        from: String,
        #[source]
        source: std::io::Error,
    },
    /// Downloading failed.
    #[error("downloading '{uri}' failed")]
    DownloadFailed {
        uri: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("downloading '{uri}' returned HTTP {status}")]
    DownloadStatus { uri: String, status: u16 },
    /// Writing the file or setting its mode failed.
    #[error("writing '{path}' failed")]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Extracting an archive failed.
    #[error("extracting '{path}' failed")]
    ExtractFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fetches every URI into `sandbox`, in order.
pub async fn fetch_all(uris: &[Uri], sandbox: &Path) -> Result<(), FetchError> {
    for uri in uris {
        fetch_one(uri, sandbox).await?;
    }
    Ok(())
}

/// The local source path of a `file://` URI or a plain absolute path.
fn local_path(value: &str) -> Option<&str> {
    if let Some(rest) = value.strip_prefix("file://") {
        return Some(rest);
    }
    if value.starts_with('/') {
        return Some(value);
    }
    None
}

/// The sandbox file name for a URI (its last path segment, or `output_file`).
pub fn destination(uri: &Uri, sandbox: &Path) -> Result<PathBuf, FetchError> {
    if let Some(name) = uri.output_file.as_deref().filter(|n| !n.is_empty()) {
        let relative = Path::new(name);
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
        if escapes {
            return Err(FetchError::OutputFileInvalid {
                name: name.to_owned(),
            });
        }
        return Ok(sandbox.join(relative));
    }
    let without_query = uri.value.split(['?', '#']).next().unwrap_or_default();
    let base = without_query
        .rsplit('/')
        .find(|s| !s.is_empty())
        .filter(|s| *s != ".." && *s != ".")
        .ok_or_else(|| FetchError::UriUnsupported {
            uri: uri.value.clone(),
        })?;
    Ok(sandbox.join(base))
}

async fn fetch_one(uri: &Uri, sandbox: &Path) -> Result<(), FetchError> {
    let dest = destination(uri, sandbox)?;
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| FetchError::WriteFailed {
                path: parent.to_path_buf(),
                source,
            })?;
    }
    if let Some(path) = local_path(&uri.value) {
        if !link_local(path, &dest, uri.executable.unwrap_or(false)).await {
            tokio::fs::copy(path, &dest)
                .await
                .map_err(|source| FetchError::CopyFailed {
                    from: path.to_owned(),
                    source,
                })?;
        }
    } else if uri.value.starts_with("http://") || uri.value.starts_with("https://") {
        download(&uri.value, &dest).await?;
    } else {
        return Err(FetchError::UriUnsupported {
            uri: uri.value.clone(),
        });
    }
    if uri.executable.unwrap_or(false) {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|source| FetchError::WriteFailed {
                path: dest.clone(),
                source,
            })?;
    } else if uri.extract.unwrap_or(true) && is_archive(&dest) {
        let archive = dest.clone();
        let target = sandbox.to_path_buf();
        tokio::task::spawn_blocking(move || extract(&archive, &target))
            .await
            .map_err(|join| FetchError::ExtractFailed {
                path: dest.clone(),
                source: std::io::Error::other(join.to_string()),
            })?
            .map_err(|source| FetchError::ExtractFailed { path: dest, source })?;
    }
    Ok(())
}

/// Hard-links `from` to `dest` when that is indistinguishable from a copy;
/// false means copy instead (other filesystem, or a mode change would reach
/// the source through the link).
async fn link_local(from: &str, dest: &Path, executable: bool) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = tokio::fs::metadata(from).await else {
        return false;
    };
    if !meta.is_file() || (executable && meta.permissions().mode() & 0o777 != 0o755) {
        return false;
    }
    // A stale file from an earlier launch into the same sandbox path.
    let _ = tokio::fs::remove_file(dest).await;
    tokio::fs::hard_link(from, dest).await.is_ok()
}

async fn download(uri: &str, dest: &Path) -> Result<(), FetchError> {
    let failed = |source| FetchError::DownloadFailed {
        uri: uri.to_owned(),
        source,
    };
    // reqwest is built without a default TLS provider; install ring once
    // (an error only means another part of the process already did).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::builder()
        .build()
        .map_err(failed)?
        .get(uri)
        .send()
        .await
        .map_err(failed)?;
    if !response.status().is_success() {
        return Err(FetchError::DownloadStatus {
            uri: uri.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let bytes = response.bytes().await.map_err(failed)?;
    tokio::fs::write(dest, &bytes)
        .await
        .map_err(|source| FetchError::WriteFailed {
            path: dest.to_path_buf(),
            source,
        })
}

fn is_archive(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar")
}

fn extract(archive: &Path, into: &Path) -> std::io::Result<()> {
    let file = std::fs::File::open(archive)?;
    let name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".tar") {
        tar::Archive::new(file).unpack(into)
    } else {
        tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(value: &str) -> Uri {
        Uri {
            value: value.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn destination_names() {
        let sb = Path::new("/sb");
        assert_eq!(
            destination(&uri("file:///a/b/run.sh"), sb).ok(),
            Some(PathBuf::from("/sb/run.sh"))
        );
        assert_eq!(
            destination(&uri("http://h:1/x/pkg.tgz?x=1"), sb).ok(),
            Some(PathBuf::from("/sb/pkg.tgz"))
        );
        let mut named = uri("http://h/x");
        named.output_file = Some("bin/tool".to_owned());
        assert_eq!(
            destination(&named, sb).ok(),
            Some(PathBuf::from("/sb/bin/tool"))
        );
        named.output_file = Some("../evil".to_owned());
        assert!(destination(&named, sb).is_err());
        assert!(destination(&uri("file:///a/.."), sb).is_err());
    }

    fn local(path: &Path, executable: bool) -> Uri {
        Uri {
            value: path.display().to_string(),
            executable: Some(executable),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_executable_is_linked_and_a_mode_change_never_reaches_the_source() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().expect("tempdir");
        let sandbox = dir.path().join("sandbox");
        let ready = dir.path().join("ready");
        std::fs::write(&ready, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&ready, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).expect("chmod");

        fetch_all(&[local(&ready, true), local(&plain, true)], &sandbox)
            .await
            .expect("fetch");

        let inode = |p: &Path| std::fs::metadata(p).expect("stat").ino();
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(inode(&sandbox.join("ready")), inode(&ready), "linked");
        assert_ne!(inode(&sandbox.join("plain")), inode(&plain), "copied");
        assert_eq!(mode(&sandbox.join("plain")), 0o755);
        assert_eq!(mode(&plain), 0o644, "the source keeps its mode");
        // A second launch into the same path replaces the earlier file.
        fetch_all(&[local(&ready, true)], &sandbox)
            .await
            .expect("fetch again");
    }
}
