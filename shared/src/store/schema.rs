//! The table definition. `cube-auth tables create`, local mode and the tests create the table
//! from this, and a test checks that `template.yaml` declares exactly the same thing.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};

/// The attribute DynamoDB's TTL deletes items by (Unix seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// The table's stream carries keys only (it tells the mail sender which outbox item is new).
pub const STREAM_VIEW_TYPE: &str = "KEYS_ONLY";

/// A global secondary index: name, hash key, optional range key. Indexes project keys only:
/// they find users, the users themselves are read from the table (no second copy of
/// password hashes or profile data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub hash_key: (&'static str, ScalarKind),
    pub range_key: Option<(&'static str, ScalarKind)>,
}

/// The projection of every index.
pub const INDEX_PROJECTION: &str = "KEYS_ONLY";

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

/// Index of an application's users by id (V1 listing, default order).
pub const USERS_BY_ID: &str = "users_by_id";
/// By creation time.
pub const USERS_BY_CREATED: &str = "users_by_created";
/// By last update.
pub const USERS_BY_UPDATED: &str = "users_by_updated";

/// The secondary indexes.
pub fn indexes() -> Vec<IndexSpec> {
    let shard = ("app_shard", ScalarKind::S);
    vec![
        IndexSpec { name: USERS_BY_ID, hash_key: shard, range_key: Some(("id", ScalarKind::N)) },
        IndexSpec { name: USERS_BY_CREATED, hash_key: shard, range_key: Some(("created_at", ScalarKind::N)) },
        IndexSpec { name: USERS_BY_UPDATED, hash_key: shard, range_key: Some(("updated_at", ScalarKind::N)) },
    ]
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
    let mut schema =
        vec![KeySchemaElement::builder().attribute_name(hash).key_type(KeyType::Hash).build().expect("set")];
    if let Some(range) = range {
        schema.push(KeySchemaElement::builder().attribute_name(range).key_type(KeyType::Range).build().expect("set"));
    }
    schema
}

fn definition(name: &str, kind: ScalarKind) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(kind.sdk()).build().expect("set")
}

fn stream_specification() -> StreamSpecification {
    StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::KeysOnly).build().expect("set")
}

fn index_definition(index: &IndexSpec) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(index.name)
        .set_key_schema(Some(key_schema(index.hash_key.0, index.range_key.map(|r| r.0))))
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .expect("set")
}

/// Whether the table keeps a change stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// As `template.yaml` declares it: `send-mail` reads the stream (deployments, and tables
    /// that stand in for a deployment's).
    On,
    /// Local mode and tests, where nothing reads it: the embedded engine keeps every record
    /// for ever and scans them all on each write, so a stream made every write slower than
    /// the last (seeding 5,000 users took minutes).
    Off,
}

/// Creates the table (on-demand billing, TTL on `expires_at`, every index, the stream as
/// `stream` says) if it does not exist, adds any index an older table lacks, turns the stream
/// on or off to match, and waits until all is active. Safe to re-run.
pub async fn ensure_table(client: &Client, table: &str, stream: Stream) -> anyhow::Result<()> {
    let existing = match client.describe_table().table_name(table).send().await {
        Ok(out) => Some(out.table.map(|t| t.global_secondary_indexes().to_vec()).unwrap_or_default()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => None,
        Err(e) => anyhow::bail!("describing table {table}: {}", DisplayErrorContext(e)),
    };
    match existing {
        None => {
            let definitions = attribute_definitions().into_iter().map(|(name, kind)| definition(name, kind)).collect();
            let gsis: Vec<GlobalSecondaryIndex> = indexes().iter().map(index_definition).collect();
            client
                .create_table()
                .table_name(table)
                .set_attribute_definitions(Some(definitions))
                .set_key_schema(Some(key_schema(HASH_KEY.0, Some(RANGE_KEY.0))))
                .set_global_secondary_indexes(if gsis.is_empty() { None } else { Some(gsis) })
                .billing_mode(BillingMode::PayPerRequest)
                .set_stream_specification((stream == Stream::On).then(stream_specification))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("creating table {table}: {}", DisplayErrorContext(e)))?;
            wait_until_active(client, table).await?;
        }
        Some(present) => {
            wait_until_active(client, table).await?;
            let described = client.describe_table().table_name(table).send().await;
            let streaming = described
                .ok()
                .and_then(|out| out.table)
                .and_then(|t| t.stream_specification)
                .is_some_and(|spec| spec.stream_enabled);
            if streaming != (stream == Stream::On) {
                let spec = match stream {
                    Stream::On => stream_specification(),
                    Stream::Off => StreamSpecification::builder().stream_enabled(false).build().expect("set"),
                };
                client
                    .update_table()
                    .table_name(table)
                    .stream_specification(spec)
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("setting the stream of {table}: {}", DisplayErrorContext(e)))?;
                wait_until_active(client, table).await?;
            }
            // DynamoDB adds one index per UpdateTable call.
            for index in indexes() {
                if present.iter().any(|p| p.index_name() == Some(index.name)) {
                    continue;
                }
                let mut attrs = vec![definition(index.hash_key.0, index.hash_key.1)];
                if let Some((name, kind)) = index.range_key {
                    attrs.push(definition(name, kind));
                }
                let create = CreateGlobalSecondaryIndexAction::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(key_schema(index.hash_key.0, index.range_key.map(|r| r.0))))
                    .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                    .build()
                    .expect("set");
                client
                    .update_table()
                    .table_name(table)
                    .set_attribute_definitions(Some(attrs))
                    .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("adding index {} to {table}: {}", index.name, DisplayErrorContext(e))
                    })?;
                wait_until_active(client, table).await?;
            }
        }
    }
    let ttl = client.describe_time_to_live().table_name(table).send().await;
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
                TimeToLiveSpecification::builder().attribute_name(TTL_ATTRIBUTE).enabled(true).build().expect("set"),
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
        let table_active = out.table.as_ref().and_then(|t| t.table_status.clone()) == Some(TableStatus::Active);
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
