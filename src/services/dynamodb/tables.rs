//! DynamoDB's table operations: CreateTable, DescribeTable, ListTables, DeleteTable.
//!
//! Contract: key schemas and attribute definitions are checked as DynamoDB checks them
//! (secondary indexes are refused by name); a table is ACTIVE as soon as it exists; at
//! most [`MAX_TABLES`] tables.

use super::*;

impl DynamoDb {
    pub(super) fn create_table(&mut self, p: &Fields<'_>, now: u64) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["GlobalSecondaryIndexes", "LocalSecondaryIndexes"])
            .map_err(|_| {
                Error::Validation("vpclab does not emulate secondary indexes (GlobalSecondaryIndexes, LocalSecondaryIndexes)".into())
            })?;
        let defs_json = p
            .arr("AttributeDefinitions")?
            .ok_or_else(|| not_null("attributeDefinitions"))?;
        let ks_json = p.arr("KeySchema")?.ok_or_else(|| not_null("keySchema"))?;
        let mut defs: Vec<KeyDef> = Vec::new();
        for (i, d) in defs_json.iter().enumerate() {
            let Json::Object(o) = d else {
                return Err(not_expected(d, "structure"));
            };
            let dp = Fields(o);
            let an = dp.str("AttributeName")?.ok_or_else(|| {
                not_null(&format!(
                    "attributeDefinitions.{}.member.attributeName",
                    i + 1
                ))
            })?;
            let at = dp.str("AttributeType")?.ok_or_else(|| {
                not_null(&format!(
                    "attributeDefinitions.{}.member.attributeType",
                    i + 1
                ))
            })?;
            let ty = ScalarType::parse(at).ok_or_else(|| {
                constraints(vec![format!(
                    "Value '{at}' at 'attributeDefinitions.{}.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                    i + 1
                )])
            })?;
            if defs.iter().any(|d| d.name == an) {
                return Err(invalid("Cannot have two attributes with the same name"));
            }
            defs.push(KeyDef {
                name: an.to_string(),
                ty,
            });
        }
        let mut ks: Vec<(String, String)> = Vec::new();
        for (i, k) in ks_json.iter().enumerate() {
            let Json::Object(o) = k else {
                return Err(not_expected(k, "structure"));
            };
            let kp = Fields(o);
            let an = kp
                .str("AttributeName")?
                .ok_or_else(|| not_null(&format!("keySchema.{}.member.attributeName", i + 1)))?;
            let kt = kp
                .str("KeyType")?
                .ok_or_else(|| not_null(&format!("keySchema.{}.member.keyType", i + 1)))?;
            if kt != "HASH" && kt != "RANGE" {
                return Err(constraints(vec![format!(
                    "Value '{kt}' at 'keySchema.{}.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]",
                    i + 1
                )]));
            }
            ks.push((an.to_string(), kt.to_string()));
        }
        if ks.is_empty() || ks.len() > 2 {
            return Err(constraints(vec![format!(
                "Value '{}' at 'keySchema' failed to satisfy constraint: Member must have length {} 2",
                serde_json::to_string(ks_json).unwrap_or_default(),
                if ks.is_empty() { "greater than or equal to 1, less than or equal to" } else { "less than or equal to" }
            )]));
        }
        let mut it = ks.iter();
        let (hash_name, hash_type) = it.next().cloned().unwrap_or_default();
        if hash_type != "HASH" {
            return Err(Error::Validation(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type".into(),
            ));
        }
        let range_name = match it.next() {
            Some((n, t)) => {
                if t != "RANGE" {
                    return Err(Error::Validation(
                        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
                            .into(),
                    ));
                }
                if *n == hash_name {
                    return Err(Error::Validation(
                        "Both the Hash Key and the Range Key element in the KeySchema have the same name".into(),
                    ));
                }
                Some(n.clone())
            }
            None => None,
        };
        let key_names: Vec<&String> = std::iter::once(&hash_name)
            .chain(range_name.as_ref())
            .collect();
        let undefined: Vec<&String> = key_names
            .iter()
            .copied()
            .filter(|n| !defs.iter().any(|d| &d.name == *n))
            .collect();
        if !undefined.is_empty() {
            return Err(invalid(format!(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                undefined.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if defs.len() != key_names.len() {
            return Err(invalid(
                "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let def_of = |n: &str| defs.iter().find(|d| d.name == n).cloned();
        let (Some(hash), range) = (def_of(&hash_name), range_name.as_deref().and_then(def_of))
        else {
            return Err(invalid("Invalid KeySchema"));
        };
        let billing = p.str("BillingMode")?.unwrap_or("PROVISIONED");
        let pt = p.obj("ProvisionedThroughput")?;
        let (pay_per_request, rcu, wcu) = match billing {
            "PAY_PER_REQUEST" => {
                if pt.is_some() {
                    return Err(invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
                }
                (true, 0, 0)
            }
            "PROVISIONED" => {
                let missing = || invalid("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED");
                let pt = Fields(pt.ok_or_else(missing)?);
                let (Some(r), Some(w)) = (pt.int("ReadCapacityUnits")?, pt.int("WriteCapacityUnits")?) else {
                    return Err(missing());
                };
                for (v, f) in [(r, "readCapacityUnits"), (w, "writeCapacityUnits")] {
                    if v < 1 {
                        return Err(constraints(vec![format!(
                            "Value '{v}' at 'provisionedThroughput.{f}' failed to satisfy constraint: Member must have value greater than or equal to 1"
                        )]));
                    }
                }
                (false, r as u64, w as u64)
            }
            other => {
                return Err(constraints(vec![format!(
                    "Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
                )]))
            }
        };
        let deletion_protection = p.bool("DeletionProtectionEnabled")?.unwrap_or(false);
        if self.tables.contains_key(&name) {
            return Err(Error::ResourceInUse(format!(
                "Table already exists: {name}"
            )));
        }
        if self.tables.len() >= MAX_TABLES {
            return Err(Error::LimitExceeded(format!(
                "Subscriber limit exceeded: vpclab keeps at most {MAX_TABLES} tables per lab"
            )));
        }
        let id = Sha256::digest(format!("{name}/{now}").as_bytes());
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let table_id = format!(
            "{}-{}-4{}-{}-{}",
            hex.get(0..8).unwrap_or(""),
            hex.get(8..12).unwrap_or(""),
            hex.get(13..16).unwrap_or(""),
            hex.get(16..20).unwrap_or(""),
            hex.get(20..32).unwrap_or("")
        );
        let t = Table {
            name: name.clone(),
            hash,
            range,
            attr_defs: defs,
            pay_per_request,
            rcu,
            wcu,
            created_millis: now,
            deletion_protection,
            table_id,
            items: BTreeMap::new(),
        };
        let desc = t.describe(&self.region, "ACTIVE");
        self.tables.insert(name.clone(), t);
        Ok(json!({ "TableDescription": desc }))
    }

    pub(super) fn describe_table(&self, p: &Fields<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        let t = self.tables.get(&name).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Table: {name} not found"
            ))
        })?;
        Ok(json!({ "Table": t.describe(&self.region, "ACTIVE") }))
    }

    pub(super) fn list_tables(&self, p: &Fields<'_>) -> Result<Json, Error> {
        let limit = p.int("Limit")?.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            let c = if limit < 1 {
                "greater than or equal to 1"
            } else {
                "less than or equal to 100"
            };
            return Err(constraints(vec![format!(
                "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {c}"
            )]));
        }
        let start = match p.str("ExclusiveStartTableName")? {
            Some(s) => Bound::Excluded(validate_table_name(s, "exclusiveStartTableName")?),
            None => Bound::Unbounded,
        };
        let mut names = self
            .tables
            .range::<String, _>((start, Bound::Unbounded))
            .map(|(n, _)| n.clone());
        let page: Vec<String> = names.by_ref().take(limit as usize).collect();
        let mut out = json!({ "TableNames": page });
        if names.next().is_some() {
            if let (Json::Object(o), Some(last)) = (&mut out, page.last()) {
                o.insert("LastEvaluatedTableName".into(), Json::String(last.clone()));
            }
        }
        Ok(out)
    }

    pub(super) fn delete_table(&mut self, p: &Fields<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        let t = self.tables.get(&name).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Table: {name} not found"
            ))
        })?;
        if t.deletion_protection {
            return Err(Error::Validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.".into()));
        }
        let desc = t.describe(&self.region, "DELETING");
        self.tables.remove(&name);
        Ok(json!({ "TableDescription": desc }))
    }
}
