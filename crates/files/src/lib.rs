//! Where uploaded files live.
//!
//! A user uploads an avatar; the next request shows it. With one server
//! that is easy: write the file to the server's disk, read it back. With a
//! cluster behind a load balancer it breaks in two ways. The next request
//! may land on another node, whose disk does not have the file: a broken
//! image, though nothing failed. And when the node that has it dies, or is
//! replaced by a fresh container on scale-in and scale-out, the file is gone
//! for good. A stateless service therefore keeps uploaded files off the
//! node, in a store every node reaches: an object store such as S3.
//!
//! - [`DirStore`] keeps files in a directory of the node's own disk. Writes
//!   and reads cost a local file operation; only this node sees them, and
//!   they end with the node (each node gets a fresh folder, as a new
//!   container would).
//! - [`S3Store`] keeps them in a bucket of an S3-compatible object store.
//!   Each call is a network round trip to a service that can be down; in
//!   exchange every node reads every file, and a node can die without
//!   taking a file with it. The object store is now the one place that must
//!   stay up, so every call to it is bounded by a deadline: a store that is
//!   down or hung makes uploads and downloads fail fast
//!   ([`FileError::Unavailable`], a 503 for the client), never hang, and
//!   they work again as soon as it is back.
//!
//! Both implement [`FileStore`]. In both, a file appears whole or not at
//! all (a temporary file renamed into place on disk; one S3 `PUT`), reads
//! stream the bytes rather than loading them, and a file is found only by
//! its owner: another user's file id answers exactly as an unknown one.
//! Files are at most [`MAX_BYTES`] (1 MiB) and of the [`ContentType`]s
//! listed there.
//!
//! The tests and the harness run the S3 store against a real S3-compatible
//! server started as a private process (the `local-s3` crate). The book's
//! chapter `docs/files.md` shows both stores side by side.
//!
//! This crate knows no HTTP. The `app` crate puts it behind
//! `POST /files` and `GET /files/{id}`.
//!
//! # Modules
//! - [`store`]: the [`FileStore`] trait, the accepted content types, the
//!   size limit, and the error.
//! - [`id`]: file ids: 128 random bits from the OS, in base64url, as
//!   session ids.
//! - [`dir`]: the store on the node's disk.
//! - [`s3`]: the store in an S3-compatible object store, and its
//!   `--object-store` URL.

pub mod dir;
pub mod id;
pub mod s3;
pub mod store;

pub use dir::DirStore;
pub use id::FileId;
pub use s3::{BadUrl, S3Settings, S3Store};
pub use store::{ByteStream, ContentType, FileError, FileStore, MAX_BYTES, StoredFile, sha256_hex};
