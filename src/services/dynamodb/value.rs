//! DynamoDB attribute values: the typed form of `{"S": "…"}`, `{"N": "…"}`, … and back.
//!
//! Numbers are exact decimals ([`Number`]): up to 38 significant digits, magnitude 1E-130 to
//! 9.99…E+125, compared numerically and written back in DynamoDB's canonical plain form
//! (`"1.50"` and `"15e-1"` are both `"1.5"`). Sets are kept sorted (DynamoDB gives no
//! order), so equality is set equality. Parsing never panics: every refusal is the
//! [`Error`] DynamoDB gives for it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use super::Error;

/// An item: top-level attribute names to values.
pub type Item = BTreeMap<String, Value>;

/// The deepest nesting of lists and maps DynamoDB stores.
pub const MAX_DEPTH: usize = 32;

/// An exact decimal number: `0.d₁d₂…dₙ × 10^exp`, no leading or trailing zero digits;
/// zero has no digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Number {
    /// Zero.
    pub fn zero() -> Self {
        Number {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Parses a DynamoDB number string (`-12.5`, `1e3`, `.5`, `+7`), checking precision and
    /// range as DynamoDB does.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Validation(format!(
                "The parameter cannot be converted to a numeric value: {s}"
            ))
        };
        let b = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if let Some(&c) = b.first() {
            if c == b'+' || c == b'-' {
                neg = c == b'-';
                i = 1;
            }
        }
        let mut mantissa: Vec<u8> = Vec::new();
        let mut point: Option<usize> = None;
        while let Some(&c) = b.get(i) {
            if c.is_ascii_digit() {
                mantissa.push(c - b'0');
            } else if c == b'.' && point.is_none() {
                point = Some(mantissa.len());
            } else {
                break;
            }
            i += 1;
        }
        if mantissa.is_empty() {
            return Err(bad());
        }
        let mut e: i64 = 0;
        if let Some(&c) = b.get(i) {
            if c != b'e' && c != b'E' {
                return Err(bad());
            }
            i += 1;
            let mut eneg = false;
            if let Some(&c) = b.get(i) {
                if c == b'+' || c == b'-' {
                    eneg = c == b'-';
                    i += 1;
                }
            }
            let start = i;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_digit() {
                    return Err(bad());
                }
                e = e.saturating_mul(10).saturating_add(i64::from(c - b'0'));
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
            if eneg {
                e = -e;
            }
        }
        // value = 0.mantissa × 10^(int_digits + e)
        let int_digits = point.unwrap_or(mantissa.len()) as i64;
        let n = Self::normalized(neg, mantissa, int_digits.saturating_add(e));
        n.check()?;
        Ok(n)
    }

    /// Builds `0.digits × 10^exp`, stripping zeros.
    fn normalized(neg: bool, mut digits: Vec<u8>, mut exp: i64) -> Self {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        exp = exp.saturating_sub(lead as i64);
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Self::zero();
        }
        Number { neg, digits, exp }
    }

    /// DynamoDB's limits: 38 significant digits, magnitude within 1E-130 ..= 9.99…E+125.
    pub fn check(&self) -> Result<(), Error> {
        if self.digits.is_empty() {
            return Ok(());
        }
        if self.digits.len() > 38 {
            return Err(Error::Validation(
                "Attempting to store more than 38 significant digits in a Number".into(),
            ));
        }
        if self.exp > 126 {
            return Err(Error::Validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range".into(),
            ));
        }
        if self.exp < -129 {
            return Err(Error::Validation(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range".into(),
            ));
        }
        Ok(())
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Count of significant digits (for item size).
    pub fn significant_digits(&self) -> usize {
        self.digits.len()
    }

    /// A small integer (sizes, counts).
    pub fn from_u64(v: u64) -> Self {
        let s = v.to_string();
        let digits: Vec<u8> = s.bytes().map(|c| c - b'0').collect();
        let len = digits.len() as i64;
        Self::normalized(false, digits, len)
    }

    /// The canonical plain form DynamoDB returns (`1.5`, `-0.001`, `100`).
    pub fn to_canonical(&self) -> String {
        if self.digits.is_empty() {
            return "0".into();
        }
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        let n = self.digits.len() as i64;
        let d = |x: &u8| char::from(b'0' + x);
        if self.exp <= 0 {
            s.push_str("0.");
            for _ in 0..(-self.exp) {
                s.push('0');
            }
            s.extend(self.digits.iter().map(d));
        } else if self.exp >= n {
            s.extend(self.digits.iter().map(d));
            for _ in 0..(self.exp - n) {
                s.push('0');
            }
        } else {
            let (int, frac) = self.digits.split_at(self.exp as usize);
            s.extend(int.iter().map(d));
            s.push('.');
            s.extend(frac.iter().map(d));
        }
        s
    }

    /// The digits as an integer at scale `scale` (value = int × 10^scale), most significant
    /// first; `scale` must not exceed the number's own least scale.
    fn scaled(&self, scale: i64) -> Vec<u8> {
        let own = self.exp - self.digits.len() as i64;
        let mut v = self.digits.clone();
        v.extend(std::iter::repeat_n(0, (own - scale).max(0) as usize));
        v
    }

    /// Exact sum (checked against DynamoDB's limits by the caller).
    pub fn add(&self, other: &Number) -> Number {
        if self.is_zero() {
            return other.clone();
        }
        if other.is_zero() {
            return self.clone();
        }
        let scale =
            (self.exp - self.digits.len() as i64).min(other.exp - other.digits.len() as i64);
        let (a, b) = (self.scaled(scale), other.scaled(scale));
        let (neg, digits) = if self.neg == other.neg {
            (self.neg, add_mag(&a, &b))
        } else {
            match cmp_mag(&a, &b) {
                Ordering::Equal => return Number::zero(),
                Ordering::Greater => (self.neg, sub_mag(&a, &b)),
                Ordering::Less => (other.neg, sub_mag(&b, &a)),
            }
        };
        let len = digits.len() as i64;
        Self::normalized(neg, digits, scale + len)
    }

    /// Exact difference.
    pub fn sub(&self, other: &Number) -> Number {
        let mut o = other.clone();
        if !o.is_zero() {
            o.neg = !o.neg;
        }
        self.add(&o)
    }
}

/// Compares magnitudes of two digit strings (no leading zeros assumed absent: compares by
/// length after stripping them).
fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |x: &[u8]| -> Vec<u8> { x.iter().copied().skip_while(|d| *d == 0).collect() };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut ia, mut ib) = (a.iter().rev(), b.iter().rev());
    let mut carry = 0u8;
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        let s = x.copied().unwrap_or(0) + y.copied().unwrap_or(0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut ib = b.iter().rev();
    let mut borrow = 0i8;
    for x in a.iter().rev() {
        let mut d = *x as i8 - ib.next().copied().unwrap_or(0) as i8 - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
    }
    out.reverse();
    out
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |n: &Number| -> i8 {
            if n.digits.is_empty() {
                0
            } else if n.neg {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let mag = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if sa < 0 {
            mag.reverse()
        } else {
            mag
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `S`: a UTF-8 string.
    S(String),
    /// `N`: a number, exact (up to 38 significant digits).
    N(Number),
    /// `B`: binary (base64 on the wire).
    B(Vec<u8>),
    /// `BOOL`.
    Bool(bool),
    /// `NULL`.
    Null,
    /// `M`: a map of attribute names to values.
    M(BTreeMap<String, Value>),
    /// `L`: a list of values.
    L(Vec<Value>),
    /// `SS`: a set of strings.
    Ss(BTreeSet<String>),
    /// `NS`: a set of numbers.
    Ns(BTreeSet<Number>),
    /// `BS`: a set of binary values.
    Bs(BTreeSet<Vec<u8>>),
}

/// The three key (scalar) types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScalarType {
    /// `S`: a string key.
    S,
    /// `N`: a number key.
    N,
    /// `B`: a binary key.
    B,
}

impl ScalarType {
    /// `S`, `N` or `B`.
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }

    /// Parses `S`, `N` or `B`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "S" => Some(ScalarType::S),
            "N" => Some(ScalarType::N),
            "B" => Some(ScalarType::B),
            _ => None,
        }
    }
}

/// A key attribute's value, ordered as DynamoDB orders sort keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyVal {
    /// Strings by their UTF-8 bytes.
    S(String),
    /// Numbers numerically.
    N(Number),
    /// Binary by unsigned bytes.
    B(Vec<u8>),
}

impl KeyVal {
    /// The key value of `v`, if it is a scalar.
    pub fn of(v: &Value) -> Option<KeyVal> {
        match v {
            Value::S(s) => Some(KeyVal::S(s.clone())),
            Value::N(n) => Some(KeyVal::N(n.clone())),
            Value::B(b) => Some(KeyVal::B(b.clone())),
            _ => None,
        }
    }

    /// Back to a value.
    pub fn to_value(&self) -> Value {
        match self {
            KeyVal::S(s) => Value::S(s.clone()),
            KeyVal::N(n) => Value::N(n.clone()),
            KeyVal::B(b) => Value::B(b.clone()),
        }
    }

    /// Its type.
    pub fn scalar_type(&self) -> ScalarType {
        match self {
            KeyVal::S(_) => ScalarType::S,
            KeyVal::N(_) => ScalarType::N,
            KeyVal::B(_) => ScalarType::B,
        }
    }

    /// Bytes for hashing (scan segments).
    pub fn hash_bytes(&self) -> Vec<u8> {
        match self {
            KeyVal::S(s) => s.as_bytes().to_vec(),
            KeyVal::N(n) => n.to_canonical().into_bytes(),
            KeyVal::B(b) => b.clone(),
        }
    }
}

impl Value {
    /// The type's name as DynamoDB writes it (`S`, `SS`, `BOOL`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::S(_) => "S",
            Value::N(_) => "N",
            Value::B(_) => "B",
            Value::Bool(_) => "BOOL",
            Value::Null => "NULL",
            Value::M(_) => "M",
            Value::L(_) => "L",
            Value::Ss(_) => "SS",
            Value::Ns(_) => "NS",
            Value::Bs(_) => "BS",
        }
    }

    /// The type's long name, as DynamoDB writes it in operand type errors.
    pub fn long_type_name(&self) -> &'static str {
        match self {
            Value::S(_) => "STRING",
            Value::N(_) => "NUMBER",
            Value::B(_) => "BINARY",
            Value::Bool(_) => "BOOLEAN",
            Value::Null => "NULL",
            Value::M(_) => "MAP",
            Value::L(_) => "LIST",
            Value::Ss(_) => "STRING_SET",
            Value::Ns(_) => "NUMBER_SET",
            Value::Bs(_) => "BINARY_SET",
        }
    }

    /// DynamoDB's size of the value in bytes (for the 400 KB item limit and capacity).
    pub fn size(&self) -> usize {
        match self {
            Value::S(s) => s.len(),
            Value::N(n) => n.significant_digits().div_ceil(2) + 1,
            Value::B(b) => b.len(),
            Value::Bool(_) | Value::Null => 1,
            Value::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            Value::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            Value::Ss(s) => s.iter().map(String::len).sum(),
            Value::Ns(s) => s
                .iter()
                .map(|n| n.significant_digits().div_ceil(2) + 1)
                .sum(),
            Value::Bs(s) => s.iter().map(Vec::len).sum(),
        }
    }

    /// The DynamoDB JSON form.
    pub fn to_json(&self) -> Json {
        let b64 = |b: &[u8]| Json::String(base64::engine::general_purpose::STANDARD.encode(b));
        let (k, v) = match self {
            Value::S(s) => ("S", Json::String(s.clone())),
            Value::N(n) => ("N", Json::String(n.to_canonical())),
            Value::B(b) => ("B", b64(b)),
            Value::Bool(b) => ("BOOL", Json::Bool(*b)),
            Value::Null => ("NULL", Json::Bool(true)),
            Value::M(m) => ("M", item_to_json(m)),
            Value::L(l) => ("L", Json::Array(l.iter().map(Value::to_json).collect())),
            Value::Ss(s) => (
                "SS",
                Json::Array(s.iter().map(|x| Json::String(x.clone())).collect()),
            ),
            Value::Ns(s) => (
                "NS",
                Json::Array(s.iter().map(|x| Json::String(x.to_canonical())).collect()),
            ),
            Value::Bs(s) => ("BS", Json::Array(s.iter().map(|x| b64(x)).collect())),
        };
        let mut o = Map::new();
        o.insert(k.into(), v);
        Json::Object(o)
    }

    /// Parses the DynamoDB JSON form of one value.
    pub fn from_json(j: &Json) -> Result<Value, Error> {
        Self::from_json_at(j, 0)
    }

    fn from_json_at(j: &Json, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Validation(
                "Nesting Levels have exceeded supported limits".into(),
            ));
        }
        let o = match j {
            Json::Object(o) => o,
            other => return Err(not_expected(other, "structure")),
        };
        const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];
        let mut set = o
            .iter()
            .filter(|(k, v)| TYPES.contains(&k.as_str()) && !v.is_null());
        let Some((k, v)) = set.next() else {
            return Err(Error::Validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes".into(),
            ));
        };
        if set.next().is_some() {
            return Err(Error::Validation(
                "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes".into(),
            ));
        }
        let list = |v: &Json| -> Result<Vec<Json>, Error> {
            match v {
                Json::Array(a) => Ok(a.clone()),
                other => Err(not_expected(other, "list")),
            }
        };
        let invalid =
            |m: &str| Error::Validation(format!("One or more parameter values were invalid: {m}"));
        Ok(match k.as_str() {
            "S" => Value::S(json_str(v)?.to_string()),
            "N" => Value::N(Number::parse(json_str(v)?)?),
            "B" => Value::B(decode_b64(json_str(v)?)?),
            "BOOL" => Value::Bool(json_bool(v)?),
            "NULL" => {
                if !json_bool(v)? {
                    return Err(invalid(
                        "Null attribute value types must have the value of true",
                    ));
                }
                Value::Null
            }
            "M" => {
                let Json::Object(m) = v else {
                    return Err(not_expected(v, "map"));
                };
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    out.insert(k.clone(), Self::from_json_at(v, depth + 1)?);
                }
                Value::M(out)
            }
            "L" => Value::L(
                list(v)?
                    .iter()
                    .map(|x| Self::from_json_at(x, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            "SS" => {
                let raw = list(v)?
                    .iter()
                    .map(|x| json_str(x).map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()?;
                if raw.is_empty() {
                    return Err(invalid("An string set  may not be empty"));
                }
                let set: BTreeSet<String> = raw.iter().cloned().collect();
                if set.len() != raw.len() {
                    return Err(invalid(&format!(
                        "Input collection [{}] contains duplicates.",
                        raw.join(", ")
                    )));
                }
                Value::Ss(set)
            }
            "NS" => {
                let raw = list(v)?
                    .iter()
                    .map(|x| json_str(x).map(str::to_string))
                    .collect::<Result<Vec<_>, _>>()?;
                if raw.is_empty() {
                    return Err(invalid("An number set  may not be empty"));
                }
                let set = raw
                    .iter()
                    .map(|s| Number::parse(s))
                    .collect::<Result<BTreeSet<_>, _>>()?;
                if set.len() != raw.len() {
                    return Err(invalid(&format!(
                        "Input collection [{}] contains duplicates.",
                        raw.join(", ")
                    )));
                }
                Value::Ns(set)
            }
            _ => {
                let raw = list(v)?
                    .iter()
                    .map(|x| json_str(x).and_then(decode_b64))
                    .collect::<Result<Vec<_>, _>>()?;
                if raw.is_empty() {
                    return Err(invalid("Binary sets should not be empty"));
                }
                let set: BTreeSet<Vec<u8>> = raw.iter().cloned().collect();
                if set.len() != raw.len() {
                    return Err(invalid("Input collection contains duplicates."));
                }
                Value::Bs(set)
            }
        })
    }
}

/// The JSON form of an item (or map).
pub fn item_to_json(item: &BTreeMap<String, Value>) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Parses an item (a JSON object of attribute values).
pub fn item_from_json(j: &Json) -> Result<Item, Error> {
    let Json::Object(o) = j else {
        return Err(not_expected(j, "map"));
    };
    let mut out = Item::new();
    for (k, v) in o {
        out.insert(k.clone(), Value::from_json(v)?);
    }
    Ok(out)
}

/// An item's size in bytes: names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Coral's message for a JSON value of the wrong kind.
pub fn not_expected(j: &Json, wanted: &str) -> Error {
    let found = match j {
        Json::Null => "Null",
        Json::Bool(_) => "Boolean",
        Json::Number(_) => "Number",
        Json::String(_) => "String",
        Json::Array(_) => "Start of list",
        Json::Object(_) => "Start of structure or map",
    };
    Error::Serialization(format!(
        "{found} found where not expected (expected a {wanted})"
    ))
}

/// A JSON string, or coral's SerializationException.
pub fn json_str(j: &Json) -> Result<&str, Error> {
    match j {
        Json::String(s) => Ok(s),
        Json::Number(_) => Err(Error::Serialization(
            "NUMBER_VALUE cannot be converted to String".into(),
        )),
        Json::Bool(_) => Err(Error::Serialization(
            "TRUE_VALUE cannot be converted to String".into(),
        )),
        other => Err(not_expected(other, "string")),
    }
}

/// A JSON boolean, or coral's SerializationException.
pub fn json_bool(j: &Json) -> Result<bool, Error> {
    match j {
        Json::Bool(b) => Ok(*b),
        Json::String(_) => Err(Error::Serialization(
            "VALUE_STRING cannot be converted to Boolean".into(),
        )),
        other => Err(not_expected(other, "boolean")),
    }
}

fn decode_b64(s: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| {
            Error::Serialization(format!(
                "Base64 encoded length is expected a multiple of 4 bytes but found: {}",
                s.len()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn numbers_are_canonical_and_ordered_numerically() {
        for (raw, canon) in [
            ("1.50", "1.5"),
            ("15e-1", "1.5"),
            ("0100", "100"),
            ("1E2", "100"),
            ("-0.0010", "-0.001"),
            ("-0", "0"),
            (".5", "0.5"),
            ("+7", "7"),
            ("5.", "5"),
            ("123.456", "123.456"),
        ] {
            assert_eq!(n(raw).to_canonical(), canon, "{raw}");
        }
        let mut v: Vec<Number> = ["10", "9", "-1", "-10", "0", "2.5", "1e-5", "-0.5"]
            .iter()
            .map(|s| n(s))
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(Number::to_canonical).collect();
        assert_eq!(s, ["-10", "-1", "-0.5", "0", "0.00001", "2.5", "9", "10"]);
        assert_eq!(n("1.0"), n("1"));
    }

    #[test]
    fn numbers_refused_as_dynamodb_refuses_them() {
        for bad in [
            "", "abc", "1e", "--1", "1.2.3", "1e+", "0x10", " 1", "NaN", "Infinity",
        ] {
            let e = Number::parse(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("The parameter cannot be converted to a numeric value: {bad}")
            );
        }
        assert!(Number::parse(&"1".repeat(39))
            .unwrap_err()
            .to_string()
            .contains("38 significant"));
        assert!(Number::parse("1e126")
            .unwrap_err()
            .to_string()
            .contains("overflow"));
        assert!(Number::parse("9.9e125").is_ok());
        assert!(Number::parse("1e-130").is_ok());
        assert!(Number::parse("1e-131")
            .unwrap_err()
            .to_string()
            .contains("underflow"));
        assert!(Number::parse("0e999999999999999999999").is_ok());
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(n("0.1").add(&n("0.2")).to_canonical(), "0.3");
        assert_eq!(n("5").sub(&n("7.5")).to_canonical(), "-2.5");
        assert_eq!(n("-5").add(&n("5")).to_canonical(), "0");
        assert_eq!(n("999").add(&n("1")).to_canonical(), "1000");
        assert_eq!(
            n("1e20").add(&n("-1")).to_canonical(),
            "99999999999999999999"
        );
        assert!(n("1e30").add(&n("1e-30")).check().is_err());
    }

    #[test]
    fn values_round_trip_through_json() {
        let j: Json = serde_json::json!({"M": {"a": {"L": [{"N": "1.50"}, {"NULL": true}, {"BOOL": false}]},
            "s": {"SS": ["b", "a"]}, "n": {"NS": ["2", "10"]}, "b": {"B": "aGk="}, "bs": {"BS": ["AA=="]}}});
        let v = Value::from_json(&j).unwrap();
        let back = v.to_json();
        assert_eq!(
            back,
            serde_json::json!({"M": {"a": {"L": [{"N": "1.5"}, {"NULL": true}, {"BOOL": false}]},
                "b": {"B": "aGk="}, "bs": {"BS": ["AA=="]}, "n": {"NS": ["2", "10"]}, "s": {"SS": ["a", "b"]}}})
        );
    }

    #[test]
    fn bad_values_are_refused() {
        let e = |j: Json| Value::from_json(&j).unwrap_err();
        assert!(matches!(e(serde_json::json!({})), Error::Validation(m) if m.contains("is empty")));
        assert!(
            matches!(e(serde_json::json!({"S": "a", "N": "1"})), Error::Validation(m) if m.contains("more than one"))
        );
        assert!(matches!(
            e(serde_json::json!({"S": 1})),
            Error::Serialization(_)
        ));
        assert!(
            matches!(e(serde_json::json!({"SS": []})), Error::Validation(m) if m.contains("may not be empty"))
        );
        assert!(
            matches!(e(serde_json::json!({"SS": ["a", "a"]})), Error::Validation(m) if m.contains("duplicates"))
        );
        assert!(
            matches!(e(serde_json::json!({"NS": ["1", "1.0"]})), Error::Validation(m) if m.contains("duplicates"))
        );
        assert!(matches!(
            e(serde_json::json!({"NULL": false})),
            Error::Validation(_)
        ));
        assert!(matches!(
            e(serde_json::json!({"B": "!!"})),
            Error::Serialization(_)
        ));
        let mut deep = serde_json::json!({"S": "x"});
        for _ in 0..40 {
            deep = serde_json::json!({"L": [deep]});
        }
        assert!(matches!(e(deep), Error::Validation(m) if m.contains("Nesting")));
    }
}
