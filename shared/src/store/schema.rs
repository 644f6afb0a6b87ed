//! The table definition. `cube-auth tables create`, local mode and the tests create the table
//! from this, and a test checks that `template.yaml` declares exactly the same thing.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};

/// The attribute DynamoDB's TTL deletes items by (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A global secondary index: name, hash key, optional range key (all attributes projected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash_key: (&'static str, ScalarKind),
    pub range_key: Option<(&'static str, ScalarKind)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    S,
    N,
}

impl ScalarKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScalarKind::S => "S",
            ScalarKind::N => "N",
        }
    }

    fn sdk(self) -> ScalarAttributeType {
        match self {
            ScalarKind::S => ScalarAttributeType::S,
            ScalarKind::N => ScalarAttributeType::N,
        }
    }
}

/// The table's own key.
pub const HASH_KEY: (&str, ScalarKind) = ("pk", ScalarKind::S);
pub const RANGE_KEY: (&str, ScalarKind) = ("sk", ScalarKind::S);

/// The secondary indexes.
pub fn indexes() -> Vec<IndexSpec> {
    Vec::new()
}

/// Every key attribute of the table and its indexes, once each.
pub fn attribute_definitions() -> Vec<(&'static str, ScalarKind)> {
    let mut attrs = vec![HASH_KEY, RANGE_KEY];
    for index in indexes() {
        for attr in std::iter::once(index.hash_key).chain(index.range_key) {
            if !attrs.iter().any(|(name, _)| *name == attr.0) {
                attrs.push(attr);
            }
        }
    }
    attrs
}

fn key_schema(hash: &str, range: Option<&str>) -> Vec<KeySchemaElement> {
    let mut schema = vec![
        KeySchemaElement::builder()
            .attribute_name(hash)
            .key_type(KeyType::Hash)
            .build()
            .expect("set"),
    ];
    if let Some(range) = range {
        schema.push(
            KeySchemaElement::builder()
                .attribute_name(range)
                .key_type(KeyType::Range)
                .build()
                .expect("set"),
        );
    }
    schema
}

/// Creates the table (on-demand billing, TTL on `expires_at`) if it does not exist, and
/// waits until it is active. Safe to run again on an existing table.
pub async fn ensure_table(client: &Client, table: &str) -> anyhow::Result<()> {
    let exists = match client.describe_table().table_name(table).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => anyhow::bail!("describing table {table}: {}", DisplayErrorContext(e)),
    };
    if !exists {
        let definitions = attribute_definitions()
            .into_iter()
            .map(|(name, kind)| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind.sdk())
                    .build()
                    .expect("set")
            })
            .collect();
        let gsis: Vec<GlobalSecondaryIndex> = indexes()
            .into_iter()
            .map(|index| {
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(key_schema(
                        index.hash_key.0,
                        index.range_key.map(|r| r.0),
                    )))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("set")
            })
            .collect();
        client
            .create_table()
            .table_name(table)
            .set_attribute_definitions(Some(definitions))
            .set_key_schema(Some(key_schema(HASH_KEY.0, Some(RANGE_KEY.0))))
            .set_global_secondary_indexes(if gsis.is_empty() { None } else { Some(gsis) })
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("creating table {table}: {}", DisplayErrorContext(e)))?;
    }
    wait_until_active(client, table).await?;
    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await;
    let ttl_on = ttl
        .ok()
        .and_then(|out| out.time_to_live_description)
        .and_then(|d| d.attribute_name)
        .is_some_and(|name| name == TTL_ATTRIBUTE);
    if !ttl_on {
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .expect("set"),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("enabling TTL on {table}: {}", DisplayErrorContext(e)))?;
    }
    Ok(())
}

async fn wait_until_active(client: &Client, table: &str) -> anyhow::Result<()> {
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("describing table {table}: {}", DisplayErrorContext(e)))?;
        let table_active =
            out.table.as_ref().and_then(|t| t.table_status.clone()) == Some(TableStatus::Active);
        let indexes_active = out
            .table
            .as_ref()
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .all(|i| i.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
        if table_active && indexes_active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("table {table} did not become active within a minute")
}

/// Deletes the table (tests clean up after themselves).
pub async fn delete_table(client: &Client, table: &str) -> anyhow::Result<()> {
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("deleting table {table}: {}", DisplayErrorContext(e)))?;
    Ok(())
}
