//! Problems found in a lab's definition: every one located, with the AWS rule and the fix.
//!
//! Contract: validation never stops at the first problem. Every pass (YAML, template
//! resolution, the model's `verify_*` passes) adds [`Problem`]s to a list; the list is the
//! error ([`Problems`]). A problem names where it is (file line, logical id, resource type),
//! what is wrong, the AWS rule behind it, and what to do. `code` is a stable machine name for
//! the class of problem, used by tests and by `--output json`.

use std::fmt;

use serde::Serialize;

/// Where a resource (or a property of one) was defined.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The template's logical id (`CloudNetaVPC`); `None` for implicit resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_id: Option<String>,
    /// The CloudFormation type (`AWS::EC2::VPC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The 1-based line in the template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Origin {
    /// A resource defined at `line` of the template under `logical_id`.
    pub fn new(logical_id: &str, resource_type: &str, line: usize) -> Self {
        Origin {
            logical_id: Some(logical_id.to_string()),
            resource_type: Some(resource_type.to_string()),
            line: Some(line),
        }
    }

    /// The same resource, pointing at another line (a property of it).
    pub fn at(&self, line: usize) -> Self {
        Origin {
            line: Some(line),
            ..self.clone()
        }
    }

    /// `CloudNetaVPC` or, for implicit resources, `(implicit)`.
    pub fn name(&self) -> &str {
        self.logical_id.as_deref().unwrap_or("(implicit)")
    }
}

/// One problem in a lab definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable class name, e.g. `SubnetOutsideVpc`.
    pub code: &'static str,
    /// Where it is.
    #[serde(flatten)]
    pub origin: Origin,
    /// What is wrong, naming the resources and values involved.
    pub message: String,
    /// The AWS rule (or YAML/CloudFormation rule) that is broken.
    pub rule: String,
    /// What to do about it.
    pub fix: String,
}

impl Problem {
    /// A new problem of class `code`.
    pub fn new(
        code: &'static str,
        origin: Origin,
        message: impl Into<String>,
        rule: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            code,
            origin,
            message: message.into(),
            rule: rule.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.origin.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(id) = &self.origin.logical_id {
            write!(f, "{id}")?;
            if let Some(t) = &self.origin.resource_type {
                write!(f, " ({t})")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{} [{}]", self.message, self.code)?;
        write!(f, "\n    rule: {}", self.rule)?;
        write!(f, "\n    fix:  {}", self.fix)
    }
}

/// Every problem found, in template order. This is the model's error type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Adds one problem.
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, sorted by line (problems without a line last), duplicates removed.
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by_key(|p| (p.origin.line.unwrap_or(usize::MAX), p.code));
        self.0.dedup();
        self
    }

    /// Whether some problem has class `code`.
    pub fn has(&self, code: &str) -> bool {
        self.0.iter().any(|p| p.code == code)
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Problems> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.sorted())
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} problem{} found:", if n == 1 { "" } else { "s" })?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}
