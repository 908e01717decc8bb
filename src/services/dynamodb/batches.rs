//! DynamoDB's batches: BatchWriteItem and BatchGetItem (there are no transactions here).
//!
//! Contract: DynamoDB's batch limits (25 writes, 100 keys, no key twice) are checked before
//! anything is written; every request in a batch is served (none is left unprocessed).

use super::*;

impl DynamoDb {
    pub(super) fn batch_write(&mut self, p: &Fields<'_>) -> Result<Json, Error> {
        let req = p
            .obj("RequestItems")?
            .ok_or_else(|| not_null("requestItems"))?;
        let cap = consumed_asked(p)?;
        let total: usize = req.values().map(|v| v.as_array().map_or(0, Vec::len)).sum();
        if req.is_empty() || total == 0 || total > 25 {
            return Err(constraints(vec![
                "Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]".into(),
            ]));
        }
        // Validate everything before changing anything.
        let mut plan: Vec<(String, Vec<Write>)> = Vec::new();
        for (tname, list) in req {
            let tname = validate_table_name(tname, "requestItems")?;
            let Json::Array(list) = list else {
                return Err(not_expected(list, "list"));
            };
            let t = self.table(&tname)?;
            let mut writes = Vec::new();
            let mut keys = BTreeSet::new();
            for w in list {
                let Json::Object(o) = w else {
                    return Err(not_expected(w, "structure"));
                };
                let wp = Fields(o);
                let put = wp.obj("PutRequest")?;
                let del = wp.obj("DeleteRequest")?;
                let (key, item) = match (put, del) {
                    (Some(put), None) => {
                        let item = Fields(put).item("Item")?.ok_or_else(|| not_null("item"))?;
                        let key = t.key_of_item(&item)?;
                        check_item_size(&item)?;
                        (key, Some(item))
                    }
                    (None, Some(del)) => {
                        let key = Fields(del).item("Key")?.ok_or_else(|| not_null("key"))?;
                        (t.key_from_request(&key)?, None)
                    }
                    _ => {
                        return Err(Error::Validation(
                            "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest".into(),
                        ))
                    }
                };
                if !keys.insert(key.clone()) {
                    return Err(Error::Validation(
                        "Provided list of item keys contains duplicates".into(),
                    ));
                }
                writes.push((key, item));
            }
            plan.push((tname, writes));
        }
        let mut consumed = Vec::new();
        for (tname, writes) in plan {
            let t = self.table_mut(&tname)?;
            let mut units = 0.0;
            for (key, item) in writes {
                match item {
                    Some(item) => {
                        units += write_units(item_size(&item));
                        t.items.insert(key, item);
                    }
                    None => {
                        let old = t.items.remove(&key);
                        units += write_units(old.as_ref().map_or(0, item_size));
                    }
                }
            }
            if let Some(ix) = cap {
                consumed.push(capacity_json(&tname, units, ix));
            }
        }
        let mut out = json!({ "UnprocessedItems": {} });
        if cap.is_some() {
            if let Json::Object(o) = &mut out {
                o.insert("ConsumedCapacity".into(), Json::Array(consumed));
            }
        }
        Ok(out)
    }

    pub(super) fn batch_get(&self, p: &Fields<'_>) -> Result<Json, Error> {
        let req = p
            .obj("RequestItems")?
            .ok_or_else(|| not_null("requestItems"))?;
        let cap = consumed_asked(p)?;
        if req.is_empty() {
            return Err(constraints(vec![
                "Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
            ]));
        }
        let mut total = 0;
        let mut responses = Map::new();
        let mut consumed = Vec::new();
        for (tname, spec) in req {
            let tname = validate_table_name(tname, "requestItems")?;
            let Json::Object(o) = spec else {
                return Err(not_expected(spec, "structure"));
            };
            let sp = Fields(o);
            let keys = sp
                .arr("Keys")?
                .ok_or_else(|| not_null("requestItems.keys"))?;
            total += keys.len();
            if total > 100 {
                return Err(Error::Validation(
                    "Too many items requested for the BatchGetItem call".into(),
                ));
            }
            let consistent = sp.bool("ConsistentRead")?.unwrap_or(false);
            let (mut params, had_n, had_v) = expression_params(&sp)?;
            let proj = projection(&sp, &mut params)?;
            check_params(
                &params,
                (had_n, had_v),
                sp.get("ProjectionExpression").is_some(),
            )?;
            let t = self.table(&tname)?;
            let mut seen = BTreeSet::new();
            let mut items = Vec::new();
            let mut bytes = 0;
            for k in keys {
                let key = t.key_from_request(&item_from_json(k)?)?;
                if !seen.insert(key.clone()) {
                    return Err(Error::Validation(
                        "Provided list of item keys contains duplicates".into(),
                    ));
                }
                if let Some(item) = t.items.get(&key) {
                    bytes += item_size(item);
                    let shown = match &proj {
                        Some(paths) => expr::project(item, paths),
                        None => item.clone(),
                    };
                    items.push(item_to_json(&shown));
                }
            }
            if let Some(ix) = cap {
                consumed.push(capacity_json(&tname, read_units(bytes, consistent), ix));
            }
            responses.insert(tname, Json::Array(items));
        }
        let mut out = json!({ "Responses": responses, "UnprocessedKeys": {} });
        if cap.is_some() {
            if let Json::Object(o) = &mut out {
                o.insert("ConsumedCapacity".into(), Json::Array(consumed));
            }
        }
        Ok(out)
    }
}
