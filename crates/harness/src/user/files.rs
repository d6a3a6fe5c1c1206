//! Uploaded files: after each login the user uploads a small file of
//! seeded random bytes (`POST /files`, one of the allowed types), and now
//! and then reads one of its files back (`GET /files/{id}`), comparing the
//! SHA-256 of what came back with what it sent.
//!
//! The ledger holds every file the server accepted (201). A read answered
//! 404 is a file the user was told exists and can no longer reach: on the
//! stateful twin, a file on another node's disk (round-robin) or on a dead
//! node's (node death). Files live on after a forced logout (they belong to
//! the user, not to the session), so the ledger keeps them.

use std::collections::BTreeSet;

use rand::{Rng as _, RngCore as _};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use super::User;

/// The types the servers accept; each upload picks one.
const TYPES: &[&str] = &["image/png", "image/jpeg", "text/plain", "application/octet-stream"];
/// Sizes of the uploads, in bytes (well under the servers' 1 MiB limit).
const SIZES: std::ops::RangeInclusive<usize> = 256..=4096;

/// A file the server accepted.
#[derive(Clone, Debug)]
pub struct Held {
    /// The id the server gave it.
    pub id: String,
    /// The SHA-256 of the bytes sent, in hex.
    pub sha256: String,
}

/// One user's files and what reading them back gave.
#[derive(Debug, Default)]
pub struct FileLedger {
    /// Files the server accepted, in upload order.
    pub held: Vec<Held>,
    /// Uploads sent.
    pub uploads: u64,
    /// Reads sent.
    pub reads: u64,
    /// Reads that came back whole and unchanged.
    pub reads_ok: u64,
    /// Distinct files that answered 404 at least once.
    pub unreachable: BTreeSet<String>,
    /// Reads (and upload answers) whose digest was not what was sent.
    pub digest_mismatches: u64,
    /// A login happened and its upload has not been accepted yet.
    pub upload_due: bool,
}

/// A SHA-256 digest in lower-case hex, as the servers write it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl User {
    fn files(&mut self) -> Option<&mut FileLedger> {
        self.record.kinds.files.as_mut()
    }

    /// Whether a login's upload is still to be done.
    pub(super) fn upload_due(&self) -> bool {
        self.record.kinds.files.as_ref().is_some_and(|f| f.upload_due)
    }

    /// Uploads one file; the upload stays due until the server accepts one
    /// (or refuses it as bad input, which would be a harness bug).
    pub(super) async fn upload_file(&mut self) {
        let size = self.rng.random_range(SIZES);
        let mut bytes = vec![0_u8; size];
        self.rng.fill_bytes(&mut bytes);
        let content_type = TYPES[self.rng.random_range(0..TYPES.len())];
        let sha256 = sha256_hex(&bytes);
        let answer = self
            .send_with(Method::POST, "/files", false, |request| request.header(CONTENT_TYPE, content_type).body(bytes))
            .await;
        let Some(files) = self.files() else {
            return;
        };
        files.uploads += 1;
        match answer.status {
            Some(StatusCode::CREATED) => {
                files.upload_due = false;
                let field = |name: &str| answer.body.as_ref().and_then(|b| b.get(name)).and_then(|v| v.as_str());
                if field("sha256") != Some(sha256.as_str()) {
                    files.digest_mismatches += 1;
                }
                if let Some(id) = field("id") {
                    files.held.push(Held { id: id.to_string(), sha256 });
                }
            }
            Some(status) if status.is_client_error() && status != StatusCode::UNAUTHORIZED => files.upload_due = false,
            _ => {}
        }
    }

    /// Reads one of the user's files back and checks its digest.
    pub(super) async fn read_file(&mut self) {
        let Some(files) = &self.record.kinds.files else {
            return;
        };
        let Some(held) = files.held.get(self.rng.random_range(0..files.held.len().max(1))).cloned() else {
            return;
        };
        let answer = self.send_with(Method::GET, &format!("/files/{}", held.id), true, |request| request).await;
        let Some(files) = self.files() else {
            return;
        };
        files.reads += 1;
        match answer.status {
            Some(StatusCode::OK) => match answer.bytes {
                Some(bytes) if sha256_hex(&bytes) == held.sha256 => files.reads_ok += 1,
                _ => files.digest_mismatches += 1,
            },
            Some(StatusCode::NOT_FOUND) => {
                files.unreachable.insert(held.id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_lower_case_hex_sha256() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
