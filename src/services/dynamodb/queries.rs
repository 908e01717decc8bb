//! DynamoDB's reads of many items: Query (partition key `=` plus one sort-key condition)
//! and Scan (with parallel-scan segments), with filters, projections, Limit and
//! ExclusiveStartKey/LastEvaluatedKey pagination.
//!
//! Contract: a page reads at most `Limit` items and [`MAX_PAGE`] bytes, in key order, as
//! DynamoDB pages them; filters apply after the read, as DynamoDB's do.

use super::*;

impl DynamoDb {
    pub(super) fn query(&self, p: &Fields<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["KeyConditions", "QueryFilter", "ConditionalOperator"])?;
        let opts = ReadOpts::parse(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let kce = p.str("KeyConditionExpression")?.ok_or_else(|| {
            Error::Validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.".into())
        })?;
        let kc = expr::parse_condition(Kind::KeyCondition, kce, &mut params)?;
        let filter = parse_cond(p, "FilterExpression", Kind::Filter, &mut params)?;
        let proj = projection(p, &mut params)?;
        check_params(&params, (had_n, had_v), true)?;
        opts.check_select(proj.is_some())?;
        let t = self.table(&name)?;
        if let Some(index) = p.str("IndexName")? {
            return Err(Error::Validation(format!(
                "The table does not have the specified index: {index}"
            )));
        }
        let (pk, sk) = key_conditions(t, &kc)?;
        if let Some(f) = &filter {
            let mut attrs = BTreeSet::new();
            expr::condition_attrs(f, &mut attrs);
            if let Some(k) = attrs.iter().find(|a| t.is_key(a)) {
                return Err(Error::Validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
        }
        let forward = p.bool("ScanIndexForward")?.unwrap_or(true);
        let (mut lo, mut hi) = (Bound::Included(Sk::None), Bound::Included(Sk::Max));
        let mut prefix: Option<KeyVal> = None;
        match sk {
            None => {}
            Some(SkCond::Cmp(op, v)) => {
                let v = Sk::Val(v);
                match op {
                    Cmp::Eq => {
                        lo = Bound::Included(v.clone());
                        hi = Bound::Included(v);
                    }
                    Cmp::Lt => hi = Bound::Excluded(v),
                    Cmp::Le => hi = Bound::Included(v),
                    Cmp::Gt => lo = Bound::Excluded(v),
                    _ => lo = Bound::Included(v),
                }
            }
            Some(SkCond::Between(a, b)) => {
                lo = Bound::Included(Sk::Val(a));
                hi = Bound::Included(Sk::Val(b));
            }
            Some(SkCond::BeginsWith(v)) => {
                lo = Bound::Included(Sk::Val(v.clone()));
                prefix = Some(v);
            }
        }
        if let Some(esk) = &opts.start {
            let k = t.key_from_request(esk).map_err(|_| {
                Error::Validation("The provided starting key is invalid: The provided key element does not match the schema".into())
            })?;
            if k.0 != pk {
                return Err(Error::Validation(
                    "The provided starting key is outside query boundaries based on provided conditions".into(),
                ));
            }
            if forward {
                lo = max_lower(lo, Bound::Excluded(k.1));
            } else {
                hi = min_upper(hi, Bound::Excluded(k.1));
            }
        }
        let range = partition_range(&t.items, &pk, lo, hi);
        let iter: Box<dyn Iterator<Item = (&Key, &Item)>> = if forward {
            Box::new(range.take_while(move |(k, _)| has_prefix(prefix.as_ref(), k)))
        } else {
            let p2 = prefix.clone();
            Box::new(
                range
                    .rev()
                    .skip_while(move |(k, _)| !has_prefix(prefix.as_ref(), k))
                    .take_while(move |(k, _)| has_prefix(p2.as_ref(), k)),
            )
        };
        Ok(page(t, iter, &opts, filter.as_ref(), proj.as_deref()))
    }

    pub(super) fn scan(&self, p: &Fields<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["ScanFilter", "ConditionalOperator"])?;
        let opts = ReadOpts::parse(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let filter = parse_cond(p, "FilterExpression", Kind::Filter, &mut params)?;
        let proj = projection(p, &mut params)?;
        let used_expr = filter.is_some() || p.get("ProjectionExpression").is_some();
        check_params(&params, (had_n, had_v), used_expr)?;
        opts.check_select(proj.is_some())?;
        let segment = p.int("Segment")?;
        let total = p.int("TotalSegments")?;
        let seg = match (segment, total) {
            (None, None) => None,
            (Some(_), None) => return Err(Error::Validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present".into())),
            (None, Some(_)) => return Err(Error::Validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present".into())),
            (Some(s), Some(n)) => {
                if !(1..=1_000_000).contains(&n) {
                    return Err(constraints(vec![format!("Value '{n}' at 'totalSegments' failed to satisfy constraint: Member must have value {}", if n < 1 { "greater than or equal to 1" } else { "less than or equal to 1000000" })]));
                }
                if s < 0 {
                    return Err(constraints(vec![format!("Value '{s}' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0")]));
                }
                if s >= n {
                    return Err(Error::Validation(format!("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {n}")));
                }
                Some((s as u64, n as u64))
            }
        };
        let t = self.table(&name)?;
        if let Some(index) = p.str("IndexName")? {
            return Err(Error::Validation(format!(
                "The table does not have the specified index: {index}"
            )));
        }
        let lo = match &opts.start {
            Some(esk) => Bound::Excluded(t.key_from_request(esk).map_err(|_| {
                Error::Validation("The provided starting key is invalid: The provided key element does not match the schema".into())
            })?),
            None => Bound::Unbounded,
        };
        let iter = t
            .items
            .range((lo, Bound::Unbounded))
            .filter(move |(k, _)| seg.is_none_or(|(s, n)| fnv(&k.0.hash_bytes()) % n == s));
        Ok(page(
            t,
            Box::new(iter),
            &opts,
            filter.as_ref(),
            proj.as_deref(),
        ))
    }
}

/// The options Query and Scan share.
struct ReadOpts {
    limit: Option<usize>,
    start: Option<Item>,
    select: String,
    consistent: bool,
    capacity: Option<bool>,
}

impl ReadOpts {
    pub(super) fn parse(p: &Fields<'_>) -> Result<Self, Error> {
        let limit = match p.int("Limit")? {
            Some(l) if l < 1 => {
                return Err(constraints(vec![format!(
                    "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )]))
            }
            Some(l) => Some(usize::try_from(l).unwrap_or(usize::MAX)),
            None => None,
        };
        let select = p.str("Select")?.unwrap_or("").to_string();
        if !matches!(
            select.as_str(),
            "" | "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" | "SPECIFIC_ATTRIBUTES" | "COUNT"
        ) {
            return Err(constraints(vec![format!(
                "Value '{select}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )]));
        }
        Ok(ReadOpts {
            limit,
            start: p.item("ExclusiveStartKey")?,
            select,
            consistent: p.bool("ConsistentRead")?.unwrap_or(false),
            capacity: consumed_asked(p)?,
        })
    }

    pub(super) fn check_select(&self, projected: bool) -> Result<(), Error> {
        match (self.select.as_str(), projected) {
            ("ALL_PROJECTED_ATTRIBUTES", _) => Err(Error::Validation(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName".into(),
            )),
            ("ALL_ATTRIBUTES", true) => Err(Error::Validation(
                "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"
                    .into(),
            )),
            ("COUNT", true) => Err(Error::Validation(
                "Cannot specify the ProjectionExpression when choosing to get only the COUNT"
                    .into(),
            )),
            ("SPECIFIC_ATTRIBUTES", false) => Err(Error::Validation(
                "SPECIFIC_ATTRIBUTES requires a ProjectionExpression or AttributesToGet".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Reads one page of a Query or Scan: stops at Limit items evaluated or 1 MB read, and
/// then says where to go on (LastEvaluatedKey).
fn page<'a>(
    t: &Table,
    iter: Box<dyn Iterator<Item = (&'a Key, &'a Item)> + 'a>,
    opts: &ReadOpts,
    filter: Option<&Cond>,
    proj: Option<&[Path]>,
) -> Json {
    let mut items = Vec::new();
    let (mut count, mut scanned, mut bytes) = (0usize, 0usize, 0usize);
    let mut last: Option<&Key> = None;
    let mut stopped = false;
    for (k, item) in iter {
        scanned += 1;
        bytes += item_size(item);
        last = Some(k);
        if filter.is_none_or(|f| expr::eval(f, item)) {
            count += 1;
            if opts.select != "COUNT" {
                let shown = match proj {
                    Some(paths) => expr::project(item, paths),
                    None => item.clone(),
                };
                items.push(item_to_json(&shown));
            }
        }
        if opts.limit.is_some_and(|l| scanned >= l) || bytes >= MAX_PAGE {
            stopped = true;
            break;
        }
    }
    let mut out = Map::new();
    if opts.select != "COUNT" {
        out.insert("Items".into(), Json::Array(items));
    }
    out.insert("Count".into(), json!(count));
    out.insert("ScannedCount".into(), json!(scanned));
    if let (true, Some(k)) = (stopped, last) {
        out.insert("LastEvaluatedKey".into(), item_to_json(&t.key_item(k)));
    }
    if let Some(ix) = opts.capacity {
        out.insert(
            "ConsumedCapacity".into(),
            capacity_json(&t.name, read_units(bytes, opts.consistent), ix),
        );
    }
    Json::Object(out)
}

/// The partition key value and the sort-key condition of a KeyConditionExpression.
fn key_conditions(t: &Table, kc: &Cond) -> Result<(KeyVal, Option<SkCond>), Error> {
    fn leaves<'c>(c: &'c Cond, out: &mut Vec<&'c Cond>) {
        if let Cond::And(a, b) = c {
            leaves(a, out);
            leaves(b, out);
        } else {
            out.push(c);
        }
    }
    let unsupported = || Error::Validation("Query key condition not supported".into());
    let bad_op = |op: &str| {
        Error::Validation(format!(
            "Invalid operator used in KeyConditionExpression: {op}"
        ))
    };
    let mut ls = Vec::new();
    leaves(kc, &mut ls);
    let mut pk: Option<KeyVal> = None;
    let mut sk: Option<SkCond> = None;
    let key_path = |o: &Operand| -> Option<String> {
        match o {
            Operand::Path(p) if p.0.len() == 1 => p.top().map(str::to_string),
            _ => None,
        }
    };
    let typed = |attr: &str, v: &Value| -> Result<KeyVal, Error> {
        let def = t
            .key_defs()
            .into_iter()
            .find(|d| d.name == attr)
            .cloned()
            .ok_or_else(unsupported)?;
        KeyVal::of(v)
            .filter(|k| k.scalar_type() == def.ty)
            .ok_or_else(|| invalid("Condition parameter type does not match schema type"))
    };
    if ls.len() > 2 {
        return Err(Error::Validation(
            "KeyConditionExpressions must only contain one condition per key".into(),
        ));
    }
    for leaf in ls {
        let (attr, cond) = match leaf {
            Cond::Or(..) => return Err(bad_op("OR")),
            Cond::Not(..) => return Err(bad_op("NOT")),
            Cond::In(..) => return Err(bad_op("IN")),
            Cond::Exists(_) => return Err(bad_op("attribute_exists")),
            Cond::NotExists(_) => return Err(bad_op("attribute_not_exists")),
            Cond::Type(..) => return Err(bad_op("attribute_type")),
            Cond::Contains(..) => return Err(bad_op("contains")),
            Cond::Cmp(_, Cmp::Ne, _) => return Err(bad_op("<>")),
            Cond::Cmp(a, op, b) => {
                let (attr, v, op) = match (key_path(a), key_path(b), a, b) {
                    (Some(attr), None, _, Operand::Value(v)) => (attr, v, *op),
                    (None, Some(attr), Operand::Value(v), _) => {
                        let flipped = match op {
                            Cmp::Lt => Cmp::Gt,
                            Cmp::Le => Cmp::Ge,
                            Cmp::Gt => Cmp::Lt,
                            Cmp::Ge => Cmp::Le,
                            o => *o,
                        };
                        (attr, v, flipped)
                    }
                    _ => return Err(unsupported()),
                };
                let kv = typed(&attr, v)?;
                (attr, SkCond::Cmp(op, kv))
            }
            Cond::Between(a, lo, hi) => {
                let (Some(attr), Operand::Value(lo), Operand::Value(hi)) = (key_path(a), lo, hi)
                else {
                    return Err(unsupported());
                };
                let (lo, hi) = (typed(&attr, lo)?, typed(&attr, hi)?);
                (attr, SkCond::Between(lo, hi))
            }
            Cond::BeginsWith(a, b) => {
                let (Some(attr), Operand::Value(v)) = (key_path(a), b) else {
                    return Err(unsupported());
                };
                let kv = typed(&attr, v)?;
                if kv.scalar_type() == ScalarType::N {
                    return Err(Error::Validation(
                        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N".into(),
                    ));
                }
                (attr, SkCond::BeginsWith(kv))
            }
            Cond::And(..) => return Err(unsupported()),
        };
        if attr == t.hash.name {
            if pk.is_some() {
                return Err(Error::Validation(
                    "KeyConditionExpressions must only contain one condition per key".into(),
                ));
            }
            match cond {
                SkCond::Cmp(Cmp::Eq, v) => pk = Some(v),
                _ => return Err(unsupported()),
            }
        } else if t.range.as_ref().is_some_and(|r| r.name == attr) {
            if sk.is_some() {
                return Err(Error::Validation(
                    "KeyConditionExpressions must only contain one condition per key".into(),
                ));
            }
            sk = Some(cond);
        } else {
            return Err(unsupported());
        }
    }
    let pk = pk.ok_or_else(|| {
        Error::Validation(format!(
            "Query condition missed key schema element: {}",
            t.hash.name
        ))
    })?;
    Ok((pk, sk))
}

/// The sort-key condition of a Query.
#[derive(Debug, Clone)]
enum SkCond {
    Cmp(Cmp, KeyVal),
    Between(KeyVal, KeyVal),
    BeginsWith(KeyVal),
}

/// The items of partition `pk` between two sort-key bounds (empty, never a panic, when the
/// bounds cross).
fn partition_range<'a>(
    items: &'a BTreeMap<Key, Item>,
    pk: &KeyVal,
    lo: Bound<Sk>,
    hi: Bound<Sk>,
) -> impl DoubleEndedIterator<Item = (&'a Key, &'a Item)> {
    let value = |b: &Bound<Sk>| match b {
        Bound::Included(v) | Bound::Excluded(v) => Some(v.clone()),
        Bound::Unbounded => None,
    };
    let ok = match (value(&lo), value(&hi)) {
        (Some(l), Some(h)) => {
            l < h || (l == h && matches!((&lo, &hi), (Bound::Included(_), Bound::Included(_))))
        }
        _ => true,
    };
    let key = |b: Bound<Sk>, unbounded: Sk| match b {
        Bound::Included(s) => Bound::Included((pk.clone(), s)),
        Bound::Excluded(s) => Bound::Excluded((pk.clone(), s)),
        Bound::Unbounded => Bound::Included((pk.clone(), unbounded)),
    };
    let range = ok.then(|| items.range((key(lo, Sk::None), key(hi, Sk::Max))));
    range.into_iter().flatten()
}

/// The tighter of two lower bounds.
fn max_lower(a: Bound<Sk>, b: Bound<Sk>) -> Bound<Sk> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.cmp(y) {
                std::cmp::Ordering::Less => b,
                std::cmp::Ordering::Greater => a,
                std::cmp::Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
                std::cmp::Ordering::Equal => b,
            }
        }
    }
}

/// The tighter of two upper bounds.
fn min_upper(a: Bound<Sk>, b: Bound<Sk>) -> Bound<Sk> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.cmp(y) {
                std::cmp::Ordering::Less => a,
                std::cmp::Ordering::Greater => b,
                std::cmp::Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
                std::cmp::Ordering::Equal => b,
            }
        }
    }
}

/// Whether a key's sort key starts with `prefix` (no prefix: every key does).
fn has_prefix(prefix: Option<&KeyVal>, k: &Key) -> bool {
    match (prefix, &k.1) {
        (None, _) => true,
        (Some(KeyVal::S(p)), Sk::Val(KeyVal::S(s))) => s.starts_with(p.as_str()),
        (Some(KeyVal::B(p)), Sk::Val(KeyVal::B(b))) => b.starts_with(p),
        _ => false,
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
