//! A stream cassette written while the stream passes: the cassette's JSON up to its `stream`
//! list goes to a hidden temp file at the response head, each frame is appended as it
//! arrives, and the file is closed, fsynced and given its final name only when the stream
//! ended whole. Memory holds one frame at a time, however long the stream.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::cassette::{self, frames_to_items, Cassette};
use super::redact::Redactor;
use crate::wire::event_stream::Frame;

/// A cassette being written.
pub struct StreamFile {
    dir: PathBuf,
    stem: String,
    tmp: PathBuf,
    out: BufWriter<File>,
    suffix: String,
    redactor: Redactor,
    items: u64,
}

impl std::fmt::Debug for StreamFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFile").field("tmp", &self.tmp).field("items", &self.items).finish()
    }
}

/// Marks where the stream items go in the shell cassette's JSON.
const HOLE: &str = "\"stream\": []";

impl StreamFile {
    /// Starts a cassette in `dir` whose request, status, headers and metadata are `shell`'s
    /// (its stream is empty).
    pub fn create(dir: &Path, shell: Cassette, redactor: Redactor) -> io::Result<StreamFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(dir)?;
        let text = cassette::to_json(&shell);
        let (prefix, suffix) =
            text.split_once(HOLE).ok_or_else(|| io::Error::other("the cassette shell has no empty stream to fill"))?;
        let name = cassette::file_name(&shell);
        let stem = name.strip_suffix(".json").unwrap_or(&name).to_string();
        let tmp = dir.join(format!(".{stem}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let mut out = BufWriter::new(OpenOptions::new().write(true).create_new(true).open(&tmp)?);
        out.write_all(prefix.as_bytes())?;
        out.write_all(b"\"stream\": [")?;
        Ok(StreamFile { dir: dir.to_path_buf(), stem, tmp, out, suffix: suffix.to_string(), redactor, items: 0 })
    }

    /// Appends one frame that arrived `offset_ms` after the response head.
    pub fn append(&mut self, offset_ms: f64, frame: &Frame) -> io::Result<()> {
        let redacted = self.redactor.frame(frame);
        for item in frames_to_items(&[(offset_ms, redacted)]) {
            let text = serde_json::to_string_pretty(&item).map_err(io::Error::other)?;
            let indented = text.replace('\n', "\n      ");
            let sep = if self.items == 0 { "\n      " } else { ",\n      " };
            self.out.write_all(sep.as_bytes())?;
            self.out.write_all(indented.as_bytes())?;
            self.items += 1;
        }
        Ok(())
    }

    /// Closes the list, makes the file durable and gives it its final name (`stem.json`, or
    /// `stem-N.json` when that holds another cassette).
    pub fn finish(mut self) -> io::Result<PathBuf> {
        let close: &[u8] = if self.items == 0 { b"]" } else { b"\n    ]" };
        let result = (|| {
            self.out.write_all(close)?;
            self.out.write_all(self.suffix.as_bytes())?;
            self.out.flush()?;
            self.out.get_ref().sync_all()?;
            let path = place_streaming(&self.dir, &self.stem, &self.tmp)?;
            cassette::sync_dir(&self.dir)?;
            Ok(path)
        })();
        let _ = fs::remove_file(&self.tmp);
        result
    }
}

impl Drop for StreamFile {
    /// A stream that did not end whole leaves nothing behind.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Whether two files hold the same bytes, compared in chunks.
fn same_content(a: &Path, b: &Path) -> io::Result<bool> {
    if fs::metadata(a)?.len() != fs::metadata(b)?.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let (mut ba, mut bb) = ([0u8; 8192], [0u8; 8192]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

fn place_streaming(dir: &Path, stem: &str, tmp: &Path) -> io::Result<PathBuf> {
    for n in 1..=10_000u32 {
        let candidate = if n == 1 { dir.join(format!("{stem}.json")) } else { dir.join(format!("{stem}-{n}.json")) };
        match fs::hard_link(tmp, &candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if same_content(tmp, &candidate)? {
                    return Ok(candidate);
                }
            }
            Err(_) if !candidate.exists() => {
                fs::rename(tmp, &candidate)?;
                return Ok(candidate);
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!("10000 cassettes named {stem}(-N).json exist already")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::cassette::{Body, Metadata, RecordedRequest, RecordedResponse};
    use bytes::Bytes;

    fn shell() -> Cassette {
        let redactor = Redactor::default();
        let request = RecordedRequest::from_sent(
            "POST",
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream",
            Vec::new(),
            Body::from_bytes(br#"{"messages":[]}"#),
            &redactor,
        )
        .expect("a Bedrock route");
        let response = RecordedResponse::stream(200, Vec::new(), &[], &redactor);
        Cassette::new(request, response, Metadata::default())
    }

    #[test]
    fn a_streamed_cassette_parses_back_to_the_same_frames() {
        let dir = std::env::temp_dir().join(format!("stream-file-test-{}", std::process::id()));
        let frames: Vec<Frame> = (0..3)
            .map(|i| Frame::Event {
                event_type: "contentBlockDelta".into(),
                payload: Bytes::from(format!("{{\"n\":{i}}}")),
            })
            .collect();
        let mut file = StreamFile::create(&dir, shell(), Redactor::default()).expect("create");
        for (i, f) in frames.iter().enumerate() {
            file.append(i as f64 * 10.0, f).expect("append");
        }
        let path = file.finish().expect("finish");
        let text = fs::read_to_string(&path).expect("read");
        let parsed = cassette::parse("t", &text).expect("parses");
        let back: Vec<Frame> = parsed.stream_frames().expect("frames").into_iter().map(|(_, f)| f).collect();
        assert_eq!(back, frames);
        assert!(fs::read_dir(&dir).expect("dir").flatten().all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unfinished_stream_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("stream-file-drop-{}", std::process::id()));
        let mut file = StreamFile::create(&dir, shell(), Redactor::default()).expect("create");
        file.append(0.0, &Frame::Event { event_type: "x".into(), payload: Bytes::from_static(b"{}") }).expect("append");
        drop(file);
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
