//! Moving whole files in and out of the object store as streams: an upload
//! is written as it arrives (gunzipped first when it is a part of a multipart
//! upload), and a load reads its upload's parts back as one blocking
//! [`std::io::Read`] for the CSV parser. Neither ever holds a file in memory.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::DataError;

/// Why an incoming file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the part is not valid gzip: {0}")]
    NotGzip(std::io::Error),
    #[error(transparent)]
    Data(#[from] DataError),
}

/// A file being written to the object store as its bytes arrive.
pub struct FileSink {
    writer: BufWriter,
    /// Set for a gzip-compressed input: the decoder writes plain bytes into its Vec.
    gunzip: Option<flate2::write::MultiGzDecoder<Vec<u8>>>,
    /// Bytes stored so far (after gunzip).
    written: u64,
    limit: u64,
}

impl FileSink {
    /// Starts a file at `path`; it appears only when [`FileSink::finish`] succeeds.
    /// `limit` caps the stored (decompressed) size.
    pub fn create(store: Arc<dyn ObjectStore>, path: &Path, gzip: bool, limit: u64) -> Self {
        FileSink {
            writer: BufWriter::new(store, path.clone()),
            gunzip: gzip.then(|| flate2::write::MultiGzDecoder::new(Vec::new())),
            written: 0,
            limit,
        }
    }

    /// Takes the next chunk of the incoming bytes.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        let plain: std::borrow::Cow<'_, [u8]> = match &mut self.gunzip {
            None => chunk.into(),
            Some(decoder) => {
                decoder.write_all(chunk).map_err(SinkError::NotGzip)?;
                std::mem::take(decoder.get_mut()).into()
            }
        };
        self.store(plain.len())?;
        self.writer.write_all(&plain).await.map_err(DataError::Io)?;
        Ok(())
    }

    fn store(&mut self, n: usize) -> Result<(), SinkError> {
        self.written += n as u64;
        if self.written > self.limit {
            return Err(SinkError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Ends the file and returns its stored size. A gzip stream cut short fails here.
    pub async fn finish(mut self) -> Result<u64, SinkError> {
        if let Some(decoder) = self.gunzip.take() {
            let rest = decoder.finish().map_err(SinkError::NotGzip)?;
            self.store(rest.len())?;
            self.writer.write_all(&rest).await.map_err(DataError::Io)?;
        }
        self.writer.shutdown().await.map_err(DataError::Io)?;
        Ok(self.written)
    }

    /// Drops what was written; nothing appears at the path.
    pub async fn abort(mut self) {
        let _ = self.writer.abort().await;
    }
}

/// Reads the files at `paths` one after another as one stream of bytes, for
/// a blocking consumer (the CSV parser's thread). An async task fetches the
/// objects and hands their chunks over a channel of a few chunks.
pub fn read_files(store: Arc<dyn ObjectStore>, paths: Vec<Path>) -> impl Read + Send + 'static {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        for path in paths {
            let stream = match store.get(&path).await {
                Ok(got) => got.into_stream(),
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(format!("reading {path}: {e}")))).await;
                    return;
                }
            };
            let mut stream = std::pin::pin!(stream);
            while let Some(chunk) = stream.next().await {
                let item = chunk.map_err(|e| std::io::Error::other(format!("reading {path}: {e}")));
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        }
    });
    ChannelReader { rx, current: Bytes::new() }
}

struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Streams one stored file out, chunk by chunk (a download).
pub async fn file_stream(
    store: Arc<dyn ObjectStore>,
    path: &Path,
) -> Result<impl futures::Stream<Item = Result<Bytes, DataError>> + Send + 'static, DataError> {
    let got = store.get(path).await?;
    Ok(got.into_stream().map(|r| r.map_err(DataError::from)))
}

/// Deletes files; a missing one is not an error.
pub async fn delete_files(store: &Arc<dyn ObjectStore>, paths: &[Path]) -> Result<(), DataError> {
    for path in paths {
        match store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Deletes every file under a prefix.
pub async fn delete_prefix(store: &Arc<dyn ObjectStore>, prefix: &Path) -> Result<u64, DataError> {
    use futures::TryStreamExt;
    let locations = store.list(Some(prefix)).map_ok(|o| o.location).boxed();
    let deleted: Vec<Path> = store.delete_stream(locations).try_collect().await?;
    Ok(deleted.len() as u64)
}

/// Dumps the version at `version` (or only the header, without one) as CSV
/// to a new file at `to`; returns the rows written. On failure no file appears.
pub async fn dump_to_file(
    store: Arc<dyn ObjectStore>,
    def: &crate::DatasetDef,
    version: Option<&Path>,
    to: &Path,
) -> Result<u64, DataError> {
    let mut writer = BufWriter::new(store.clone(), to.clone());
    match crate::dump_csv(store, def, version, &mut writer).await {
        Ok(rows) => {
            writer.shutdown().await?;
            Ok(rows)
        }
        Err(e) => {
            let _ = writer.abort().await;
            Err(e)
        }
    }
}

/// The size of a stored file, in bytes.
pub async fn file_size(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<u64, DataError> {
    Ok(store.head(path).await?.size)
}

/// Writes a small file (an export) in one request.
pub async fn put_file(store: Arc<dyn ObjectStore>, path: &Path, bytes: Vec<u8>) -> Result<(), DataError> {
    store.put(path, Bytes::from(bytes).into()).await?;
    Ok(())
}

/// An object in an S3-compatible store named by a user (a dataPull's
/// `s3Upload`), with the credentials the user gave.
#[derive(Debug, Clone, Default)]
pub struct S3Object {
    /// `s3://bucket/key`.
    pub uri: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: Option<String>,
    /// Another S3-compatible service than AWS, e.g. `https://minio.example.org`.
    pub endpoint: Option<String>,
    /// Bucket in the path (`endpoint/bucket/key`) rather than in the host name.
    pub force_path_style: bool,
}

impl S3Object {
    /// The store holding the object, and the object's path in it. Only the
    /// given credentials are used, never the server's own (from its
    /// environment): without keys the request is anonymous, so a user can
    /// read no bucket that the operator's credentials open.
    pub fn open(&self) -> Result<(Arc<dyn ObjectStore>, Path), DataError> {
        let bad = |why: &str| DataError::Location(format!("{}: {why}", self.uri));
        let url = url::Url::parse(&self.uri).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "s3" {
            return Err(bad("the URI must start with s3://"));
        }
        let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| bad("no bucket"))?;
        let key = url.path().trim_start_matches('/');
        if key.is_empty() {
            return Err(bad("no object key after the bucket"));
        }
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(self.region.as_deref().unwrap_or("us-east-1"))
            .with_virtual_hosted_style_request(!self.force_path_style);
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => builder = builder.with_access_key_id(id).with_secret_access_key(secret),
            (None, None) => builder = builder.with_skip_signature(true),
            _ => return Err(bad("give both accessKeyId and secretAccessKey, or neither")),
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        let path = Path::parse(key).map_err(|e| bad(&e.to_string()))?;
        Ok((Arc::new(builder.build()?), path))
    }
}

/// The size of an object, or `None` when it does not exist.
pub async fn object_size(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Option<u64>, DataError> {
    match store.head(path).await {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `input` gunzipped (all members of a multi-member file). The decoder is
/// made at the first read, since making it reads the gzip header and
/// `input` may be a [`read_files`] reader, which must not be read from an
/// async task.
pub fn gunzip(input: impl Read + Send + 'static) -> impl Read + Send + 'static {
    enum Lazy<R: Read> {
        Pending(Option<R>),
        Reading(Box<flate2::read::MultiGzDecoder<R>>),
    }
    impl<R: Read> Read for Lazy<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if let Lazy::Pending(input) = self {
                let Some(input) = input.take() else { return Ok(0) };
                *self = Lazy::Reading(Box::new(flate2::read::MultiGzDecoder::new(input)));
            }
            match self {
                Lazy::Reading(decoder) => decoder.read(buf),
                Lazy::Pending(_) => Ok(0),
            }
        }
    }
    Lazy::Pending(Some(input))
}
