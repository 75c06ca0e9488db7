//! Tabular data from CSV: a header row, numeric feature columns, and a
//! target column chosen by name. For classification the target's distinct
//! values (numbers or strings) become classes, in sorted order.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Dataset, Targets};
use crate::error::{Result, TrainError};

/// Classification or regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Predict one of the distinct values of the target column.
    Classification,
    /// Predict the target column as a real number.
    Regression,
}

/// A loaded table, with the names needed to map predictions back.
#[derive(Debug, Clone)]
pub struct Table {
    /// The rows as a dataset.
    pub dataset: Dataset,
    /// The feature columns, in order.
    pub feature_names: Vec<String>,
    /// Class names in label order (classification only).
    pub class_names: Vec<String>,
}

/// The numeric columns of a CSV file, and one column's raw cells.
#[derive(Debug, Clone)]
pub struct Rows {
    /// The feature columns, in order.
    pub feature_names: Vec<String>,
    /// Row-major, `feature_names.len()` values per row.
    pub features: Vec<f32>,
    /// The cells of the `target` column, when one was named.
    pub targets: Option<Vec<String>>,
}

/// Reads `path`: every column is a numeric feature except `target`, if
/// given, whose cells are returned as written (for predicting on new data,
/// with or without its labels).
pub fn read_rows(path: &Path, target: Option<&str>) -> Result<Rows> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(io) => TrainError::io(path, io),
            other => TrainError::data(path, format!("{other:?}")),
        })?;
    let headers = rdr.headers().map_err(|e| TrainError::data(path, e.to_string()))?.clone();
    let t_col = match target {
        None => None,
        Some(target) => Some(headers.iter().position(|h| h == target).ok_or_else(|| {
            TrainError::data(
                path,
                format!(
                    "no column named \"{target}\" for the target; the columns are: {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })?),
    };
    let feature_names: Vec<String> =
        headers.iter().enumerate().filter(|(i, _)| Some(*i) != t_col).map(|(_, h)| h.to_string()).collect();
    if feature_names.is_empty() {
        return Err(TrainError::data(path, "the table has no feature columns besides the target"));
    }
    let mut features = Vec::new();
    let mut raw_targets = Vec::new();
    let mut n_rows = 0;
    for (row_no, rec) in rdr.records().enumerate() {
        let line = row_no + 2; // 1-based, after the header
        let rec = rec.map_err(|e| TrainError::data(path, format!("line {line}: {e}")))?;
        n_rows += 1;
        for (i, cell) in rec.iter().enumerate() {
            if Some(i) == t_col {
                raw_targets.push(cell.to_string());
                continue;
            }
            let v: f32 = cell.parse().map_err(|_| {
                TrainError::data(
                    path,
                    format!(
                        "line {line}, column \"{}\": \"{cell}\" is not a number (feature columns must be numeric; encode categories as numbers)",
                        &headers[i]
                    ),
                )
            })?;
            if !v.is_finite() {
                return Err(TrainError::data(path, format!("line {line}, column \"{}\": {cell} is not finite", &headers[i])));
            }
            features.push(v);
        }
    }
    if n_rows == 0 {
        return Err(TrainError::data(path, "the table has a header but no rows"));
    }
    Ok(Rows { feature_names, features, targets: t_col.map(|_| raw_targets) })
}

/// Reads `path`, predicting `target`. Every other column must be numeric.
pub fn read_csv(path: &Path, target: &str, task: Task) -> Result<Table> {
    let Rows { feature_names, features, targets } = read_rows(path, Some(target))?;
    let raw_targets = targets.unwrap_or_default();
    let (targets, class_names) = match task {
        Task::Regression => {
            let values = raw_targets
                .iter()
                .enumerate()
                .map(|(r, c)| {
                    c.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                        TrainError::data(
                            path,
                            format!("line {}, target \"{target}\": \"{c}\" is not a number (regression needs numeric targets)", r + 2),
                        )
                    })
                })
                .collect::<Result<Vec<f32>>>()?;
            (Targets::Values(values), vec![])
        }
        Task::Classification => {
            // Numeric labels sort numerically, others as text.
            let numeric = raw_targets.iter().all(|c| c.parse::<f64>().is_ok());
            let mut names: Vec<String> = raw_targets.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
            if numeric {
                names.sort_by(|a, b| a.parse::<f64>().unwrap().total_cmp(&b.parse::<f64>().unwrap()));
            }
            if names.len() < 2 {
                return Err(TrainError::data(path, format!("target \"{target}\" has only one class")));
            }
            let labels = raw_targets.iter().map(|c| names.iter().position(|n| n == c).unwrap() as u32).collect();
            (Targets::Classes { labels, n_classes: names.len() }, names)
        }
    };
    Ok(Table { dataset: Dataset { features, n_features: feature_names.len(), targets }, feature_names, class_names })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_classification_and_regression() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a,species,b\n1,setosa,2\n3, virginica ,4\n5,setosa,6\n");
        let t = read_csv(&p, "species", Task::Classification).unwrap();
        assert_eq!(t.feature_names, vec!["a", "b"]);
        assert_eq!(t.class_names, vec!["setosa", "virginica"]);
        assert_eq!(t.dataset.features, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(t.dataset.targets, Targets::Classes { labels: vec![0, 1, 0], n_classes: 2 });
        let p = write(&dir, "x,y\n1,0.5\n2,1.5\n");
        let t = read_csv(&p, "y", Task::Regression).unwrap();
        assert_eq!(t.dataset.targets, Targets::Values(vec![0.5, 1.5]));
        // Numeric classes sort as numbers: 2 before 10.
        let p = write(&dir, "x,y\n1,10\n2,2\n");
        assert_eq!(read_csv(&p, "y", Task::Classification).unwrap().class_names, vec!["2", "10"]);
    }

    #[test]
    fn errors_name_the_column_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "a,b\n1,2\n");
        let e = read_csv(&p, "label", Task::Classification).unwrap_err().to_string();
        assert!(e.contains("no column named \"label\"") && e.contains("a, b"), "{e}");
        let p = write(&dir, "a,label\n1,0\nfoo,1\n");
        let e = read_csv(&p, "label", Task::Classification).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("\"foo\" is not a number"), "{e}");
        let p = write(&dir, "a,y\n1,x\n");
        let e = read_csv(&p, "y", Task::Regression).unwrap_err().to_string();
        assert!(e.contains("regression needs numeric targets"), "{e}");
        let p = write(&dir, "a,y\n1,2,3\n");
        assert!(read_csv(&p, "y", Task::Regression).unwrap_err().to_string().contains("line 2"));
        let e = read_csv(&dir.path().join("missing.csv"), "y", Task::Regression).unwrap_err().to_string();
        assert!(e.contains("missing.csv"), "{e}");
    }
}
