//! DynamoDB expressions: condition (ConditionExpression, FilterExpression,
//! KeyConditionExpression), projection and update expressions — parsed with
//! ExpressionAttributeNames/Values substituted, then evaluated on items.
//!
//! Grammar (DynamoDB's, precedence from high to low: comparators, IN, BETWEEN, functions,
//! parentheses, NOT, AND, OR):
//! ```text
//! condition := or
//! or        := and (OR and)*
//! and       := not (AND not)*
//! not       := NOT not | '(' or ')' | function | operand cmp operand
//!            | operand BETWEEN operand AND operand | operand IN '(' operand (',' operand)* ')'
//! function  := attribute_exists(path) | attribute_not_exists(path) | attribute_type(path, :t)
//!            | begins_with(operand, operand) | contains(operand, operand)
//! operand   := path | :value | size(path)
//! path      := (name | #name) ('.' (name | #name) | '[' digits ']')*
//! update    := (SET set (',' set)* | REMOVE path (',' path)* | ADD path :v (',' …)*
//!             | DELETE path :v (',' …)*)+
//! set       := path '=' term (('+' | '-') term)?
//! term      := path | :value | if_not_exists(path, term) | list_append(term, term)
//! projection:= path (',' path)*
//! ```
//! Names that are DynamoDB reserved words must go through `#aliases`, as in DynamoDB. Every
//! failure is a ValidationException with DynamoDB's wording; nothing here panics, and
//! recursion is bounded ([`MAX_NESTING`]).
//!
//! Size: one language — tokens, the AST, the parser and the evaluator of DynamoDB's condition,
//! key-condition, update and projection expressions share the same types — so it stays one
//! file (about 1,290 lines, and its tests).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::value::{Item, Number, Value};
use super::Error;

/// The longest expression DynamoDB takes, in bytes.
pub const MAX_EXPRESSION: usize = 4096;

/// The deepest nesting of parentheses and function calls taken.
pub const MAX_NESTING: usize = 64;

/// The deepest document path taken.
pub const MAX_PATH_DEPTH: usize = 32;

static RESERVED: &str = include_str!("reserved_words.txt");

/// Whether `name` is a DynamoDB reserved word (case-insensitive).
pub fn is_reserved(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    RESERVED.lines().any(|w| w == up)
}

/// Which request parameter an expression came from (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl Kind {
    /// The parameter's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Condition => "ConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Projection => "ProjectionExpression",
            Kind::Update => "UpdateExpression",
        }
    }

    fn invalid(self, msg: impl fmt::Display) -> Error {
        Error::Validation(format!("Invalid {}: {msg}", self.name()))
    }
}

/// ExpressionAttributeNames and ExpressionAttributeValues, with what the expressions used.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub names: BTreeMap<String, String>,
    pub values: BTreeMap<String, Value>,
    pub used_names: BTreeSet<String>,
    pub used_values: BTreeSet<String>,
}

impl Params {
    /// DynamoDB's refusal of names or values that no expression used.
    pub fn check_unused(&self) -> Result<(), Error> {
        let unused = |all: Vec<&String>, used: &BTreeSet<String>| -> Vec<String> {
            all.into_iter()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect()
        };
        let n = unused(self.names.keys().collect(), &self.used_names);
        if !n.is_empty() {
            return Err(Error::Validation(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                n.join(", ")
            )));
        }
        let v = unused(self.values.keys().collect(), &self.used_values);
        if !v.is_empty() {
            return Err(Error::Validation(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                v.join(", ")
            )));
        }
        Ok(())
    }
}

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    Attr(String),
    Index(usize),
}

/// A document path: a top-level attribute, then map keys and list indexes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<Elem>);

impl Path {
    /// The top-level attribute name.
    pub fn top(&self) -> Option<&str> {
        match self.0.first() {
            Some(Elem::Attr(a)) => Some(a),
            _ => None,
        }
    }

    /// A path of one top-level attribute.
    pub fn attr(name: &str) -> Path {
        Path(vec![Elem::Attr(name.to_string())])
    }

    fn overlaps(&self, other: &Path) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0.get(..n) == other.0.get(..n)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| match e {
                Elem::Attr(a) => a.clone(),
                Elem::Index(i) => format!("[{i}]"),
            })
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// DynamoDB's refusal of two paths of which one contains the other.
pub fn check_overlaps(kind: Kind, paths: &[&Path]) -> Result<(), Error> {
    for (i, a) in paths.iter().enumerate() {
        for b in paths.iter().skip(i + 1) {
            if a.overlaps(b) {
                return Err(kind.invalid(format!(
                    "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                )));
            }
        }
    }
    Ok(())
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// An operand of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Path(Path),
    Value(Value),
    Size(Path),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(Operand, Cmp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Exists(Path),
    NotExists(Path),
    Type(Path, String),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

/// A term of an update's SET value.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Path(Path),
    Value(Value),
    IfNotExists(Path, Box<Term>),
    ListAppend(Box<Term>, Box<Term>),
}

/// The value of one SET action.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    Term(Term),
    Plus(Term, Term),
    Minus(Term, Term),
}

/// A parsed update expression.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, Value)>,
    pub delete: Vec<(Path, Value)>,
}

impl Update {
    /// Every path the update writes.
    pub fn paths(&self) -> Vec<&Path> {
        self.set
            .iter()
            .map(|(p, _)| p)
            .chain(self.remove.iter())
            .chain(self.add.iter().map(|(p, _)| p))
            .chain(self.delete.iter().map(|(p, _)| p))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident,
    Name,
    Val,
    Int,
    LParen,
    RParen,
    LBrack,
    RBrack,
    Comma,
    Dot,
    Op(Cmp),
    Plus,
    Minus,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(kind: Kind, src: &str) -> Result<Vec<Token>, Error> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while let Some(&c) = b.get(i) {
        let start = i;
        let single = |t: Tok| (t, start + 1);
        let (tok, end) = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'[' => single(Tok::LBrack),
            b']' => single(Tok::RBrack),
            b',' => single(Tok::Comma),
            b'.' => single(Tok::Dot),
            b'+' => single(Tok::Plus),
            b'-' => single(Tok::Minus),
            b'=' => single(Tok::Op(Cmp::Eq)),
            b'<' => match b.get(i + 1) {
                Some(b'>') => (Tok::Op(Cmp::Ne), i + 2),
                Some(b'=') => (Tok::Op(Cmp::Le), i + 2),
                _ => single(Tok::Op(Cmp::Lt)),
            },
            b'>' => match b.get(i + 1) {
                Some(b'=') => (Tok::Op(Cmp::Ge), i + 2),
                _ => single(Tok::Op(Cmp::Gt)),
            },
            b'#' | b':' => {
                let mut j = i + 1;
                while b.get(j).is_some_and(|c| word(*c)) {
                    j += 1;
                }
                if j == i + 1 {
                    return Err(syntax(kind, src, &out, start, j));
                }
                (if c == b'#' { Tok::Name } else { Tok::Val }, j)
            }
            c if c.is_ascii_digit() => {
                let mut j = i;
                while b.get(j).is_some_and(|c| c.is_ascii_digit()) {
                    j += 1;
                }
                (Tok::Int, j)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i;
                while b.get(j).is_some_and(|c| word(*c)) {
                    j += 1;
                }
                (Tok::Ident, j)
            }
            _ => {
                let len = src
                    .get(i..)
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                return Err(syntax(kind, src, &out, start, start + len));
            }
        };
        out.push(Token { tok, start, end });
        i = end;
    }
    Ok(out)
}

/// DynamoDB's syntax error: the offending token and the text around it.
fn syntax(kind: Kind, src: &str, before: &[Token], start: usize, end: usize) -> Error {
    let token = src.get(start..end).unwrap_or("<EOF>");
    let from = before.last().map_or(start, |t| t.start);
    let near = src.get(from..end).unwrap_or("");
    kind.invalid(format!(
        "Syntax error; token: \"{token}\", near: \"{near}\""
    ))
}

struct Parser<'a> {
    kind: Kind,
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    params: &'a mut Params,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(kind: Kind, src: &'a str, params: &'a mut Params) -> Result<Self, Error> {
        if src.len() > MAX_EXPRESSION {
            return Err(kind.invalid(format!(
                "Expression size has exceeded the maximum allowed size; expression size: {}",
                src.len()
            )));
        }
        let toks = lex(kind, src)?;
        if toks.is_empty() {
            return Err(kind.invalid("The expression can not be empty;"));
        }
        Ok(Parser {
            kind,
            src,
            toks,
            pos: 0,
            params,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.pos + 1).map(|t| &t.tok)
    }

    fn text(&self, pos: usize) -> &'a str {
        self.toks
            .get(pos)
            .and_then(|t| self.src.get(t.start..t.end))
            .unwrap_or("")
    }

    fn error_here(&self) -> Error {
        match self.toks.get(self.pos) {
            Some(t) => {
                let from = self
                    .pos
                    .checked_sub(1)
                    .and_then(|p| self.toks.get(p))
                    .map_or(t.start, |p| p.start);
                let to = self.toks.get(self.pos + 1).map_or(t.end, |n| n.end);
                self.kind.invalid(format!(
                    "Syntax error; token: \"{}\", near: \"{}\"",
                    self.text(self.pos),
                    self.src.get(from..to).unwrap_or("")
                ))
            }
            None => self.kind.invalid(format!(
                "Syntax error; token: \"<EOF>\", near: \"{}\"",
                self.toks
                    .last()
                    .and_then(|t| self.src.get(t.start..t.end))
                    .unwrap_or("")
            )),
        }
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok) -> Result<(), Error> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    fn keyword(&self, kw: &str) -> bool {
        self.peek() == Some(&Tok::Ident) && self.text(self.pos).eq_ignore_ascii_case(kw)
    }

    fn end(&self) -> Result<(), Error> {
        if self.pos < self.toks.len() {
            Err(self.error_here())
        } else {
            Ok(())
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.kind.invalid(format!(
                "The expression has too many levels of nesting; the most taken is {MAX_NESTING}"
            )));
        }
        Ok(())
    }

    fn name_elem(&mut self) -> Result<String, Error> {
        match self.peek() {
            Some(Tok::Ident) => {
                let name = self.text(self.pos).to_string();
                if is_reserved(&name) {
                    return Err(self.kind.invalid(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {name}"
                    )));
                }
                self.pos += 1;
                Ok(name)
            }
            Some(Tok::Name) => {
                let alias = self.text(self.pos).to_string();
                let Some(name) = self.params.names.get(&alias).cloned() else {
                    return Err(self.kind.invalid(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {alias}"
                    )));
                };
                self.params.used_names.insert(alias);
                self.pos += 1;
                Ok(name)
            }
            _ => Err(self.error_here()),
        }
    }

    fn path(&mut self) -> Result<Path, Error> {
        let mut elems = vec![Elem::Attr(self.name_elem()?)];
        loop {
            if self.eat(&Tok::Dot) {
                elems.push(Elem::Attr(self.name_elem()?));
            } else if self.eat(&Tok::LBrack) {
                if self.peek() != Some(&Tok::Int) {
                    return Err(self.error_here());
                }
                let Ok(i) = self.text(self.pos).parse::<u32>() else {
                    return Err(self.error_here());
                };
                self.pos += 1;
                self.expect(&Tok::RBrack)?;
                elems.push(Elem::Index(i as usize));
            } else {
                break;
            }
            if elems.len() > MAX_PATH_DEPTH {
                return Err(self.kind.invalid(format!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    elems.len()
                )));
            }
        }
        Ok(Path(elems))
    }

    fn value(&mut self) -> Result<Value, Error> {
        if self.peek() != Some(&Tok::Val) {
            return Err(self.error_here());
        }
        let alias = self.text(self.pos).to_string();
        let Some(v) = self.params.values.get(&alias).cloned() else {
            return Err(self.kind.invalid(format!(
                "An expression attribute value used in expression is not defined; attribute value: {alias}"
            )));
        };
        self.params.used_values.insert(alias);
        self.pos += 1;
        Ok(v)
    }

    // ---- conditions ----

    fn condition(&mut self) -> Result<Cond, Error> {
        let c = self.or()?;
        self.end()?;
        Ok(c)
    }

    fn or(&mut self) -> Result<Cond, Error> {
        let mut c = self.and()?;
        while self.keyword("OR") {
            self.pos += 1;
            let r = self.and()?;
            c = Cond::Or(Box::new(c), Box::new(r));
        }
        Ok(c)
    }

    fn and(&mut self) -> Result<Cond, Error> {
        let mut c = self.not()?;
        while self.keyword("AND") {
            self.pos += 1;
            let r = self.not()?;
            c = Cond::And(Box::new(c), Box::new(r));
        }
        Ok(c)
    }

    fn not(&mut self) -> Result<Cond, Error> {
        self.enter()?;
        let c = if self.keyword("NOT") {
            self.pos += 1;
            Cond::Not(Box::new(self.not()?))
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(c)
    }

    fn primary(&mut self) -> Result<Cond, Error> {
        if self.eat(&Tok::LParen) {
            let c = self.or()?;
            self.expect(&Tok::RParen)?;
            return Ok(c);
        }
        if self.peek() == Some(&Tok::Ident) && self.peek2() == Some(&Tok::LParen) {
            let f = self.text(self.pos).to_string();
            match f.as_str() {
                "attribute_exists"
                | "attribute_not_exists"
                | "attribute_type"
                | "begins_with"
                | "contains" => return self.function(&f),
                _ => {}
            }
        }
        let left = self.operand()?;
        match self.peek() {
            Some(Tok::Op(op)) => {
                let op = *op;
                self.pos += 1;
                let right = self.operand()?;
                if !matches!(op, Cmp::Eq | Cmp::Ne) {
                    self.check_ordered(op.symbol(), &[&left, &right])?;
                }
                Ok(Cond::Cmp(left, op, right))
            }
            _ if self.keyword("BETWEEN") => {
                self.pos += 1;
                let lo = self.operand()?;
                if !self.keyword("AND") {
                    return Err(self.error_here());
                }
                self.pos += 1;
                let hi = self.operand()?;
                self.check_ordered("BETWEEN", &[&left, &lo, &hi])?;
                if let (Operand::Value(a), Operand::Value(b)) = (&lo, &hi) {
                    if compare(a, b) == Some(std::cmp::Ordering::Greater) {
                        return Err(self.kind.invalid(format!(
                            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {}, upper bound operand: AttributeValue: {}",
                            brief(a),
                            brief(b)
                        )));
                    }
                }
                Ok(Cond::Between(left, lo, hi))
            }
            _ if self.keyword("IN") => {
                self.pos += 1;
                self.expect(&Tok::LParen)?;
                let mut list = vec![self.operand()?];
                while self.eat(&Tok::Comma) {
                    list.push(self.operand()?);
                }
                self.expect(&Tok::RParen)?;
                if list.len() > 100 {
                    return Err(self.kind.invalid(format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    )));
                }
                Ok(Cond::In(left, list))
            }
            _ => Err(self.error_here()),
        }
    }

    /// `<`, `BETWEEN`…: literal operands must be numbers, strings or binary.
    fn check_ordered(&self, op: &str, operands: &[&Operand]) -> Result<(), Error> {
        for o in operands {
            if let Operand::Value(v) = o {
                if !matches!(v, Value::S(_) | Value::N(_) | Value::B(_)) {
                    return Err(self.kind.invalid(format!(
                        "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
                        v.type_name()
                    )));
                }
            }
        }
        Ok(())
    }

    fn function(&mut self, f: &str) -> Result<Cond, Error> {
        self.pos += 2; // name and '('
        self.enter()?;
        let c = match f {
            "attribute_exists" => Cond::Exists(self.path()?),
            "attribute_not_exists" => Cond::NotExists(self.path()?),
            "attribute_type" => {
                let p = self.path()?;
                self.expect(&Tok::Comma)?;
                let t = self.value()?;
                let valid = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
                let name = match &t {
                    Value::S(s) if valid.contains(&s.as_str()) => s.clone(),
                    Value::S(s) => {
                        return Err(self.kind.invalid(format!(
                            "Invalid attribute type name found; type: {s}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                        )))
                    }
                    other => {
                        return Err(self.kind.invalid(format!(
                            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                            other.type_name()
                        )))
                    }
                };
                Cond::Type(p, name)
            }
            "begins_with" => {
                let a = self.operand()?;
                self.expect(&Tok::Comma)?;
                let b = self.operand()?;
                for o in [&a, &b] {
                    if let Operand::Value(v) = o {
                        if !matches!(v, Value::S(_) | Value::B(_)) {
                            return Err(self.kind.invalid(format!(
                                "Incorrect operand type for operator or function; operator or function: begins_with, operand type: {}",
                                v.type_name()
                            )));
                        }
                    }
                }
                Cond::BeginsWith(a, b)
            }
            _ => {
                let a = self.operand()?;
                self.expect(&Tok::Comma)?;
                Cond::Contains(a, self.operand()?)
            }
        };
        self.expect(&Tok::RParen)?;
        self.depth -= 1;
        Ok(c)
    }

    fn operand(&mut self) -> Result<Operand, Error> {
        match self.peek() {
            Some(Tok::Val) => Ok(Operand::Value(self.value()?)),
            Some(Tok::Ident) if self.peek2() == Some(&Tok::LParen) => {
                let f = self.text(self.pos).to_string();
                if f != "size" {
                    return Err(self.function_misuse(&f));
                }
                self.pos += 2;
                let p = self.path()?;
                self.expect(&Tok::RParen)?;
                Ok(Operand::Size(p))
            }
            Some(Tok::Ident | Tok::Name) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.error_here()),
        }
    }

    fn function_misuse(&self, f: &str) -> Error {
        const KNOWN: [&str; 8] = [
            "attribute_exists",
            "attribute_not_exists",
            "attribute_type",
            "begins_with",
            "contains",
            "size",
            "if_not_exists",
            "list_append",
        ];
        if KNOWN.contains(&f) {
            self.kind.invalid(format!(
                "The function is not allowed to be used this way in an expression; function: {f}"
            ))
        } else {
            self.kind
                .invalid(format!("Invalid function name; function: {f}"))
        }
    }

    // ---- updates ----

    fn update(&mut self) -> Result<Update, Error> {
        let mut u = Update::default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        while self.pos < self.toks.len() {
            if self.peek() != Some(&Tok::Ident) {
                return Err(self.error_here());
            }
            let clause = self.text(self.pos).to_ascii_uppercase();
            if !matches!(clause.as_str(), "SET" | "REMOVE" | "ADD" | "DELETE") {
                return Err(self.error_here());
            }
            if !seen.insert(clause.clone()) {
                return Err(self.kind.invalid(format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                )));
            }
            self.pos += 1;
            loop {
                match clause.as_str() {
                    "SET" => {
                        let p = self.path()?;
                        self.expect(&Tok::Op(Cmp::Eq))?;
                        let a = self.term()?;
                        let v = if self.eat(&Tok::Plus) {
                            SetValue::Plus(a, self.term()?)
                        } else if self.eat(&Tok::Minus) {
                            SetValue::Minus(a, self.term()?)
                        } else {
                            SetValue::Term(a)
                        };
                        if let SetValue::Plus(a, b) | SetValue::Minus(a, b) = &v {
                            for t in [a, b] {
                                if let Term::Value(x) = t {
                                    if !matches!(x, Value::N(_)) {
                                        return Err(self.kind.invalid(format!(
                                            "Incorrect operand type for operator or function; operator or function: {}, operand type: {}",
                                            if matches!(v, SetValue::Plus(..)) { "+" } else { "-" },
                                            x.type_name()
                                        )));
                                    }
                                }
                            }
                        }
                        u.set.push((p, v));
                    }
                    "REMOVE" => u.remove.push(self.path()?),
                    _ => {
                        let p = self.path()?;
                        let v = self.value()?;
                        let ok = if clause == "ADD" {
                            matches!(v, Value::N(_) | Value::Ss(_) | Value::Ns(_) | Value::Bs(_))
                        } else {
                            matches!(v, Value::Ss(_) | Value::Ns(_) | Value::Bs(_))
                        };
                        if !ok {
                            return Err(self.kind.invalid(format!(
                                "Incorrect operand type for operator or function; operator: {clause}, operand type: {}",
                                v.long_type_name()
                            )));
                        }
                        if clause == "ADD" {
                            u.add.push((p, v));
                        } else {
                            u.delete.push((p, v));
                        }
                    }
                }
                if !self.eat(&Tok::Comma) {
                    break;
                }
            }
        }
        Ok(u)
    }

    fn term(&mut self) -> Result<Term, Error> {
        match self.peek() {
            Some(Tok::Val) => Ok(Term::Value(self.value()?)),
            Some(Tok::Ident) if self.peek2() == Some(&Tok::LParen) => {
                let f = self.text(self.pos).to_string();
                if f != "if_not_exists" && f != "list_append" {
                    return Err(self.function_misuse(&f));
                }
                self.pos += 2;
                self.enter()?;
                let t = if f == "if_not_exists" {
                    let p = self.path()?;
                    self.expect(&Tok::Comma)?;
                    Term::IfNotExists(p, Box::new(self.term()?))
                } else {
                    let a = self.term()?;
                    self.expect(&Tok::Comma)?;
                    let b = self.term()?;
                    for t in [&a, &b] {
                        if let Term::Value(v) = t {
                            if !matches!(v, Value::L(_)) {
                                return Err(self.kind.invalid(format!(
                                    "Incorrect operand type for operator or function; operator or function: list_append, operand type: {}",
                                    v.type_name()
                                )));
                            }
                        }
                    }
                    Term::ListAppend(Box::new(a), Box::new(b))
                };
                self.expect(&Tok::RParen)?;
                self.depth -= 1;
                Ok(t)
            }
            Some(Tok::Ident | Tok::Name) => Ok(Term::Path(self.path()?)),
            _ => Err(self.error_here()),
        }
    }

    // ---- projections ----

    fn projection(&mut self) -> Result<Vec<Path>, Error> {
        let mut v = vec![self.path()?];
        while self.eat(&Tok::Comma) {
            v.push(self.path()?);
        }
        self.end()?;
        Ok(v)
    }
}

/// Parses a condition (ConditionExpression, FilterExpression or KeyConditionExpression).
pub fn parse_condition(kind: Kind, src: &str, params: &mut Params) -> Result<Cond, Error> {
    Parser::new(kind, src, params)?.condition()
}

/// Parses an UpdateExpression; paths that overlap are refused.
pub fn parse_update(src: &str, params: &mut Params) -> Result<Update, Error> {
    let u = Parser::new(Kind::Update, src, params)?.update()?;
    check_overlaps(Kind::Update, &u.paths())?;
    Ok(u)
}

/// Parses a ProjectionExpression; paths that overlap are refused.
pub fn parse_projection(src: &str, params: &mut Params) -> Result<Vec<Path>, Error> {
    let p = Parser::new(Kind::Projection, src, params)?.projection()?;
    check_overlaps(Kind::Projection, &p.iter().collect::<Vec<_>>())?;
    Ok(p)
}

/// `{N:5}`-style rendering used in DynamoDB's messages.
fn brief(v: &Value) -> String {
    let j = v.to_json();
    let s = j.to_string();
    s.replace('"', "")
}

// ---- evaluation ----

/// The value at `path` in `item`.
pub fn get<'a>(item: &'a Item, path: &Path) -> Option<&'a Value> {
    let mut it = path.0.iter();
    let mut cur = match it.next()? {
        Elem::Attr(a) => item.get(a)?,
        Elem::Index(_) => return None,
    };
    for e in it {
        cur = match (e, cur) {
            (Elem::Attr(a), Value::M(m)) => m.get(a)?,
            (Elem::Index(i), Value::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Compares two scalars of one type (numbers numerically, strings and binary bytewise).
pub fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::N(x), Value::N(y)) => Some(x.cmp(y)),
        (Value::S(x), Value::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::B(x), Value::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn size_of(v: &Value) -> Option<Value> {
    let n = match v {
        Value::S(s) => s.len(),
        Value::B(b) => b.len(),
        Value::Ss(s) => s.len(),
        Value::Ns(s) => s.len(),
        Value::Bs(s) => s.len(),
        Value::M(m) => m.len(),
        Value::L(l) => l.len(),
        _ => return None,
    };
    Some(Value::N(Number::from_u64(n as u64)))
}

fn resolve(item: &Item, o: &Operand) -> Option<Value> {
    match o {
        Operand::Path(p) => get(item, p).cloned(),
        Operand::Value(v) => Some(v.clone()),
        Operand::Size(p) => get(item, p).and_then(size_of),
    }
}

/// Whether `item` (empty when there is none) satisfies `c`.
pub fn eval(c: &Cond, item: &Item) -> bool {
    use std::cmp::Ordering::*;
    match c {
        Cond::Cmp(a, op, b) => {
            let (a, b) = (resolve(item, a), resolve(item, b));
            let (Some(a), Some(b)) = (a, b) else {
                return *op == Cmp::Ne;
            };
            match op {
                Cmp::Eq => a == b,
                Cmp::Ne => a != b,
                _ => match compare(&a, &b) {
                    Some(o) => match op {
                        Cmp::Lt => o == Less,
                        Cmp::Le => o != Greater,
                        Cmp::Gt => o == Greater,
                        _ => o != Less,
                    },
                    None => false,
                },
            }
        }
        Cond::Between(a, lo, hi) => {
            let (Some(a), Some(lo), Some(hi)) =
                (resolve(item, a), resolve(item, lo), resolve(item, hi))
            else {
                return false;
            };
            compare(&a, &lo).is_some_and(|o| o != Less)
                && compare(&a, &hi).is_some_and(|o| o != Greater)
        }
        Cond::In(a, list) => {
            let Some(a) = resolve(item, a) else {
                return false;
            };
            list.iter().any(|o| resolve(item, o).as_ref() == Some(&a))
        }
        Cond::And(a, b) => eval(a, item) && eval(b, item),
        Cond::Or(a, b) => eval(a, item) || eval(b, item),
        Cond::Not(a) => !eval(a, item),
        Cond::Exists(p) => get(item, p).is_some(),
        Cond::NotExists(p) => get(item, p).is_none(),
        Cond::Type(p, t) => get(item, p).is_some_and(|v| v.type_name() == t),
        Cond::BeginsWith(a, b) => match (resolve(item, a), resolve(item, b)) {
            (Some(Value::S(a)), Some(Value::S(b))) => a.starts_with(&b),
            (Some(Value::B(a)), Some(Value::B(b))) => a.starts_with(&b),
            _ => false,
        },
        Cond::Contains(a, b) => match (resolve(item, a), resolve(item, b)) {
            (Some(Value::S(a)), Some(Value::S(b))) => a.contains(&b),
            (Some(Value::Ss(a)), Some(Value::S(b))) => a.contains(&b),
            (Some(Value::Ns(a)), Some(Value::N(b))) => a.contains(&b),
            (Some(Value::Bs(a)), Some(Value::B(b))) => a.contains(&b),
            (Some(Value::L(a)), Some(b)) => a.contains(&b),
            _ => false,
        },
    }
}

/// Every top-level attribute a condition reads.
pub fn condition_attrs(c: &Cond, out: &mut BTreeSet<String>) {
    let op = |o: &Operand, out: &mut BTreeSet<String>| {
        if let Operand::Path(p) | Operand::Size(p) = o {
            if let Some(t) = p.top() {
                out.insert(t.to_string());
            }
        }
    };
    match c {
        Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
            op(a, out);
            op(b, out);
        }
        Cond::Between(a, b, d) => {
            op(a, out);
            op(b, out);
            op(d, out);
        }
        Cond::In(a, l) => {
            op(a, out);
            for x in l {
                op(x, out);
            }
        }
        Cond::And(a, b) | Cond::Or(a, b) => {
            condition_attrs(a, out);
            condition_attrs(b, out);
        }
        Cond::Not(a) => condition_attrs(a, out),
        Cond::Exists(p) | Cond::NotExists(p) | Cond::Type(p, _) => {
            if let Some(t) = p.top() {
                out.insert(t.to_string());
            }
        }
    }
}

/// The projection of `item` on `paths` (nested maps and lists keep only what is named;
/// projected list elements keep their order).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    enum Tree {
        Leaf(Value),
        Map(BTreeMap<String, Tree>),
        List(BTreeMap<usize, Tree>),
    }
    fn insert(tree: &mut Tree, rest: &[Elem], v: &Value) {
        let Some((first, rest)) = rest.split_first() else {
            *tree = Tree::Leaf(v.clone());
            return;
        };
        match first {
            Elem::Attr(a) => {
                if !matches!(tree, Tree::Map(_)) {
                    *tree = Tree::Map(BTreeMap::new());
                }
                if let Tree::Map(m) = tree {
                    let child = m.entry(a.clone()).or_insert(Tree::Map(BTreeMap::new()));
                    insert(child, rest, v);
                }
            }
            Elem::Index(i) => {
                if !matches!(tree, Tree::List(_)) {
                    *tree = Tree::List(BTreeMap::new());
                }
                if let Tree::List(l) = tree {
                    let child = l.entry(*i).or_insert(Tree::Map(BTreeMap::new()));
                    insert(child, rest, v);
                }
            }
        }
    }
    fn build(t: Tree) -> Value {
        match t {
            Tree::Leaf(v) => v,
            Tree::Map(m) => Value::M(m.into_iter().map(|(k, t)| (k, build(t))).collect()),
            Tree::List(l) => Value::L(l.into_values().map(build).collect()),
        }
    }
    let mut top = Tree::Map(BTreeMap::new());
    for p in paths {
        if let Some(v) = get(item, p) {
            insert(&mut top, &p.0, v);
        }
    }
    let Tree::Map(top) = top else {
        return Item::new();
    };
    top.into_iter().map(|(k, t)| (k, build(t))).collect()
}

fn invalid_for_update() -> Error {
    Error::Validation(
        "The document path provided in the update expression is invalid for update".into(),
    )
}

/// The container that holds the last element of `path`.
fn parent_mut<'a>(item: &'a mut Item, path: &Path) -> Result<Option<&'a mut Value>, Error> {
    let Some((_, init)) = path.0.split_last() else {
        return Err(invalid_for_update());
    };
    let mut it = init.iter();
    let Some(first) = it.next() else {
        return Ok(None); // top level
    };
    let Elem::Attr(a) = first else {
        return Err(invalid_for_update());
    };
    let mut cur = item.get_mut(a).ok_or_else(invalid_for_update)?;
    for e in it {
        cur = match (e, cur) {
            (Elem::Attr(a), Value::M(m)) => m.get_mut(a).ok_or_else(invalid_for_update)?,
            (Elem::Index(i), Value::L(l)) => l.get_mut(*i).ok_or_else(invalid_for_update)?,
            _ => return Err(invalid_for_update()),
        };
    }
    Ok(Some(cur))
}

/// Writes `v` at `path` (a list index past the end appends).
pub fn set_path(item: &mut Item, path: &Path, v: Value) -> Result<(), Error> {
    let last = path.0.last().ok_or_else(invalid_for_update)?;
    match (parent_mut(item, path)?, last) {
        (None, Elem::Attr(a)) => {
            item.insert(a.clone(), v);
        }
        (Some(Value::M(m)), Elem::Attr(a)) => {
            m.insert(a.clone(), v);
        }
        (Some(Value::L(l)), Elem::Index(i)) => match l.get_mut(*i) {
            Some(slot) => *slot = v,
            None => l.push(v),
        },
        _ => return Err(invalid_for_update()),
    }
    Ok(())
}

/// Removes what is at `path` (nothing there: nothing done).
pub fn remove_path(item: &mut Item, path: &Path) -> Result<(), Error> {
    let last = path.0.last().ok_or_else(invalid_for_update)?;
    match (parent_mut(item, path)?, last) {
        (None, Elem::Attr(a)) => {
            item.remove(a);
        }
        (Some(Value::M(m)), Elem::Attr(a)) => {
            m.remove(a);
        }
        (Some(Value::L(l)), Elem::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(invalid_for_update()),
    }
    Ok(())
}

fn missing_attr() -> Error {
    Error::Validation(
        "The provided expression refers to an attribute that does not exist in the item".into(),
    )
}

fn term_value(item: &Item, t: &Term) -> Result<Value, Error> {
    match t {
        Term::Value(v) => Ok(v.clone()),
        Term::Path(p) => get(item, p).cloned().ok_or_else(missing_attr),
        Term::IfNotExists(p, d) => match get(item, p) {
            Some(v) => Ok(v.clone()),
            None => term_value(item, d),
        },
        Term::ListAppend(a, b) => match (term_value(item, a)?, term_value(item, b)?) {
            (Value::L(mut a), Value::L(b)) => {
                a.extend(b);
                Ok(Value::L(a))
            }
            (Value::L(_), other) | (other, _) => Err(Kind::Update.invalid(format!(
                "Incorrect operand type for operator or function; operator or function: list_append, operand type: {}",
                other.type_name()
            ))),
        },
    }
}

fn operand_type_error(op: &str, v: &Value) -> Error {
    Kind::Update.invalid(format!(
        "Incorrect operand type for operator or function; operator or function: {op}, operand type: {}",
        v.type_name()
    ))
}

fn wrong_type() -> Error {
    Error::Validation("An operand in the update expression has an incorrect data type".into())
}

/// Applies `u` to `item`: SET values are computed on the item as it was, then SET, REMOVE
/// (list elements from the highest index down), ADD and DELETE are applied.
pub fn apply_update(item: &mut Item, u: &Update) -> Result<(), Error> {
    let old = item.clone();
    let mut sets = Vec::with_capacity(u.set.len());
    for (p, sv) in &u.set {
        let v = match sv {
            SetValue::Term(t) => term_value(&old, t)?,
            SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
                let plus = matches!(sv, SetValue::Plus(..));
                let sym = if plus { "+" } else { "-" };
                let (x, y) = (term_value(&old, a)?, term_value(&old, b)?);
                let (Value::N(x), Value::N(y)) = (&x, &y) else {
                    let bad = if matches!(x, Value::N(_)) { &y } else { &x };
                    return Err(operand_type_error(sym, bad));
                };
                let r = if plus { x.add(y) } else { x.sub(y) };
                r.check()?;
                Value::N(r)
            }
        };
        sets.push((p, v));
    }
    for (p, v) in sets {
        set_path(item, p, v)?;
    }
    let mut removes: Vec<&Path> = u.remove.iter().collect();
    removes.sort_by(|a, b| b.cmp(a));
    for p in removes {
        remove_path(item, p)?;
    }
    for (p, v) in &u.add {
        let new = match (get(item, p), v) {
            (None, v) => v.clone(),
            (Some(Value::N(a)), Value::N(b)) => {
                let r = a.add(b);
                r.check()?;
                Value::N(r)
            }
            (Some(Value::Ss(a)), Value::Ss(b)) => Value::Ss(a.union(b).cloned().collect()),
            (Some(Value::Ns(a)), Value::Ns(b)) => Value::Ns(a.union(b).cloned().collect()),
            (Some(Value::Bs(a)), Value::Bs(b)) => Value::Bs(a.union(b).cloned().collect()),
            _ => return Err(wrong_type()),
        };
        set_path(item, p, new)?;
    }
    for (p, v) in &u.delete {
        let new = match (get(item, p), v) {
            (None, _) => continue,
            (Some(Value::Ss(a)), Value::Ss(b)) => {
                let d: BTreeSet<_> = a.difference(b).cloned().collect();
                (!d.is_empty()).then_some(Value::Ss(d))
            }
            (Some(Value::Ns(a)), Value::Ns(b)) => {
                let d: BTreeSet<_> = a.difference(b).cloned().collect();
                (!d.is_empty()).then_some(Value::Ns(d))
            }
            (Some(Value::Bs(a)), Value::Bs(b)) => {
                let d: BTreeSet<_> = a.difference(b).cloned().collect();
                (!d.is_empty()).then_some(Value::Bs(d))
            }
            _ => return Err(wrong_type()),
        };
        match new {
            Some(v) => set_path(item, p, v)?,
            None => remove_path(item, p)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(names: &[(&str, &str)], values: &[(&str, Value)]) -> Params {
        Params {
            names: names
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            values: values
                .iter()
                .map(|(a, b)| (a.to_string(), b.clone()))
                .collect(),
            ..Params::default()
        }
    }

    fn s(x: &str) -> Value {
        Value::S(x.into())
    }

    fn n(x: &str) -> Value {
        Value::N(Number::parse(x).unwrap())
    }

    fn item(pairs: &[(&str, Value)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn cond(src: &str, p: &mut Params) -> Result<Cond, Error> {
        parse_condition(Kind::Condition, src, p)
    }

    #[test]
    fn conditions_evaluate_like_dynamodb() {
        let mut p = params(
            &[("#s", "status")],
            &[
                (":a", n("5")),
                (":b", n("10")),
                (":x", s("ab")),
                (":on", s("on")),
            ],
        );
        let it = item(&[
            ("pk", s("abc")),
            ("v", n("7")),
            ("status", s("on")),
            ("tags", Value::Ss(["x".into(), "y".into()].into())),
        ]);
        for (src, want) in [
            ("attribute_not_exists(pk)", false),
            ("attribute_exists(pk) AND v BETWEEN :a AND :b", true),
            ("v > :b OR #s = :on", true),
            ("NOT (v < :a)", true),
            ("begins_with(pk, :x)", true),
            ("contains(pk, :x)", true),
            ("size(pk) < :a", true),
            ("v IN (:a, :b)", false),
            ("absent <> :a", true),
            ("absent = :a", false),
            ("v <> :a and v >= :a", true),
        ] {
            let c = cond(src, &mut p).unwrap();
            assert_eq!(eval(&c, &it), want, "{src}");
        }
    }

    #[test]
    fn condition_errors_use_dynamodb_wording() {
        let mut p = params(&[], &[(":v", n("1")), (":m", Value::M(BTreeMap::new()))]);
        let e = |src: &str, p: &mut Params| cond(src, p).unwrap_err().to_string();
        assert_eq!(
            e("status = :v", &mut p),
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
        );
        assert_eq!(
            e("#x = :v", &mut p),
            "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #x"
        );
        assert_eq!(
            e("a = :nope", &mut p),
            "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"
        );
        assert_eq!(
            e("a = ", &mut p),
            "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"=\""
        );
        assert_eq!(
            e("a-b = :v", &mut p),
            "Invalid ConditionExpression: Syntax error; token: \"-\", near: \"a-b\""
        );
        assert_eq!(
            e("  ", &mut p),
            "Invalid ConditionExpression: The expression can not be empty;"
        );
        assert!(e("foo(a)", &mut p).contains("Invalid function name; function: foo"));
        assert!(e("a < :m", &mut p).contains("operand type: M"));
        assert!(e("begins_with(a, :v)", &mut p).contains("begins_with, operand type: N"));
        let deep = format!("{}a = :v{}", "(".repeat(100), ")".repeat(100));
        assert!(e(&deep, &mut p).contains("nesting"));
        assert!(e(&"a".repeat(5000), &mut p).contains("Expression size has exceeded"));
    }

    #[test]
    fn updates_apply_set_remove_add_delete() {
        let mut p = params(
            &[("#c", "count")],
            &[
                (":one", n("1")),
                (":l", Value::L(vec![s("z")])),
                (":t", Value::Ss(["b".into()].into())),
                (":zero", n("0")),
            ],
        );
        let u = parse_update(
            "SET #c = if_not_exists(#c, :zero) + :one, lst = list_append(lst, :l), m.deep = :one REMOVE gone, arr[0] ADD tags :t DELETE prev :t",
            &mut p,
        )
        .unwrap();
        let mut it = item(&[
            ("lst", Value::L(vec![s("a"), s("b")])),
            ("arr", Value::L(vec![s("x"), s("y")])),
            ("m", Value::M(BTreeMap::new())),
            ("gone", s("x")),
            ("prev", Value::Ss(["b".into()].into())),
        ]);
        apply_update(&mut it, &u).unwrap();
        assert_eq!(it.get("count"), Some(&n("1")));
        assert_eq!(it.get("lst"), Some(&Value::L(vec![s("a"), s("b"), s("z")])));
        assert_eq!(it.get("arr"), Some(&Value::L(vec![s("y")])));
        assert_eq!(
            it.get("m"),
            Some(&Value::M([("deep".to_string(), n("1"))].into()))
        );
        assert_eq!(it.get("gone"), None);
        assert_eq!(it.get("prev"), None, "an emptied set is removed");
        assert_eq!(it.get("tags"), Some(&Value::Ss(["b".into()].into())));
        p.check_unused().unwrap();
    }

    #[test]
    fn update_errors() {
        let mut p = params(&[], &[(":v", n("1")), (":s", s("x"))]);
        let e = |src: &str, p: &mut Params| parse_update(src, p).unwrap_err().to_string();
        assert!(e("SET a = :v, a.b = :v", &mut p).contains("Two document paths overlap"));
        assert!(
            e("SET a = :v SET b = :v", &mut p).contains("\"SET\" section can only be used once")
        );
        assert!(e("SET a = :s + :v", &mut p).contains("operator or function: +, operand type: S"));
        assert!(e("ADD a :s", &mut p).contains("operator: ADD, operand type: STRING"));
        let u = parse_update("SET a = b + :v", &mut p).unwrap();
        let err = apply_update(&mut Item::new(), &u).unwrap_err().to_string();
        assert!(err.contains("does not exist in the item"));
        let u = parse_update("SET a.b = :v", &mut p).unwrap();
        let err = apply_update(&mut Item::new(), &u).unwrap_err().to_string();
        assert!(err.contains("invalid for update"));
    }

    #[test]
    fn projections_keep_only_named_paths() {
        let mut p = params(&[("#n", "name")], &[]);
        let paths = parse_projection("a.b, l[1], #n, l[3]", &mut p).unwrap();
        let it = item(&[
            (
                "a",
                Value::M([("b".to_string(), n("1")), ("c".to_string(), n("2"))].into()),
            ),
            ("l", Value::L(vec![s("0"), s("1"), s("2"), s("3")])),
            ("name", s("x")),
            ("other", s("y")),
        ]);
        let out = project(&it, &paths);
        assert_eq!(
            out,
            item(&[
                ("a", Value::M([("b".to_string(), n("1"))].into())),
                ("l", Value::L(vec![s("1"), s("3")])),
                ("name", s("x")),
            ])
        );
        assert!(parse_projection("a, a.b", &mut p).is_err());
    }
}
