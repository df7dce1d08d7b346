//! The CRI v1 messages and clients generated from `proto/cri/runtime/v1/api.proto`
//! (our subset of k8s.io/cri-api, same names and field numbers as upstream).

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("runtime.v1");

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .finish_non_exhaustive()
    }
}
