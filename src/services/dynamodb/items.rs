//! DynamoDB's single-item operations: PutItem, GetItem, DeleteItem, UpdateItem, with
//! condition expressions, ReturnValues and ReturnConsumedCapacity.
//!
//! Contract: an item is written only if its key is whole and typed as the schema says, it
//! fits [`MAX_ITEM_SIZE`], and its condition holds; otherwise nothing changes.

use super::*;

impl DynamoDb {
    pub(super) fn put_item(&mut self, p: &Fields<'_>) -> Result<Json, Error> {
        let w = write_request(p, "Item", "item")?;
        let t = self.table_mut(&w.table)?;
        let key = t.key_of_item(&w.item)?;
        check_item_size(&w.item)?;
        check_condition(w.cond.as_ref(), t.items.get(&key), w.on_fail)?;
        let size = item_size(&w.item);
        let old = t.items.insert(key, w.item);
        Ok(write_answer(&w.table, old.as_ref(), w.rv, w.cap, size))
    }

    pub(super) fn get_item(&self, p: &Fields<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        let key = p.item("Key")?.ok_or_else(|| not_null("key"))?;
        let consistent = p.bool("ConsistentRead")?.unwrap_or(false);
        let cap = consumed_asked(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let proj = projection(p, &mut params)?;
        let used_expr = p.get("ProjectionExpression").is_some();
        check_params(&params, (had_n, had_v), used_expr)?;
        let t = self.table(&name)?;
        let key = t.key_from_request(&key)?;
        let mut out = Map::new();
        let found = t.items.get(&key);
        if let Some(item) = found {
            let shown = match &proj {
                Some(paths) => expr::project(item, paths),
                None => item.clone(),
            };
            out.insert("Item".into(), item_to_json(&shown));
        }
        if let Some(ix) = cap {
            let size = found.map_or(0, item_size);
            out.insert(
                "ConsumedCapacity".into(),
                capacity_json(&name, read_units(size, consistent), ix),
            );
        }
        Ok(Json::Object(out))
    }

    pub(super) fn delete_item(&mut self, p: &Fields<'_>) -> Result<Json, Error> {
        let w = write_request(p, "Key", "key")?;
        let t = self.table_mut(&w.table)?;
        let key = t.key_from_request(&w.item)?;
        check_condition(w.cond.as_ref(), t.items.get(&key), w.on_fail)?;
        let old = t.items.remove(&key);
        let size = old.as_ref().map_or(0, item_size);
        Ok(write_answer(&w.table, old.as_ref(), w.rv, w.cap, size))
    }

    pub(super) fn update_item(&mut self, p: &Fields<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["AttributeUpdates", "Expected", "ConditionalOperator"])?;
        let key_item = p.item("Key")?.ok_or_else(|| not_null("key"))?;
        let rv = return_values(
            p,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let on_fail = return_on_failure(p)?;
        let cap = consumed_asked(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let update = p
            .str("UpdateExpression")?
            .map(|s| expr::parse_update(s, &mut params))
            .transpose()?;
        let cond = parse_cond(p, "ConditionExpression", Kind::Condition, &mut params)?;
        check_params(&params, (had_n, had_v), update.is_some() || cond.is_some())?;
        let t = self.table_mut(&name)?;
        let key = t.key_from_request(&key_item)?;
        if let Some(u) = &update {
            for path in u.paths() {
                if let Some(top) = path.top().filter(|a| t.is_key(a)) {
                    return Err(invalid(format!(
                        "Cannot update attribute {top}. This attribute is part of the key"
                    )));
                }
            }
        }
        let old = t.items.get(&key).cloned();
        check_condition(cond.as_ref(), old.as_ref(), on_fail)?;
        let mut new = old.clone().unwrap_or_else(|| t.key_item(&key));
        if let Some(u) = &update {
            expr::apply_update(&mut new, u)?;
        }
        check_item_size(&new)?;
        let size = item_size(&new);
        t.items.insert(key, new.clone());
        let updated: Vec<Path> = update
            .as_ref()
            .map(|u| u.paths().into_iter().cloned().collect())
            .unwrap_or_default();
        let attrs = match rv {
            "ALL_OLD" => old,
            "ALL_NEW" => Some(new),
            "UPDATED_OLD" => old.map(|o| expr::project(&o, &updated)),
            "UPDATED_NEW" => Some(expr::project(&new, &updated)),
            _ => None,
        };
        let mut out = Map::new();
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            out.insert("Attributes".into(), item_to_json(&a));
        }
        if let Some(ix) = cap {
            out.insert(
                "ConsumedCapacity".into(),
                capacity_json(&name, write_units(size), ix),
            );
        }
        Ok(Json::Object(out))
    }
}

/// What PutItem and DeleteItem both read: the table, the item (or key), ReturnValues,
/// ReturnValuesOnConditionCheckFailure, ReturnConsumedCapacity and the condition.
struct WriteRequest<'a> {
    table: String,
    item: Item,
    rv: &'a str,
    on_fail: bool,
    cap: Option<bool>,
    cond: Option<Cond>,
}

fn write_request<'a>(
    p: &Fields<'a>,
    field: &str,
    null_name: &str,
) -> Result<WriteRequest<'a>, Error> {
    let table = table_name(p, "tableName", "TableName")?;
    p.no_legacy(&["Expected", "ConditionalOperator"])?;
    let item = p.item(field)?.ok_or_else(|| not_null(null_name))?;
    let rv = return_values(p, &["NONE", "ALL_OLD"])?;
    let on_fail = return_on_failure(p)?;
    let cap = consumed_asked(p)?;
    let (mut params, had_n, had_v) = expression_params(p)?;
    let cond = parse_cond(p, "ConditionExpression", Kind::Condition, &mut params)?;
    check_params(&params, (had_n, had_v), cond.is_some())?;
    Ok(WriteRequest {
        table,
        item,
        rv,
        on_fail,
        cap,
        cond,
    })
}

/// The answer of a PutItem or DeleteItem: the old item when ALL_OLD asked for it, the
/// consumed capacity when asked.
fn write_answer(table: &str, old: Option<&Item>, rv: &str, cap: Option<bool>, size: usize) -> Json {
    let mut out = Map::new();
    if let (Some(old), "ALL_OLD") = (old, rv) {
        out.insert("Attributes".into(), item_to_json(old));
    }
    if let Some(ix) = cap {
        out.insert(
            "ConsumedCapacity".into(),
            capacity_json(table, write_units(size), ix),
        );
    }
    Json::Object(out)
}

fn return_values<'a>(p: &Fields<'a>, allowed: &[&str]) -> Result<&'a str, Error> {
    let rv = p.str("ReturnValues")?.unwrap_or("NONE");
    const ALL: [&str; 5] = ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];
    if !ALL.contains(&rv) {
        return Err(constraints(vec![format!(
            "Value '{rv}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
        )]));
    }
    if !allowed.contains(&rv) {
        return Err(Error::Validation(
            "Return values set to invalid value".into(),
        ));
    }
    Ok(rv)
}

/// Checks a condition against the current item (none: an empty item).
fn check_condition(cond: Option<&Cond>, old: Option<&Item>, return_old: bool) -> Result<(), Error> {
    let Some(c) = cond else { return Ok(()) };
    let empty = Item::new();
    if expr::eval(c, old.unwrap_or(&empty)) {
        Ok(())
    } else {
        Err(Error::ConditionalCheckFailed(
            old.filter(|_| return_old).cloned(),
        ))
    }
}
