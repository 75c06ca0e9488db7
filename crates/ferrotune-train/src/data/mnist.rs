//! MNIST and Fashion-MNIST: found in a data directory, else in the cache
//! directory, else downloaded into the cache.
//!
//! - `FERROTUNE_DATA_DIR`: a directory holding `mnist/` and/or
//!   `fashion-mnist/` with the four original `.gz` files (offline use; tests
//!   and benchmarks point it at `../shared/data`).
//! - `FERROTUNE_CACHE_DIR` (default `$XDG_CACHE_HOME/ferrotune`, else
//!   `~/.cache/ferrotune`): where downloads go.
//! - `FERROTUNE_MNIST_MIRROR`: a base URL to download from instead of the
//!   public mirrors (files are looked up as `<url>/<file name>`).

use std::path::{Path, PathBuf};

use super::idx::read_idx;
use super::{Dataset, Targets};
use crate::error::{Result, TrainError};

/// Which image set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageSet {
    /// The handwritten digits (LeCun et al.).
    Mnist,
    /// Zalando's clothing images (Xiao et al. 2017).
    FashionMnist,
}

/// The four original files of a set, as published.
pub const FILES: [&str; 4] =
    ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

impl ImageSet {
    /// The directory name under a data or cache directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            ImageSet::Mnist => "mnist",
            ImageSet::FashionMnist => "fashion-mnist",
        }
    }

    fn mirrors(self) -> &'static [&'static str] {
        match self {
            ImageSet::Mnist => {
                &["https://storage.googleapis.com/cvdf-datasets/mnist", "https://ossci-datasets.s3.amazonaws.com/mnist"]
            }
            ImageSet::FashionMnist => &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"],
        }
    }
}

/// Where data is looked for and cached.
#[derive(Debug, Clone)]
pub struct DataLocation {
    /// Looked in first (`FERROTUNE_DATA_DIR`): `<dir>/mnist/`, `<dir>/fashion-mnist/`.
    pub data_dir: Option<PathBuf>,
    /// Where downloads go and are found again.
    pub cache_dir: PathBuf,
    /// Whether a missing set may be downloaded.
    pub download: bool,
    /// A base URL to download from instead of the public mirrors.
    pub mirror: Option<String>,
}

impl DataLocation {
    /// From the environment variables above; downloads allowed.
    pub fn from_env() -> DataLocation {
        let cache_dir = std::env::var_os("FERROTUNE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("ferrotune")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("ferrotune")))
            .unwrap_or_else(|| PathBuf::from(".ferrotune-cache"));
        DataLocation {
            data_dir: std::env::var_os("FERROTUNE_DATA_DIR").map(PathBuf::from),
            cache_dir,
            download: true,
            mirror: std::env::var("FERROTUNE_MNIST_MIRROR").ok(),
        }
    }

    /// The directory holding all four files of `set`, downloading them into
    /// the cache if needed.
    pub fn locate(&self, set: ImageSet) -> Result<PathBuf> {
        let has_all = |d: &Path| FILES.iter().all(|f| d.join(f).is_file());
        if let Some(dd) = &self.data_dir {
            let d = dd.join(set.dir_name());
            if has_all(&d) {
                return Ok(d);
            }
        }
        let cached = self.cache_dir.join(set.dir_name());
        if has_all(&cached) {
            return Ok(cached);
        }
        if !self.download {
            return Err(self.missing(set, "downloads are off"));
        }
        self.fetch(set, &cached)?;
        Ok(cached)
    }

    fn missing(&self, set: ImageSet, why: &str) -> TrainError {
        let looked = match &self.data_dir {
            Some(d) => format!("{} and {}", d.join(set.dir_name()).display(), self.cache_dir.join(set.dir_name()).display()),
            None => self.cache_dir.join(set.dir_name()).display().to_string(),
        };
        let name = set.dir_name();
        TrainError::Missing(format!(
            "{name} not found in {looked} ({why}). To fix: download the four files ({}) from {} by hand into {}, \
             or put them in DIR/{name}/ and set FERROTUNE_DATA_DIR=DIR; to try ferrotune without the full set, \
             a checkout ships a small subset: FERROTUNE_DATA_DIR=fixtures/data",
            FILES.join(", "),
            set.mirrors()[0],
            self.cache_dir.join(name).display(),
        ))
    }

    #[cfg(feature = "download")]
    fn fetch(&self, set: ImageSet, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let mirrors: Vec<&str> = match &self.mirror {
            Some(m) => vec![m.as_str()],
            None => set.mirrors().to_vec(),
        };
        for file in FILES {
            let dest = dir.join(file);
            if dest.is_file() {
                continue;
            }
            let mut errors = vec![];
            let ok = mirrors.iter().any(|m| {
                let url = format!("{}/{file}", m.trim_end_matches('/'));
                match download(&url, &dest) {
                    Ok(()) => true,
                    Err(e) => {
                        errors.push(format!("{url}: {e}"));
                        false
                    }
                }
            });
            if !ok {
                return Err(self.missing(set, &format!("download failed: {}", errors.join("; "))));
            }
        }
        Ok(())
    }

    #[cfg(not(feature = "download"))]
    fn fetch(&self, set: ImageSet, _dir: &Path) -> Result<()> {
        Err(self.missing(set, "this build has no `download` feature"))
    }
}

/// Downloads to `dest` through a temporary file, so an interrupted
/// download never leaves a truncated file behind under the real name.
#[cfg(feature = "download")]
fn download(url: &str, dest: &Path) -> std::result::Result<(), String> {
    let part = dest.with_extension("part");
    let mut resp = ureq::get(url).call().map_err(|e| e.to_string())?;
    let mut reader = resp.body_mut().with_config().limit(200 << 20).reader();
    let mut f = std::fs::File::create(&part).map_err(|e| e.to_string())?;
    std::io::copy(&mut reader, &mut f).map_err(|e| e.to_string())?;
    drop(f);
    // Check it parses before it takes the real name.
    read_idx(&part).map_err(|e| {
        let _ = std::fs::remove_file(&part);
        e.to_string()
    })?;
    std::fs::rename(&part, dest).map_err(|e| e.to_string())
}

/// The official training and test sets; pixels scaled to [0, 1].
#[derive(Debug, Clone)]
pub struct ImageData {
    /// The 60,000 training images (or a fixture's subset).
    pub train: Dataset,
    /// The 10,000 test images, touched only by the final retrain.
    pub test: Dataset,
}

/// Loads `set` (locating or downloading it).
pub fn load(set: ImageSet, loc: &DataLocation) -> Result<ImageData> {
    let dir = loc.locate(set)?;
    Ok(ImageData { train: load_pair(&dir, FILES[0], FILES[1])?, test: load_pair(&dir, FILES[2], FILES[3])? })
}

fn load_pair(dir: &Path, images: &str, labels: &str) -> Result<Dataset> {
    let (ip, lp) = (dir.join(images), dir.join(labels));
    let img = read_idx(&ip)?;
    let lab = read_idx(&lp)?;
    if img.dims.len() != 3 {
        return Err(TrainError::data(&ip, format!("expected 3 dimensions (n, rows, cols), found {:?}", img.dims)));
    }
    if lab.dims.len() != 1 || lab.dims[0] != img.dims[0] {
        return Err(TrainError::data(&lp, format!("{:?} labels for {} images", lab.dims, img.dims[0])));
    }
    if let Some(bad) = lab.data.iter().find(|&&l| l > 9) {
        return Err(TrainError::data(&lp, format!("label {bad} is outside 0..=9")));
    }
    Ok(Dataset {
        features: img.data.iter().map(|&p| p as f32 / 255.0).collect(),
        n_features: img.dims[1] * img.dims[2],
        targets: Targets::Classes { labels: lab.data.iter().map(|&l| l as u32).collect(), n_classes: 10 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::encode_idx;

    fn tiny_set(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, bytes) in [
            (FILES[0], encode_idx(&[3, 2, 2], &[0, 255, 0, 255, 1, 2, 3, 4, 9, 9, 9, 9])),
            (FILES[1], encode_idx(&[3], &[1, 2, 3])),
            (FILES[2], encode_idx(&[1, 2, 2], &[0, 0, 0, 0])),
            (FILES[3], encode_idx(&[1], &[7])),
        ] {
            std::fs::write(dir.join(f), bytes).unwrap();
        }
    }

    #[test]
    fn finds_the_data_dir_then_the_cache() {
        let data = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let mut loc = DataLocation {
            data_dir: Some(data.path().to_path_buf()),
            cache_dir: cache.path().to_path_buf(),
            download: false,
            mirror: None,
        };
        let e = load(ImageSet::Mnist, &loc).unwrap_err().to_string();
        assert!(e.contains("not found") && e.contains("FERROTUNE_DATA_DIR"), "{e}");
        tiny_set(&cache.path().join("mnist"));
        let d = load(ImageSet::Mnist, &loc).unwrap();
        assert_eq!((d.train.len(), d.test.len(), d.train.n_features), (3, 1, 4));
        assert_eq!(d.train.features[1], 1.0);
        loc.cache_dir = data.path().join("elsewhere");
        tiny_set(&data.path().join("mnist"));
        assert_eq!(load(ImageSet::Mnist, &loc).unwrap().test.targets, Targets::Classes { labels: vec![7], n_classes: 10 });
    }

    #[test]
    fn mismatched_label_count_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("mnist");
        tiny_set(&d);
        std::fs::write(d.join(FILES[1]), encode_idx(&[2], &[1, 2])).unwrap();
        let loc = DataLocation { data_dir: Some(dir.path().into()), cache_dir: dir.path().into(), download: false, mirror: None };
        let e = load(ImageSet::Mnist, &loc).unwrap_err().to_string();
        assert!(e.contains("[2] labels for 3 images"), "{e}");
    }

    /// Issue 10 §1: offline, the error says exactly what to do.
    #[cfg(feature = "download")]
    #[test]
    fn a_failed_download_says_how_to_get_the_data() {
        // A port nothing listens on: the download fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cache = tempfile::tempdir().unwrap();
        let loc = DataLocation {
            data_dir: None,
            cache_dir: cache.path().to_path_buf(),
            download: true,
            mirror: Some(format!("http://127.0.0.1:{port}")),
        };
        let e = load(ImageSet::Mnist, &loc).unwrap_err().to_string();
        assert!(e.contains("download failed"), "{e}");
        assert!(e.contains("by hand into") && e.contains(&cache.path().join("mnist").display().to_string()), "{e}");
        assert!(e.contains("FERROTUNE_DATA_DIR=DIR") && e.contains("FERROTUNE_DATA_DIR=fixtures/data"), "{e}");
    }

    /// The subsets the repository ships for offline tests load as the real
    /// sets do (fixtures/README.md).
    #[test]
    fn the_shipped_fixtures_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/data");
        let loc = DataLocation { data_dir: Some(root), cache_dir: "/nonexistent".into(), download: false, mirror: None };
        for (set, train, test) in [(ImageSet::Mnist, 3000, 1000), (ImageSet::FashionMnist, 1000, 500)] {
            let d = load(set, &loc).unwrap();
            assert_eq!((d.train.len(), d.test.len(), d.train.n_features), (train, test, 784), "{set:?}");
            let Targets::Classes { labels, .. } = &d.train.targets else { panic!() };
            assert_eq!((0..10).filter(|c| labels.contains(c)).count(), 10, "{set:?}: every class present");
        }
    }

    /// The download path, against a local HTTP server standing in for a mirror.
    #[cfg(feature = "download")]
    #[test]
    fn downloads_into_the_cache_once() {
        use std::io::{Read, Write};
        let src = tempfile::tempdir().unwrap();
        tiny_set(src.path());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let root = src.path().to_path_buf();
        let server = std::thread::spawn(move || {
            let mut served = 0;
            for stream in listener.incoming().take(4) {
                let mut s = stream.unwrap();
                let mut buf = [0u8; 2048];
                let n = s.read(&mut buf).unwrap();
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap().trim_start_matches('/').to_string();
                let body = std::fs::read(root.join(&path)).unwrap();
                write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
                s.write_all(&body).unwrap();
                served += 1;
            }
            served
        });
        let cache = tempfile::tempdir().unwrap();
        let loc = DataLocation {
            data_dir: None,
            cache_dir: cache.path().to_path_buf(),
            download: true,
            mirror: Some(format!("http://{addr}")),
        };
        let d = load(ImageSet::FashionMnist, &loc).unwrap();
        assert_eq!(d.train.len(), 3);
        assert_eq!(server.join().unwrap(), 4);
        assert!(FILES.iter().all(|f| cache.path().join("fashion-mnist").join(f).is_file()));
        // Cached now: no server needed.
        assert_eq!(load(ImageSet::FashionMnist, &loc).unwrap().test.len(), 1);
    }
}
