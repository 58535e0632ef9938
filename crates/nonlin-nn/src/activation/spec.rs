//! The textual name of an activation with its numeric parameters: `name(key=value, ...)`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::NnError;

/// A parsed activation spec such as `leaky_relu(negative_slope=0.2)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationSpec {
    name: String,
    params: BTreeMap<String, f64>,
}

impl ActivationSpec {
    /// The activation's registry name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters given in the spec.
    pub fn params(&self) -> &BTreeMap<String, f64> {
        &self.params
    }

    /// Checks that every given parameter is one the activation knows.
    pub fn expect_params(&self, known: &[&str]) -> Result<(), NnError> {
        for key in self.params.keys() {
            if !known.contains(&key.as_str()) {
                let known = if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                };
                return Err(NnError::BadActivation {
                    spec: self.to_string(),
                    reason: format!(
                        "unknown parameter `{key}` (parameters of {}: {known})",
                        self.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// The parameter's value, or `default` when the spec does not set it.
    pub fn param(&self, key: &str, default: f64) -> f64 {
        self.params.get(key).copied().unwrap_or(default)
    }
}

impl FromStr for ActivationSpec {
    type Err = NnError;

    fn from_str(text: &str) -> Result<Self, NnError> {
        let bad = |reason: String| NnError::BadActivation {
            spec: text.to_string(),
            reason,
        };
        let text_trim = text.trim();
        let (name, rest) = match text_trim.find('(') {
            Some(open) => {
                let inner = text_trim[open + 1..]
                    .strip_suffix(')')
                    .ok_or_else(|| bad("missing closing `)`".into()))?;
                (&text_trim[..open], Some(inner))
            }
            None => (text_trim, None),
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("the name must be letters, digits and `_`".into()));
        }
        let mut params = BTreeMap::new();
        for part in rest
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("parameter `{part}` is not `key=value`")))?;
            let value: f64 = value.trim().parse().map_err(|_| {
                bad(format!(
                    "parameter `{}` has a non-numeric value `{}`",
                    key.trim(),
                    value.trim()
                ))
            })?;
            if !value.is_finite() {
                return Err(bad(format!("parameter `{}` must be finite", key.trim())));
            }
            if params.insert(key.trim().to_string(), value).is_some() {
                return Err(bad(format!("parameter `{}` is given twice", key.trim())));
            }
        }
        Ok(ActivationSpec {
            name: name.to_string(),
            params,
        })
    }
}

impl fmt::Display for ActivationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.params.is_empty() {
            let parts: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "({})", parts.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_parameters() {
        let s: ActivationSpec = "leaky_relu(negative_slope=0.2)".parse().unwrap();
        assert_eq!(s.name(), "leaky_relu");
        assert_eq!(s.param("negative_slope", 0.01), 0.2);
        assert_eq!(s.param("missing", 7.0), 7.0);
        assert_eq!(s.to_string(), "leaky_relu(negative_slope=0.2)");
        let plain: ActivationSpec = " gelu ".parse().unwrap();
        assert_eq!(plain.to_string(), "gelu");
    }

    #[test]
    fn rejects_malformed_specs() {
        for bad in [
            "",
            "relu(",
            "relu(a)",
            "relu(a=x)",
            "re lu",
            "relu(a=1,a=2)",
            "relu(a=inf)",
        ] {
            assert!(bad.parse::<ActivationSpec>().is_err(), "{bad} parsed");
        }
    }
}
