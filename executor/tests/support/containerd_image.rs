//! Test images without a registry: an OCI image layout tarball with one
//! layer holding the static busybox of the `busybox-static` Debian package
//! (and its applet symlinks), written with sha256 digests so that
//! `ctr images import` accepts it.

use std::path::{Path, PathBuf};

/// Where Debian's `busybox-static` installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked in `/bin` of the image.
const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "cat", "head", "tail", "ls", "id", "hostname", "env", "touch", "mkdir",
    "rm", "kill", "ps", "true", "false", "test", "dd", "ip", "ifconfig", "grep", "wc", "date",
    "nc", "wget", "stat", "readlink", "mount", "tar", "httpd", "stty", "tty", "sed", "pwd",
];

fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("tar path");
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn layer() -> Vec<u8> {
    let busybox = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX} is needed to build test images (apt-get install busybox-static): {e}")
    });
    let mut b = tar::Builder::new(Vec::new());
    for dir in [
        "bin/", "etc/", "tmp/", "proc/", "sys/", "dev/", "var/", "root/",
    ] {
        let mut h = header(dir, tar::EntryType::Directory, 0o755, 0);
        if dir == "tmp/" {
            h.set_mode(0o1777);
        }
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("tar dir");
    }
    let mut h = header(
        "bin/busybox",
        tar::EntryType::Regular,
        0o755,
        busybox.len() as u64,
    );
    h.set_cksum();
    b.append(&h, busybox.as_slice()).expect("tar busybox");
    for applet in APPLETS {
        let mut h = header(&format!("bin/{applet}"), tar::EntryType::Symlink, 0o777, 0);
        h.set_link_name("busybox").expect("link name");
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("tar symlink");
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    let mut h = header(
        "etc/passwd",
        tar::EntryType::Regular,
        0o644,
        passwd.len() as u64,
    );
    h.set_cksum();
    b.append(&h, passwd.as_slice()).expect("tar passwd");
    let group = b"root:x:0:\nnogroup:x:65534:\n";
    let mut h = header(
        "etc/group",
        tar::EntryType::Regular,
        0o644,
        group.len() as u64,
    );
    h.set_cksum();
    b.append(&h, group.as_slice()).expect("tar group");
    b.into_inner().expect("tar finish")
}

/// An image's blobs, with their sha256 digests (`sha256:<hex>`).
pub struct OciImage {
    /// The one layer (uncompressed tar).
    pub layer: Vec<u8>,
    /// The image config.
    pub config: Vec<u8>,
    /// The OCI manifest.
    pub manifest: Vec<u8>,
    /// Digest of `layer`.
    pub layer_digest: String,
    /// Digest of `config`.
    pub config_digest: String,
    /// Digest of `manifest`.
    pub manifest_digest: String,
}

impl OciImage {
    /// The blob with `digest`, if it is one of this image's.
    pub fn blob(&self, digest: &str) -> Option<&[u8]> {
        [
            (&self.layer_digest, &self.layer),
            (&self.config_digest, &self.config),
            (&self.manifest_digest, &self.manifest),
        ]
        .into_iter()
        .find(|(d, _)| d.as_str() == digest)
        .map(|(_, b)| b.as_slice())
    }
}

/// The busybox image whose config has `entrypoint` and `cmd`.
pub fn busybox_oci(entrypoint: &[&str], cmd: &[&str]) -> OciImage {
    let layer = layer();
    let layer_digest = format!("sha256:{}", sha256_hex(&layer));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": entrypoint,
            "Cmd": cmd,
            "Env": ["PATH=/bin"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [&layer_digest]},
        "history": [{"created_by": "kube-mesos tests"}],
    });
    let config = serde_json::to_vec(&config).expect("config json");
    let config_digest = format!("sha256:{}", sha256_hex(&config));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": &config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": &layer_digest,
            "size": layer.len(),
        }],
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest json");
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));
    OciImage {
        layer,
        config,
        manifest,
        layer_digest,
        config_digest,
        manifest_digest,
    }
}

/// Writes `<dir>/<file_name>.tar`: an OCI layout for image `name`
/// (fully qualified, e.g. `kube-mesos.local/busybox:1`) whose config has
/// `entrypoint` and `cmd`. Returns the tarball's path.
pub fn busybox_image(dir: &Path, name: &str, entrypoint: &[&str], cmd: &[&str]) -> PathBuf {
    let img = busybox_oci(entrypoint, cmd);
    let tag = name.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": &img.manifest_digest,
            "size": img.manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {
                "io.containerd.image.name": name,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    let index = serde_json::to_vec(&index).expect("index json");

    let mut out = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = header(path, tar::EntryType::Regular, 0o644, data.len() as u64);
        h.set_cksum();
        out.append(&h, data).expect("tar entry");
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &index);
    for (digest, blob) in [
        (&img.layer_digest, &img.layer),
        (&img.config_digest, &img.config),
        (&img.manifest_digest, &img.manifest),
    ] {
        let hex = digest.trim_start_matches("sha256:");
        add(&format!("blobs/sha256/{hex}"), blob);
    }
    let bytes = out.into_inner().expect("tar finish");
    let file = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    std::fs::write(&file, bytes).expect("write image tar");
    file
}
