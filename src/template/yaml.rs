//! YAML (and JSON, which YAML reads too) into a tree that keeps every node's line.
//!
//! Contract: [`parse`] returns a [`Node`] tree where CloudFormation's short-form tags are
//! already expanded to their long form (`!Ref X` → `{Ref: X}`, `!GetAtt A.B` →
//! `{Fn::GetAtt: [A, B]}`, `!Sub …` → `{Fn::Sub: …}`), so later stages see one form only.
//! Mapping keys keep their order; duplicate keys and unknown tags are problems. A syntax
//! error is a problem located at its line; the common mistake of writing a comment without a
//! space after the colon (`CloudNetaVPC:# VPC`, as the seed-2 template does) is named as such
//! at the line where it is written, not where the parser gives up.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::model::{Origin, Problem, Problems};

/// A node of the template, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub v: V,
    /// The 1-based line it starts on.
    pub line: usize,
}

/// A node's value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    /// `null`, `~` or an empty value.
    Null,
    /// A scalar's text; `plain` is false for quoted and block scalars.
    Scalar {
        /// The scalar's text, unescaped.
        text: String,
        /// Written without quotes or block style (so `true` or `10` may be read as such).
        plain: bool,
    },
    /// A sequence, in order.
    Seq(Vec<Node>),
    /// Keys in template order, each with its line.
    Map(Vec<(String, usize, Node)>),
}

impl Node {
    /// A plain (unquoted) scalar node.
    pub fn scalar(text: impl Into<String>, line: usize) -> Node {
        Node {
            v: V::Scalar {
                text: text.into(),
                plain: false,
            },
            line,
        }
    }

    /// A one-key map node (an intrinsic function call).
    pub fn call(name: &str, arg: Node, line: usize) -> Node {
        Node {
            v: V::Map(vec![(name.to_string(), line, arg)]),
            line,
        }
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            V::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of key `k`, if this is a map that has it.
    pub fn get(&self, k: &str) -> Option<&Node> {
        match &self.v {
            V::Map(m) => m.iter().find(|(key, _, _)| key == k).map(|(_, _, n)| n),
            _ => None,
        }
    }

    /// The map's entries, or an empty slice.
    pub fn entries(&self) -> &[(String, usize, Node)] {
        match &self.v {
            V::Map(m) => m,
            _ => &[],
        }
    }

    /// If this is a one-key map whose key is an intrinsic function (`Ref`, `Fn::…`,
    /// `Condition`), that key and its argument.
    pub fn intrinsic(&self) -> Option<(&str, &Node)> {
        match &self.v {
            V::Map(m) if m.len() == 1 => {
                let (k, _, n) = &m[0];
                (k == "Ref" || k.starts_with("Fn::") || k == "Condition").then_some((k.as_str(), n))
            }
            _ => None,
        }
    }

    /// What kind of node this is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.v {
            V::Null => "nothing",
            V::Scalar { .. } => "a scalar",
            V::Seq(_) => "a list",
            V::Map(_) => "a mapping",
        }
    }

    /// To JSON (for policy documents and describe output). Plain scalars that read as YAML
    /// booleans or numbers become JSON booleans and numbers.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.v {
            V::Null => J::Null,
            V::Scalar { text, plain } => {
                if *plain {
                    match text.as_str() {
                        "true" | "True" | "TRUE" => return J::Bool(true),
                        "false" | "False" | "FALSE" => return J::Bool(false),
                        _ => {}
                    }
                    if let Ok(i) = text.parse::<i64>() {
                        return J::from(i);
                    }
                }
                J::String(text.clone())
            }
            V::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            V::Map(m) => J::Object(m.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

/// The short-form tags and the long form each expands to.
const SHORT_TAGS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("Sub", "Fn::Sub"),
    ("GetAtt", "Fn::GetAtt"),
    ("Select", "Fn::Select"),
    ("GetAZs", "Fn::GetAZs"),
    ("Join", "Fn::Join"),
    ("Split", "Fn::Split"),
    ("Base64", "Fn::Base64"),
    ("If", "Fn::If"),
    ("Equals", "Fn::Equals"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Cidr", "Fn::Cidr"),
    ("FindInMap", "Fn::FindInMap"),
    ("ImportValue", "Fn::ImportValue"),
    ("Transform", "Fn::Transform"),
];

enum Frame {
    Seq {
        items: Vec<Node>,
        line: usize,
        tag: Option<Tag>,
        anchor: usize,
    },
    Map {
        entries: Vec<(String, usize, Node)>,
        key: Option<(String, usize)>,
        line: usize,
        tag: Option<Tag>,
        anchor: usize,
    },
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    problems: Problems,
    documents: usize,
}

fn yaml_problem(line: usize, message: String, fix: &str) -> Problem {
    Problem::new(
        "YamlSyntax",
        Origin {
            line: Some(line),
            ..Origin::default()
        },
        message,
        "a CloudFormation template must be valid YAML or JSON",
        fix,
    )
}

impl Builder {
    fn apply_tag(&mut self, node: Node, tag: Option<Tag>) -> Node {
        let Some(tag) = tag else { return node };
        if tag.handle == "!!" || tag.handle.starts_with("tag:yaml.org") {
            return node; // standard tags (!!str, !!int…) change nothing CloudFormation reads
        }
        let Some((_, long)) = SHORT_TAGS.iter().find(|(s, _)| *s == tag.suffix) else {
            self.problems.push(Problem::new(
                "UnknownTag",
                Origin { line: Some(node.line), ..Origin::default() },
                format!("unknown tag {}{}", tag.handle, tag.suffix),
                "CloudFormation's YAML short forms are !Ref, !Sub, !GetAtt, !Select, !GetAZs, !Join, !Split, !Base64, !If, !Equals, !Not, !And, !Or, !Cidr, !FindInMap, !Condition",
                "use one of those tags, or the long form (Fn::…)",
            ));
            return node;
        };
        let line = node.line;
        // `!GetAtt Res.Attr` is the one short form whose scalar argument changes shape.
        let arg = if *long == "Fn::GetAtt" {
            match node.as_str().and_then(|s| s.split_once('.')) {
                Some((res, attr)) => Node {
                    v: V::Seq(vec![Node::scalar(res, line), Node::scalar(attr, line)]),
                    line,
                },
                None => node,
            }
        } else {
            node
        };
        Node::call(long, arg, line)
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => {
                match key.take() {
                    None => {
                        let k = match &node.v {
                            V::Scalar { text, .. } => text.clone(),
                            V::Null => String::new(),
                            _ => {
                                self.problems.push(yaml_problem(
                                    node.line,
                                    format!("a mapping key is {}, not a name", node.kind()),
                                    "write keys as plain names",
                                ));
                                String::new()
                            }
                        };
                        if let Some((_, first, _)) = entries.iter().find(|(e, _, _)| *e == k) {
                            let first = *first;
                            self.problems.push(Problem::new(
                            "DuplicateKey",
                            Origin { line: Some(node.line), ..Origin::default() },
                            format!("key '{k}' appears twice in one mapping (first at line {first})"),
                            "keys in a YAML mapping (and in a CloudFormation section) are unique",
                            "rename or remove one of the two",
                        ));
                        }
                        *key = Some((k, node.line));
                    }
                    Some((k, kl)) => entries.push((k, kl, node)),
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line().max(1);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.problems.push(yaml_problem(
                        line,
                        "a second YAML document starts here".into(),
                        "a template is one document: remove the `---` and what follows, or split the file",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == TScalarStyle::Plain;
                let v = if plain
                    && (text.is_empty() || text == "~" || text == "null" || text == "Null")
                    && tag.is_none()
                {
                    V::Null
                } else {
                    V::Scalar { text, plain }
                };
                let node = self.apply_tag(Node { v, line }, tag);
                self.finish(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                items: vec![],
                line,
                tag,
                anchor,
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                entries: vec![],
                key: None,
                line,
                tag,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, tag, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        line,
                        tag,
                        anchor,
                    }) => (
                        Node {
                            v: V::Seq(items),
                            line,
                        },
                        tag,
                        anchor,
                    ),
                    Some(Frame::Map {
                        entries,
                        line,
                        tag,
                        anchor,
                        ..
                    }) => (
                        Node {
                            v: V::Map(entries),
                            line,
                        },
                        tag,
                        anchor,
                    ),
                    None => return,
                };
                let node = self.apply_tag(node, tag);
                self.finish(node, anchor);
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .unwrap_or(Node { v: V::Null, line });
                self.finish(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Lines where a key is followed by `:#` (a comment written without a space), 1-based.
fn colon_hash_lines(src: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    for (i, l) in src.lines().enumerate() {
        let t = l.trim_start();
        let t = t.strip_prefix("- ").unwrap_or(t);
        let key_len = t
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'')))
            .map_or(t.len(), |(j, _)| j);
        if key_len > 0 && t[key_len..].starts_with(":#") {
            out.push((i + 1, t[..key_len].to_string()));
        }
    }
    out
}

/// Parses a template's text.
pub fn parse(src: &str) -> Result<Node, Problems> {
    let mut b = Builder {
        stack: vec![],
        root: None,
        anchors: HashMap::new(),
        problems: Problems::default(),
        documents: 0,
    };
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut b, true) {
        let hints = colon_hash_lines(src);
        let mut p = Problems::default();
        for (line, key) in &hints {
            p.push(Problem::new(
                "YamlCommentNeedsSpace",
                Origin { line: Some(*line), ..Origin::default() },
                format!(
                    "`{key}:#` — YAML needs a space before `#` to start a comment, so this whole line is read as one plain text `{key}:#…`, not as the key `{key}` (the parser then fails at line {}: {})",
                    e.marker().line(),
                    e.info()
                ),
                "in YAML a comment starts with `#` preceded by whitespace; `:` marks a key only when followed by a space",
                format!("write `{key}: #` (a space after the colon)"),
            ));
        }
        if hints.is_empty() {
            p.push(yaml_problem(
                e.marker().line().max(1),
                format!("YAML syntax error at column {}: {}", e.marker().col() + 1, e.info()),
                "check indentation (spaces, not tabs), that every key is followed by `: `, and that quotes and brackets are closed",
            ));
        }
        return Err(p);
    }
    if !b.problems.is_empty() {
        return Err(b.problems);
    }
    b.root.ok_or_else(|| {
        let mut p = Problems::default();
        p.push(yaml_problem(
            1,
            "the template is empty".into(),
            "a template needs at least a Resources section",
        ));
        p
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tags_expand_to_long_form_with_lines() {
        let n =
            parse("A:\n  B: !Ref X\n  C: !GetAtt R.PrivateIp\n  D: !Select [ 0, !GetAZs '' ]\n")
                .unwrap();
        let a = n.get("A").unwrap();
        assert_eq!(a.get("B").unwrap().intrinsic().unwrap().0, "Ref");
        let (f, arg) = a.get("C").unwrap().intrinsic().unwrap();
        assert_eq!(f, "Fn::GetAtt");
        assert!(matches!(&arg.v, V::Seq(s) if s.len() == 2));
        assert_eq!(a.get("C").unwrap().line, 3);
        let (f, arg) = a.get("D").unwrap().intrinsic().unwrap();
        assert_eq!(f, "Fn::Select");
        let V::Seq(items) = &arg.v else { panic!() };
        assert_eq!(items[1].intrinsic().unwrap().0, "Fn::GetAZs");
    }

    #[test]
    fn colon_hash_is_located_at_its_own_line() {
        let src = "Resources:\n  CloudNetaVPC:# VPC\n    Type: AWS::EC2::VPC\n";
        let p = parse(src).unwrap_err();
        assert_eq!(p.0[0].code, "YamlCommentNeedsSpace");
        assert_eq!(p.0[0].origin.line, Some(2));
        assert!(p.0[0].fix.contains("CloudNetaVPC: #"));
    }

    #[test]
    fn duplicate_keys_and_unknown_tags_are_problems() {
        let p = parse("A: 1\nA: 2\n").unwrap_err();
        assert_eq!(p.0[0].code, "DuplicateKey");
        assert_eq!(p.0[0].origin.line, Some(2));
        let p = parse("A: !Nope x\n").unwrap_err();
        assert_eq!(p.0[0].code, "UnknownTag");
    }

    #[test]
    fn json_reads_too() {
        let n = parse("{\"Resources\": {\"V\": {\"Type\": \"AWS::EC2::VPC\"}}}").unwrap();
        assert_eq!(
            n.get("Resources")
                .unwrap()
                .get("V")
                .unwrap()
                .get("Type")
                .unwrap()
                .as_str(),
            Some("AWS::EC2::VPC")
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let p = parse("A:\n  - b\n c: [\n").unwrap_err();
        assert_eq!(p.0[0].code, "YamlSyntax");
        assert!(p.0[0].origin.line.is_some());
    }
}
