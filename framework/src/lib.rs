//! The kube-mesos framework scheduler: places Kubernetes pods on Mesos offers.
