//! `TaskInfo.data` as the executor decodes it: the whole input is the
//! payload of a LAUNCH; a pod that decodes goes through
//! [`super::executor_pod`].

use kube_mesos_executor::service::facts::decode_pod;
use kube_mesos_proto::v1::TaskInfo;

/// The target.
pub fn run(data: &[u8]) {
    let task = TaskInfo {
        data: Some(data.to_vec()),
        ..Default::default()
    };
    if let Ok(pod) = decode_pod(&task) {
        super::executor_pod::run_pod(&pod);
    }
}
