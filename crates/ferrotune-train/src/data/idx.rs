//! The IDX format of MNIST and Fashion-MNIST (LeCun et al.,
//! <http://yann.lecun.com/exdb/mnist/>): a magic number `00 00 08 NDIM`
//! (0x08 = unsigned bytes), NDIM big-endian u32 sizes, then the bytes.
//! Files may be gzip-compressed, as they are distributed.

use std::io::Read;
use std::path::Path;

use crate::error::{Result, TrainError};

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// The size of each dimension (images: count, rows, columns).
    pub dims: Vec<usize>,
    /// The bytes, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX file (gzip-compressed if its name ends in `.gz` or it starts
/// with the gzip magic).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| TrainError::data(path, format!("not a valid gzip file ({e}); delete it to download it again")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|m| TrainError::data(path, m))
}

/// Parses IDX bytes; the error says what is wrong.
pub fn parse_idx(b: &[u8]) -> std::result::Result<IdxArray, String> {
    if b.len() < 4 {
        return Err(format!("too short for an IDX header ({} bytes)", b.len()));
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x}: not an IDX file (expected 00 00 08 NN)",
            b[0], b[1], b[2], b[3]
        ));
    }
    if b[2] != 0x08 {
        return Err(format!("IDX element type 0x{:02x} is not supported (only 0x08, unsigned bytes)", b[2]));
    }
    let ndim = b[3] as usize;
    if ndim == 0 {
        return Err("IDX header declares zero dimensions".into());
    }
    let header = 4 + 4 * ndim;
    if b.len() < header {
        return Err(format!("truncated: header needs {header} bytes, file has {}", b.len()));
    }
    let dims: Vec<usize> =
        (0..ndim).map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let n: usize = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("IDX dimensions overflow")?;
    let have = b.len() - header;
    if have < n {
        return Err(format!("truncated: dimensions {dims:?} need {n} data bytes, file has {have}"));
    }
    if have > n {
        return Err(format!("{} trailing bytes after the {n} the dimensions {dims:?} declare", have - n));
    }
    Ok(IdxArray { dims, data: b[header..].to_vec() })
}

#[cfg(test)]
pub(crate) fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_plain_and_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = encode_idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let plain = dir.path().join("a-idx3-ubyte");
        std::fs::write(&plain, &bytes).unwrap();
        let gz = dir.path().join("a-idx3-ubyte.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        enc.finish().unwrap();
        for p in [plain, gz] {
            let a = read_idx(&p).unwrap();
            assert_eq!(a.dims, vec![2, 3]);
            assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
        }
    }

    #[test]
    fn bad_files_get_errors_that_say_what_is_wrong() {
        let e = parse_idx(&[0x50, 0x4b, 3, 4, 0, 0]).unwrap_err();
        assert!(e.contains("wrong magic number"), "{e}");
        let e = parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1]).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let mut t = encode_idx(&[10, 28, 28], &[0; 10 * 28 * 28]);
        t.truncate(t.len() - 5);
        let e = parse_idx(&t).unwrap_err();
        assert!(e.contains("truncated") && e.contains("7840"), "{e}");
        let e = parse_idx(&[0, 0, 8, 3, 0, 0]).unwrap_err();
        assert!(e.contains("truncated: header"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gz");
        let e = read_idx(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.gz") && e.contains("No such file"), "{e}");
        let corrupt = dir.path().join("bad.gz");
        std::fs::write(&corrupt, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        let e = read_idx(&corrupt).unwrap_err().to_string();
        assert!(e.contains("not a valid gzip"), "{e}");
    }
}
