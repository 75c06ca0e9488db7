//! Declarative search spaces, as written in study files (TOML) and in the
//! JSON that `ferrotune ask` reads:
//!
//! ```json
//! {"x":     {"type": "float", "low": -5, "high": 10},
//!  "lr":    {"type": "float", "low": 1e-5, "high": 1e-1, "log": true},
//!  "units": {"type": "int", "low": 16, "high": 256, "step": 16},
//!  "act":   {"type": "categorical", "choices": ["relu", "tanh"]},
//!  "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}}}
//! ```
//!
//! Keys per parameter: `type` (`float`, `int`, `categorical`), `low`/`high`
//! (numbers; integers for `int`), `log` (bool), `step` (number), `choices`
//! (list), and `when`, which makes the parameter conditional: it is active
//! only when every named parameter is active and has the given value (or one
//! of a list of values). Any other key is an error naming it.
//!
//! A declarative space is sampled through the same define-by-run
//! [`Trial::suggest`] as Rust code, parents before children.

use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

use crate::distribution::{Distribution, ParamValue, SearchSpace};
use crate::error::{invalid, Error, Result};
use crate::study::Trial;

/// One parameter of a declarative space.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// The values it takes.
    pub distribution: Distribution,
    /// Active only when each named parameter's internal value is one of these.
    pub when: Vec<(String, Vec<f64>)>,
}

/// A validated declarative search space.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpaceSpec {
    params: IndexMap<String, ParamSpec>,
    /// Names with every parent before its children; ties keep file order.
    order: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type")]
    kind: String,
    low: Option<serde_json::Number>,
    high: Option<serde_json::Number>,
    log: Option<bool>,
    step: Option<serde_json::Number>,
    choices: Option<Vec<serde_json::Value>>,
    when: Option<IndexMap<String, OneOrMany>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<ParamValue>),
    One(ParamValue),
}

impl SpaceSpec {
    /// Parses the JSON form.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::InvalidSpec(format!("search space is not valid JSON: {e}")))?;
        Self::from_value(v)
    }

    /// Reads a JSON space file.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Io { path: path.to_path_buf(), error })?;
        Self::from_json_str(&text).map_err(|e| Error::InvalidSpec(format!("{}: {e}", path.display())))
    }

    /// Builds a space from a JSON value (TOML tables convert to it losslessly).
    pub fn from_value(v: serde_json::Value) -> Result<Self> {
        let serde_json::Value::Object(map) = v else {
            return Err(Error::InvalidSpec(
                "search space must be an object mapping parameter names to {\"type\": ...} objects".into(),
            ));
        };
        if map.is_empty() {
            return Err(Error::InvalidSpec("search space has no parameters".into()));
        }
        let mut raw: IndexMap<String, RawParam> = IndexMap::new();
        for (name, p) in map {
            if !p.is_object() {
                return Err(invalid(&name, "must be an object such as {\"type\": \"float\", \"low\": 0, \"high\": 1}"));
            }
            let r: RawParam = serde_json::from_value(p).map_err(|e| invalid(&name, e.to_string()))?;
            raw.insert(name, r);
        }
        let mut params: IndexMap<String, ParamSpec> = IndexMap::new();
        for (name, r) in &raw {
            params.insert(name.clone(), ParamSpec { distribution: distribution(name, r)?, when: vec![] });
        }
        for (name, r) in &raw {
            let Some(when) = &r.when else { continue };
            let mut conds = vec![];
            for (parent, values) in when {
                if parent == name {
                    return Err(invalid(name, "its `when` condition refers to itself"));
                }
                let pd = &params
                    .get(parent)
                    .ok_or_else(|| invalid(name, format!("its `when` condition refers to unknown parameter '{parent}'")))?
                    .distribution;
                if matches!(pd, Distribution::Float { step: None, .. }) {
                    return Err(invalid(
                        name,
                        format!(
                            "its `when` condition is on '{parent}', a continuous float, which would almost never equal \
                             the value given; condition on a categorical or int parameter (or give '{parent}' a `step`)"
                        ),
                    ));
                }
                let values = match values {
                    OneOrMany::One(v) => vec![v.clone()],
                    OneOrMany::Many(v) => v.clone(),
                };
                if values.is_empty() {
                    return Err(invalid(name, format!("its `when` condition on '{parent}' lists no values")));
                }
                let internals = values
                    .iter()
                    .map(|v| {
                        pd.to_internal(parent, v).map_err(|e| {
                            invalid(name, format!("its `when` condition can never hold: {e}"))
                        })
                    })
                    .collect::<Result<Vec<f64>>>()?;
                conds.push((parent.clone(), internals));
            }
            params[name].when = conds;
        }
        let order = topological_order(&params)?;
        Ok(SpaceSpec { params, order })
    }

    /// Parameters in file order.
    pub fn params(&self) -> &IndexMap<String, ParamSpec> {
        &self.params
    }

    /// The space as JSON, by parameter name: each distribution, and its
    /// conditions as internal values. What a study stores to notice a
    /// changed space; equal spaces give equal values whatever their order.
    pub fn to_value(&self) -> serde_json::Value {
        let mut names: Vec<&String> = self.params.keys().collect();
        names.sort();
        let mut out = serde_json::Map::new();
        for n in names {
            let p = &self.params[n];
            let mut v = serde_json::to_value(&p.distribution).expect("distributions serialize");
            if !p.when.is_empty() {
                let when: serde_json::Map<String, serde_json::Value> =
                    p.when.iter().map(|(k, vals)| (k.clone(), serde_json::json!(vals))).collect();
                v["when"] = serde_json::Value::Object(when);
            }
            out.insert(n.clone(), v);
        }
        serde_json::Value::Object(out)
    }

    /// What changed from the stored form `old` (see [`SpaceSpec::to_value`])
    /// to this space, one phrase per parameter; empty when nothing did.
    pub fn differences(&self, old: &serde_json::Value) -> Vec<String> {
        let new = self.to_value();
        let empty = serde_json::Map::new();
        let (old, new) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
        let show = |v: &serde_json::Value| match serde_json::from_value::<Distribution>({
            let mut d = v.clone();
            if let Some(o) = d.as_object_mut() {
                o.remove("when");
            }
            d
        }) {
            Ok(d) => format!("{d}{}", if v.get("when").is_some() { " (conditional)" } else { "" }),
            Err(_) => v.to_string(),
        };
        let mut out = vec![];
        for (k, o) in old {
            match new.get(k) {
                None => out.push(format!("'{k}' ({}) was removed", show(o))),
                Some(n) if n != o => out.push(format!("'{k}' was {}, now {}", show(o), show(n))),
                _ => {}
            }
        }
        for (k, n) in new {
            if !old.contains_key(k) {
                out.push(format!("'{k}' ({}) is new", show(n)));
            }
        }
        out
    }

    /// Every parameter with its distribution, conditional ones included.
    pub fn search_space(&self) -> SearchSpace {
        self.order.iter().map(|n| (n.clone(), self.params[n].distribution.clone())).collect()
    }

    /// Whether a parameter can be inactive.
    pub fn is_conditional(&self, name: &str) -> bool {
        self.params.get(name).is_some_and(|p| !p.when.is_empty())
    }

    /// Suggests every active parameter on `trial`, parents first, and
    /// returns the active ones in file order.
    pub fn suggest_all(&self, trial: &mut Trial) -> Result<IndexMap<String, ParamValue>> {
        let mut internal: HashMap<&str, f64> = HashMap::new();
        for name in &self.order {
            let spec = &self.params[name];
            let active = spec
                .when
                .iter()
                .all(|(parent, ok)| internal.get(parent.as_str()).is_some_and(|x| ok.contains(x)));
            if active {
                let v = trial.suggest(name, &spec.distribution)?;
                internal.insert(name, spec.distribution.to_internal(name, &v)?);
            }
        }
        let params = trial.params();
        Ok(self.params.keys().filter_map(|n| params.get(n).map(|v| (n.clone(), v.clone()))).collect())
    }
}

fn number(name: &str, key: &str, n: &Option<serde_json::Number>) -> Result<f64> {
    n.as_ref()
        .and_then(|n| n.as_f64())
        .ok_or_else(|| invalid(name, format!("`{key}` is required (a number)")))
}

fn integer(name: &str, key: &str, n: &Option<serde_json::Number>) -> Result<i64> {
    let x = number(name, key, n)?;
    if x.fract() != 0.0 {
        return Err(invalid(name, format!("`{key}` must be an integer for an int parameter, got {x}")));
    }
    if x.abs() > crate::distribution::MAX_EXACT_INT as f64 {
        return Err(invalid(
            name,
            format!("`{key}` = {x} is outside ±2^53 ({}), where every integer is exact; use a float parameter for such ranges", crate::distribution::MAX_EXACT_INT),
        ));
    }
    Ok(x as i64)
}

fn distribution(name: &str, r: &RawParam) -> Result<Distribution> {
    let forbid = |key: &str, present: bool, kind: &str| -> Result<()> {
        if present {
            Err(invalid(name, format!("`{key}` does not apply to a {kind} parameter; remove it")))
        } else {
            Ok(())
        }
    };
    let d = match r.kind.as_str() {
        "float" => {
            forbid("choices", r.choices.is_some(), "float")?;
            Distribution::Float {
                low: number(name, "low", &r.low)?,
                high: number(name, "high", &r.high)?,
                log: r.log.unwrap_or(false),
                step: r.step.as_ref().map(|s| number(name, "step", &Some(s.clone()))).transpose()?,
            }
        }
        "int" => {
            forbid("choices", r.choices.is_some(), "int")?;
            Distribution::Int {
                low: integer(name, "low", &r.low)?,
                high: integer(name, "high", &r.high)?,
                log: r.log.unwrap_or(false),
                step: match &r.step {
                    Some(s) => integer(name, "step", &Some(s.clone()))?,
                    None => 1,
                },
            }
        }
        "categorical" => {
            forbid("low", r.low.is_some(), "categorical")?;
            forbid("high", r.high.is_some(), "categorical")?;
            forbid("log", r.log.is_some(), "categorical")?;
            forbid("step", r.step.is_some(), "categorical")?;
            let raw = r.choices.as_ref().ok_or_else(|| invalid(name, "`choices` is required for a categorical parameter"))?;
            let choices = raw
                .iter()
                .map(|c| match c {
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) | serde_json::Value::Null => Err(invalid(
                        name,
                        format!("choice {c} is not a string, number or boolean; choices must be plain values (encode a combination as a string, e.g. \"64-32\")"),
                    )),
                    v => serde_json::from_value::<ParamValue>(v.clone()).map_err(|e| invalid(name, format!("choice {v}: {e}"))),
                })
                .collect::<Result<Vec<_>>>()?;
            Distribution::Categorical { choices }
        }
        other => {
            return Err(invalid(name, format!("unknown type '{other}'; use \"float\", \"int\" or \"categorical\"")))
        }
    };
    d.validate(name)?;
    Ok(d)
}

/// Kahn's algorithm, taking ready parameters in file order.
fn topological_order(params: &IndexMap<String, ParamSpec>) -> Result<Vec<String>> {
    let mut order: Vec<String> = Vec::with_capacity(params.len());
    let mut placed: std::collections::HashSet<&str> = Default::default();
    while order.len() < params.len() {
        let next = params
            .iter()
            .find(|(n, p)| !placed.contains(n.as_str()) && p.when.iter().all(|(parent, _)| placed.contains(parent.as_str())));
        match next {
            Some((n, _)) => {
                placed.insert(n);
                order.push(n.clone());
            }
            None => {
                let stuck: Vec<&str> = params.keys().map(String::as_str).filter(|n| !placed.contains(n)).collect();
                return Err(Error::InvalidSpec(format!(
                    "the `when` conditions of {} form a cycle; a parameter cannot depend on itself through others",
                    stuck.join(", ")
                )));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        SpaceSpec::from_json_str(json).unwrap_err().to_string()
    }

    #[test]
    fn accepts_the_documented_shape() {
        let s = SpaceSpec::from_json_str(
            r#"{"x": {"type": "float", "low": -5, "high": 10}, "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": true}, "units": {"type": "int", "low": 16, "high": 256, "step": 16}, "act": {"type": "categorical", "choices": ["relu", "tanh"]}}"#,
        )
        .unwrap();
        let sp = s.search_space();
        assert_eq!(sp.keys().collect::<Vec<_>>(), ["x", "lr", "units", "act"]);
        assert_eq!(sp["x"], Distribution::float(-5.0, 10.0));
        assert_eq!(sp["lr"], Distribution::float_log(1e-5, 1e-1));
        assert_eq!(sp["units"], Distribution::int_step(16, 256, 16));
        assert_eq!(sp["act"], Distribution::categorical(["relu", "tanh"]));
    }

    #[test]
    fn rejects_unknown_keys_naming_them() {
        let e = err(r#"{"x": {"type": "float", "low": 0, "high": 1, "lo": 3}}"#);
        assert!(e.contains("parameter 'x'") && e.contains("unknown field `lo`"), "{e}");
        let e = err(r#"{"x": {"type": "float", "low": 0, "high": 1, "choices": [1]}}"#);
        assert!(e.contains("`choices` does not apply"), "{e}");
        let e = err(r#"{"a": {"type": "categorical", "choices": ["x"], "low": 1}}"#);
        assert!(e.contains("`low` does not apply"), "{e}");
    }

    #[test]
    fn reports_each_validation_error() {
        assert!(err(r#"{"x": {"type": "float", "low": 3, "high": 1}}"#).contains("parameter 'x': low (3) is greater than high (1)"));
        assert!(err(r#"{"x": {"type": "float", "low": 0, "high": 1, "log": true}}"#).contains("low > 0"));
        assert!(err(r#"{"u": {"type": "int", "low": 16, "high": 250, "step": 16}}"#).contains("does not fit the range"));
        assert!(err(r#"{"u": {"type": "int", "low": 1.5, "high": 3}}"#).contains("must be an integer"));
        assert!(err(r#"{"a": {"type": "categorical", "choices": []}}"#).contains("no choices"));
        assert!(err(r#"{"a": {"type": "categorical"}}"#).contains("`choices` is required"));
        assert!(err(r#"{"a": {"type": "flaot", "low": 0, "high": 1}}"#).contains("unknown type 'flaot'"));
        assert!(err(r#"{"a": {"low": 0, "high": 1}}"#).contains("missing field `type`"));
        assert!(err(r#"{"a": {"type": "float", "high": 1}}"#).contains("`low` is required"));
        assert!(err(r#"[1]"#).contains("must be an object"));
        assert!(err(r#"{}"#).contains("no parameters"));
        assert!(err(r#"{"a": 3}"#).contains("parameter 'a': must be an object"));
    }

    /// Issue 10 §4: bad ranges and choices that used to be accepted or gave
    /// a misleading message.
    #[test]
    fn edge_cases_get_clear_errors() {
        let e = err(r#"{"x": {"type": "float", "low": -1e308, "high": 1e308}}"#);
        assert!(e.contains("parameter 'x'") && e.contains("too wide"), "{e}");
        let e = err(r#"{"n": {"type": "int", "low": 0, "high": 1e16}}"#);
        assert!(e.contains("outside ±2^53"), "{e}");
        let e = err(r#"{"c": {"type": "categorical", "choices": [[64, 32], [128]]}}"#);
        assert!(e.contains("parameter 'c'") && e.contains("choice [64,32] is not a string, number or boolean"), "{e}");
        let e = err(r#"{"c": {"type": "categorical", "choices": [null]}}"#);
        assert!(e.contains("choice null"), "{e}");
        let e = err(r#"{"a": {"type": "float", "low": 0, "high": 1}, "b": {"type": "int", "low": 0, "high": 3, "when": {"a": 0.5}}}"#);
        assert!(e.contains("parameter 'b'") && e.contains("continuous float"), "{e}");
        // A stepped float parent can be equal to a value: allowed.
        assert!(SpaceSpec::from_json_str(
            r#"{"a": {"type": "float", "low": 0, "high": 1, "step": 0.5}, "b": {"type": "int", "low": 0, "high": 3, "when": {"a": 0.5}}}"#
        )
        .is_ok());
        assert!(Distribution::int(0, 1 << 54).validate("n").unwrap_err().to_string().contains("2^53"));
    }

    #[test]
    fn conditions_are_checked() {
        let base = r#""opt": {"type": "categorical", "choices": ["sgd", "adam"]}"#;
        let e = err(&format!(r#"{{{base}, "m": {{"type": "float", "low": 0, "high": 1, "when": {{"optimizer": "sgd"}}}}}}"#));
        assert!(e.contains("unknown parameter 'optimizer'"), "{e}");
        let e = err(&format!(r#"{{{base}, "m": {{"type": "float", "low": 0, "high": 1, "when": {{"opt": "rmsprop"}}}}}}"#));
        assert!(e.contains("can never hold") && e.contains("rmsprop"), "{e}");
        let e = err(
            r#"{"a": {"type": "int", "low": 0, "high": 1, "when": {"b": 1}}, "b": {"type": "int", "low": 0, "high": 1, "when": {"a": 1}}}"#,
        );
        assert!(e.contains("cycle"), "{e}");
        // A child listed before its parent is still sampled after it.
        let s = SpaceSpec::from_json_str(&format!(
            r#"{{"m": {{"type": "float", "low": 0, "high": 1, "when": {{"opt": ["sgd"]}}}}, {base}}}"#
        ))
        .unwrap();
        assert_eq!(s.search_space().keys().collect::<Vec<_>>(), ["opt", "m"]);
        assert!(s.is_conditional("m") && !s.is_conditional("opt"));
    }
}
