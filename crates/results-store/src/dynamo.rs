//! The DynamoDB backend: one table per game, named `prefix + slug`.
//!
//! A match item lives in its owner's partition (`user_id`) under the sort key
//! `date#created#id`, so a Query on one partition lists a player's matches newest first.
//! Because the id is not the key, a second item, the id guard (`user_id = "id#<id>"`,
//! `sk = "id"`), records who owns each id and where the match sits. Creating, moving and
//! deleting a match write the match and its guard in one transaction with conditions, so
//! an id is stored once whichever path retries it.
//!
//! DynamoDB facts this rests on: most field names (`date`, `time`, `map`, `result`) are
//! reserved words, so every expression names every attribute through a `#placeholder`;
//! a Query answers at most 1 MB, so every listing follows `LastEvaluatedKey`; numbers
//! travel as decimal strings, so whole numbers are copied as text and never become f64.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, KeySchemaElement,
    KeyType, Put, ReturnValue, ScalarAttributeType, TableStatus, TransactWriteItem, Update,
    WriteRequest,
};
use serde_json::{Map, Number, Value as Json};
use shared::catalog::{Catalog, Game};
use uuid::Uuid;

use crate::{Inserted, ResultStore, StoreError, StoredMatch};

/// Partition key: the owner's id on match items, `id#<match id>` on id guards.
const PK: &str = "user_id";
/// Sort key: `date#created#id` on match items, [`GUARD_SK`] on id guards.
const SK: &str = "sk";
const ID: &str = "id";
const CREATED: &str = "created_at";
const UPDATED: &str = "updated_at";
/// Attributes of match items that are not catalog fields; no field may use these names.
const INTERNAL: [&str; 5] = [PK, SK, ID, CREATED, UPDATED];
const GUARD_SK: &str = "id";
/// On id guards: who owns the id, and the sort key of the match item.
const OWNER: &str = "owner";
const MATCH_SK: &str = "match_sk";

/// Attempts at a write that lost a race with another write of the same match.
const WRITE_ATTEMPTS: usize = 5;
/// BatchWriteItem takes at most 25 requests.
const BATCH_LIMIT: usize = 25;
/// How long `create-tables` waits for a new table to become usable.
const TABLE_READY_WAIT: Duration = Duration::from_secs(120);

type Item = HashMap<String, AttributeValue>;

pub struct DynamoStore {
    client: Client,
    prefix: String,
    catalog: &'static Catalog,
    page_limit: Option<i32>,
}

/// The SDK's timeouts: a store that does not answer is reported unavailable (503) before
/// the caller gives up on this tier (`MATCHLOG_UPSTREAM_TIMEOUT_MS`, 5 s by default). A
/// caller that times out takes the tier for dead and moves to the gateway, which shares
/// this store and would fare no better.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_millis(3_500))
        .build()
}

/// How long a readiness ping may take in all. Readiness probes give up after a second by
/// default (`MATCHLOG_HEALTH_TIMEOUT_MS`) and take a silent tier for dead; a store that
/// cannot answer within this budget is reported down instead, which callers know the
/// other path shares.
const PING_BUDGET: Duration = Duration::from_millis(300);

/// For creating tables, which no user waits on: a fresh local server or a busy control
/// plane may take seconds to answer.
fn patient() -> aws_sdk_dynamodb::config::Builder {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build();
    aws_sdk_dynamodb::config::Builder::new().timeout_config(timeouts)
}

/// For the ping: one attempt, no retries, within [`PING_BUDGET`].
fn fail_fast() -> aws_sdk_dynamodb::config::Builder {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(PING_BUDGET)
        .operation_timeout(PING_BUDGET)
        .build();
    aws_sdk_dynamodb::config::Builder::new()
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
}

impl DynamoStore {
    /// A store configured by the standard AWS settings (region, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB` for a local server).
    pub async fn from_env(prefix: &str, catalog: &'static Catalog) -> Result<Self, StoreError> {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .timeout_config(timeouts())
            .build();
        Self::new(Client::from_conf(config), prefix, catalog)
    }

    /// A store on a local DynamoDB API server with a fixed region and dummy credentials,
    /// so nothing looks for real credentials (tests, local runs).
    pub fn for_local_endpoint(
        endpoint: &str,
        prefix: &str,
        catalog: &'static Catalog,
    ) -> Result<Self, StoreError> {
        let config = aws_sdk_dynamodb::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "matchlog"))
            .endpoint_url(endpoint)
            .timeout_config(timeouts())
            .build();
        Self::new(Client::from_conf(config), prefix, catalog)
    }

    /// Refuses a catalog whose field names clash with the item's own attributes.
    pub fn new(
        client: Client,
        prefix: &str,
        catalog: &'static Catalog,
    ) -> Result<Self, StoreError> {
        for game in catalog.games() {
            if let Some(field) = game
                .fields
                .iter()
                .find(|f| INTERNAL.contains(&f.name.as_str()))
            {
                return Err(StoreError::Internal(format!(
                    "{}: field name {:?} is reserved by the DynamoDB store",
                    game.slug, field.name
                )));
            }
        }
        Ok(Self {
            client,
            prefix: prefix.to_string(),
            catalog,
            page_limit: None,
        })
    }

    /// Caps each Query page at `limit` items, so tests see many pages as a large account
    /// does at 1 MB a page.
    pub fn with_page_limit(mut self, limit: i32) -> Self {
        self.page_limit = Some(limit);
        self
    }

    pub fn table_name(&self, game: &Game) -> String {
        format!("{}{}", self.prefix, game.slug)
    }

    /// Creates every catalog game's table that is missing and waits until it is usable;
    /// returns the names it created.
    pub async fn create_tables(&self) -> Result<Vec<String>, StoreError> {
        let mut created = Vec::new();
        for game in self.catalog.games() {
            let table = self.table_name(game);
            if self.table_exists(&table).await? {
                continue;
            }
            self.create_table(&table).await?;
            self.wait_until_active(&table).await?;
            created.push(table);
        }
        Ok(created)
    }

    async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        let described = self
            .client
            .describe_table()
            .table_name(table)
            .customize()
            .config_override(patient())
            .send()
            .await;
        match described {
            Ok(_) => Ok(true),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Ok(false),
            Err(err) => Err(classify("describe a results table", err)),
        }
    }

    async fn create_table(&self, table: &str) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(built)
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(built)
        };
        let outcome = self
            .client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(PK)?)
            .attribute_definitions(attribute(SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .customize()
            .config_override(patient())
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            // Another process created it a moment ago.
            Err(err) if err.code() == Some("ResourceInUseException") => Ok(()),
            Err(err) => Err(classify("create a results table", err)),
        }
    }

    /// A new table takes a while to become ACTIVE on AWS (local servers are instant).
    async fn wait_until_active(&self, table: &str) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + TABLE_READY_WAIT;
        loop {
            let description = self
                .client
                .describe_table()
                .table_name(table)
                .customize()
                .config_override(patient())
                .send()
                .await
                .map_err(|err| classify("wait for a results table", err))?;
            let status = description.table().and_then(|t| t.table_status());
            if status == Some(&TableStatus::Active) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(StoreError::Unavailable(format!(
                    "table {table} is not active yet"
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn ping_table(&self, table: &str) -> Result<(), StoreError> {
        let key = HashMap::from([(PK.to_string(), s("ping")), (SK.to_string(), s("ping"))]);
        let outcome = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .customize()
            .config_override(fail_fast())
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => Err(
                StoreError::Internal(format!("table {table} is missing; run crud-create-tables")),
            ),
            Err(err) => Err(classify("ping a results table", err)),
        }
    }

    /// Who owns `id` in this table and where its match sits.
    async fn guard(&self, table: &str, id: Uuid) -> Result<Option<Guard>, StoreError> {
        let mut expr = Expr::default();
        let projection = format!("{}, {}", expr.name(OWNER), expr.name(MATCH_SK));
        let found = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(guard_key(id)))
            .consistent_read(true)
            .projection_expression(projection)
            .set_expression_attribute_names(expr.names())
            .send()
            .await
            .map_err(|err| classify("read an id guard", err))?;
        found.item().map(Guard::decode).transpose()
    }

    /// The match item of `user` under `sk`, read through a projection of every attribute
    /// this store writes.
    async fn match_item(
        &self,
        game: &Game,
        user: Uuid,
        sk: &str,
    ) -> Result<Option<StoredMatch>, StoreError> {
        let mut expr = Expr::default();
        let projection = expr.projection(game);
        let found = self
            .client
            .get_item()
            .table_name(self.table_name(game))
            .set_key(Some(match_key(user, sk)))
            .consistent_read(true)
            .projection_expression(projection)
            .set_expression_attribute_names(expr.names())
            .send()
            .await
            .map_err(|err| classify("read a match", err))?;
        found
            .item()
            .map(|item| decode_match(game, item))
            .transpose()
    }

    /// Every item of `user` in `game`'s table, newest first, following every page.
    async fn query_user(
        &self,
        game: &Game,
        user: Uuid,
        keys_only: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut expr = Expr::default();
            let condition = format!("{} = {}", expr.name(PK), expr.value(s(user)));
            let projection = if keys_only {
                format!("{}, {}", expr.name(PK), expr.name(SK))
            } else {
                expr.projection(game)
            };
            let page = self
                .client
                .query()
                .table_name(self.table_name(game))
                .key_condition_expression(condition)
                .projection_expression(projection)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .consistent_read(true)
                .scan_index_forward(false)
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| classify("list matches", err))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// Runs a transaction; `Ok(false)` when a condition failed or another transaction got
    /// in the way, which callers answer by reading the state again.
    async fn transact(
        &self,
        doing: &str,
        actions: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        let outcome = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(service)) if is_lost_race(service.err()) => Ok(false),
            Err(err) => Err(classify(doing, err)),
        }
    }

    async fn try_insert(
        &self,
        game: &Game,
        record: &StoredMatch,
    ) -> Result<Option<Inserted>, StoreError> {
        let table = self.table_name(game);
        let sk = sort_key(record.match_date(), record.created_at, record.id);
        let guard = Guard {
            owner: record.user_id,
            match_sk: sk.clone(),
        };
        let actions = vec![
            put_if_absent(&table, guard.item(record.id))?,
            put_if_absent(&table, match_item(record, &sk))?,
        ];
        if self.transact("insert a match", actions).await? {
            return Ok(Some(Inserted::Created));
        }
        match self.guard(&table, record.id).await? {
            Some(guard) if guard.owner == record.user_id => {
                let existing = self.match_item(game, guard.owner, &guard.match_sk).await?;
                Ok(existing.map(Inserted::AlreadyExists))
            }
            Some(_) => Ok(Some(Inserted::IdTaken)),
            // The id was freed between our attempt and the read: try again.
            None => Ok(None),
        }
    }

    /// One update attempt. A changed date moves the item to a new sort key: delete, put
    /// and repoint the guard in one transaction.
    async fn try_update(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
        fields: &Map<String, Json>,
        now_ms: i64,
    ) -> Result<Attempt<Option<StoredMatch>>, StoreError> {
        let table = self.table_name(game);
        let Some(guard) = self.guard(&table, id).await?.filter(|g| g.owner == user) else {
            return Ok(Attempt::Done(None));
        };
        let Some(old) = self.match_item(game, user, &guard.match_sk).await? else {
            return Ok(Attempt::Again);
        };
        let new = StoredMatch {
            fields: fields.clone(),
            updated_at: now_ms,
            ..old
        };
        let new_sk = sort_key(new.match_date(), new.created_at, id);
        if new_sk == guard.match_sk {
            return self.update_in_place(game, &guard.match_sk, &new).await;
        }
        let moved = Guard {
            owner: user,
            match_sk: new_sk.clone(),
        };
        let actions = vec![
            delete_if_present(&table, match_key(user, &guard.match_sk))?,
            put_if_absent(&table, match_item(&new, &new_sk))?,
            repoint_guard(&table, id, &guard, &moved)?,
        ];
        if self.transact("move a match", actions).await? {
            Ok(Attempt::Done(Some(new)))
        } else {
            Ok(Attempt::Again)
        }
    }

    /// Rewrites the fields of a match whose sort key stays the same: SET every value
    /// given, REMOVE every catalog field left out (an optional field cleared).
    async fn update_in_place(
        &self,
        game: &Game,
        sk: &str,
        new: &StoredMatch,
    ) -> Result<Attempt<Option<StoredMatch>>, StoreError> {
        let mut expr = Expr::default();
        let mut sets = vec![format!(
            "{} = {}",
            expr.name(UPDATED),
            expr.value(n(new.updated_at))
        )];
        let mut removes = Vec::new();
        for field in &game.fields {
            let name = expr.name(&field.name);
            match new.fields.get(&field.name) {
                Some(value) => sets.push(format!("{name} = {}", expr.value(to_attribute(value)))),
                None => removes.push(name),
            }
        }
        let mut update = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            update.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let condition = format!("attribute_exists({})", expr.name(PK));
        let outcome = self
            .client
            .update_item()
            .table_name(self.table_name(game))
            .set_key(Some(match_key(new.user_id, sk)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match outcome {
            Ok(output) => {
                let item = output.attributes().cloned().unwrap_or_default();
                Ok(Attempt::Done(Some(decode_match(game, &item)?)))
            }
            Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(Attempt::Again),
            Err(err) => Err(classify("update a match", err)),
        }
    }

    async fn try_delete(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
    ) -> Result<Attempt<bool>, StoreError> {
        let table = self.table_name(game);
        let Some(guard) = self.guard(&table, id).await?.filter(|g| g.owner == user) else {
            return Ok(Attempt::Done(false));
        };
        let actions = vec![
            delete_if_present(&table, match_key(user, &guard.match_sk))?,
            delete_guard(&table, id, &guard)?,
        ];
        if self.transact("delete a match", actions).await? {
            Ok(Attempt::Done(true))
        } else {
            Ok(Attempt::Again)
        }
    }

    /// Deletes the given keys in batches of 25, resending what DynamoDB leaves unprocessed.
    async fn batch_delete(&self, table: &str, keys: Vec<Item>) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_LIMIT) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder().set_key(Some(key.clone())).build();
                    delete.map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<_, _>>()
                .map_err(built)?;
            for attempt in 0..8u32 {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending)
                    .send()
                    .await
                    .map_err(|err| classify("delete a user's matches", err))?;
                pending = output
                    .unprocessed_items()
                    .and_then(|unprocessed| unprocessed.get(table))
                    .cloned()
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "delete a user's matches: DynamoDB kept requests unprocessed".into(),
                ));
            }
        }
        Ok(())
    }
}

/// The outcome of one attempt at a write that may race another.
enum Attempt<T> {
    Done(T),
    Again,
}

fn retries_exhausted(doing: &str) -> StoreError {
    StoreError::Unavailable(format!("{doing}: other writes kept getting in the way"))
}

#[async_trait]
impl ResultStore for DynamoStore {
    async fn insert(&self, game: &Game, record: &StoredMatch) -> Result<Inserted, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Some(outcome) = self.try_insert(game, record).await? {
                return Ok(outcome);
            }
        }
        Err(retries_exhausted("insert a match"))
    }

    async fn get(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredMatch>, StoreError> {
        let table = self.table_name(game);
        match self.guard(&table, id).await? {
            Some(guard) if guard.owner == user => {
                self.match_item(game, user, &guard.match_sk).await
            }
            _ => Ok(None),
        }
    }

    async fn update(
        &self,
        game: &Game,
        user: Uuid,
        id: Uuid,
        fields: &Map<String, Json>,
        now_ms: i64,
    ) -> Result<Option<StoredMatch>, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Attempt::Done(outcome) = self.try_update(game, user, id, fields, now_ms).await? {
                return Ok(outcome);
            }
        }
        Err(retries_exhausted("update a match"))
    }

    async fn delete(&self, game: &Game, user: Uuid, id: Uuid) -> Result<bool, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Attempt::Done(deleted) = self.try_delete(game, user, id).await? {
                return Ok(deleted);
            }
        }
        Err(retries_exhausted("delete a match"))
    }

    async fn list(&self, game: &Game, user: Uuid) -> Result<Vec<StoredMatch>, StoreError> {
        let items = self.query_user(game, user, false).await?;
        items.iter().map(|item| decode_match(game, item)).collect()
    }

    /// Account deletion: the user's match items, then their id guards, in batches.
    /// Items go first so that a failure part-way leaves guards (harmless: they only keep
    /// the ids taken) rather than matches without guards.
    async fn delete_all(&self, user: Uuid) -> Result<(), StoreError> {
        for game in self.catalog.games() {
            let table = self.table_name(game);
            let keys = self.query_user(game, user, true).await?;
            let mut guards = Vec::with_capacity(keys.len());
            for key in &keys {
                let sk = text(key, SK)?;
                let id = sk
                    .rsplit('#')
                    .next()
                    .and_then(|id| Uuid::parse_str(id).ok());
                let id = id.ok_or_else(|| damaged("sort key"))?;
                guards.push(guard_key(id));
            }
            self.batch_delete(&table, keys).await?;
            self.batch_delete(&table, guards).await?;
        }
        Ok(())
    }

    /// Reads a key that is never written from every game's table: a data-plane call, cheap
    /// at a probe a second, that fails at once when a table is missing.
    async fn ping(&self) -> Result<(), StoreError> {
        let tables = async {
            for game in self.catalog.games() {
                self.ping_table(&self.table_name(game)).await?;
            }
            Ok(())
        };
        tokio::time::timeout(PING_BUDGET, tables)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "ping: no answer within {PING_BUDGET:?}"
                )))
            })
    }
}

/// Who owns an id, and the sort key of the match it names.
struct Guard {
    owner: Uuid,
    match_sk: String,
}

impl Guard {
    fn decode(item: &Item) -> Result<Self, StoreError> {
        let owner = Uuid::parse_str(text(item, OWNER)?).map_err(|_| damaged(OWNER))?;
        Ok(Self {
            owner,
            match_sk: text(item, MATCH_SK)?.to_string(),
        })
    }

    fn item(&self, id: Uuid) -> Item {
        let mut item = guard_key(id);
        item.insert(OWNER.into(), s(self.owner));
        item.insert(MATCH_SK.into(), AttributeValue::S(self.match_sk.clone()));
        item
    }
}

/// Placeholders for one request's expressions: every attribute name becomes `#nK` and
/// every value `:vK` (PC-01).
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| *a == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names
            .insert(placeholder.clone(), attribute.to_string());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// Every attribute a match item can carry: the internal ones and the game's fields.
    fn projection(&mut self, game: &Game) -> String {
        let attributes = INTERNAL
            .iter()
            .copied()
            .chain(game.fields.iter().map(|f| f.name.as_str()));
        attributes
            .map(|a| self.name(a))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `None` when empty: DynamoDB refuses empty maps.
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Newest first when read backwards: dates are fixed-width, creation times zero-padded,
/// and hyphenated UUID text orders like the UUID's bytes.
fn sort_key(date: &str, created_at: i64, id: Uuid) -> String {
    format!("{date}#{created_at:015}#{id}")
}

fn s(value: impl ToString) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn match_key(user: Uuid, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(user)), (SK.to_string(), s(sk))])
}

fn guard_key(id: Uuid) -> Item {
    HashMap::from([
        (PK.to_string(), s(format!("id#{id}"))),
        (SK.to_string(), s(GUARD_SK)),
    ])
}

fn match_item(record: &StoredMatch, sk: &str) -> Item {
    let mut item = match_key(record.user_id, sk);
    item.insert(ID.into(), s(record.id));
    item.insert(CREATED.into(), n(record.created_at));
    item.insert(UPDATED.into(), n(record.updated_at));
    for (name, value) in &record.fields {
        item.insert(name.clone(), to_attribute(value));
    }
    item
}

fn decode_match(game: &Game, item: &Item) -> Result<StoredMatch, StoreError> {
    let mut fields = Map::new();
    for field in &game.fields {
        if let Some(value) = item.get(&field.name) {
            fields.insert(field.name.clone(), from_attribute(value)?);
        }
    }
    Ok(StoredMatch {
        id: Uuid::parse_str(text(item, ID)?).map_err(|_| damaged(ID))?,
        user_id: Uuid::parse_str(text(item, PK)?).map_err(|_| damaged(PK))?,
        fields,
        created_at: number(item, CREATED)?,
        updated_at: number(item, UPDATED)?,
    })
}

/// JSON to DynamoDB. Numbers keep their exact decimal text.
fn to_attribute(value: &Json) -> AttributeValue {
    match value {
        Json::Null => AttributeValue::Null(true),
        Json::Bool(flag) => AttributeValue::Bool(*flag),
        Json::Number(number) => AttributeValue::N(number.to_string()),
        Json::String(text) => AttributeValue::S(text.clone()),
        Json::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Json::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// DynamoDB to JSON. A number's text is parsed as a JSON number, which keeps integers
/// exact (serde_json reads them as i64/u64, never through f64).
fn from_attribute(value: &AttributeValue) -> Result<Json, StoreError> {
    Ok(match value {
        AttributeValue::Null(_) => Json::Null,
        AttributeValue::Bool(flag) => Json::Bool(*flag),
        AttributeValue::N(text) => {
            Json::Number(serde_json::from_str::<Number>(text).map_err(|_| damaged("number"))?)
        }
        AttributeValue::S(text) => Json::String(text.clone()),
        AttributeValue::L(items) => {
            Json::Array(items.iter().map(from_attribute).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Json::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
                .collect::<Result<_, StoreError>>()?,
        ),
        _ => return Err(damaged("attribute type")),
    })
}

fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(text)) => Ok(text),
        _ => Err(damaged(name)),
    }
}

fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().map_err(|_| damaged(name)),
        _ => Err(damaged(name)),
    }
}

fn damaged(what: &str) -> StoreError {
    StoreError::Internal(format!("a stored item has a bad {what}"))
}

fn built(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Internal(format!("build a DynamoDB request: {err}"))
}

fn put_if_absent(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let mut expr = Expr::default();
    let condition = format!("attribute_not_exists({})", expr.name(PK));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .set_expression_attribute_names(expr.names())
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn delete_if_present(table: &str, key: Item) -> Result<TransactWriteItem, StoreError> {
    let mut expr = Expr::default();
    let condition = format!("attribute_exists({})", expr.name(PK));
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(condition)
        .set_expression_attribute_names(expr.names())
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// The guard's owner and match position must still be what we read.
fn guard_unchanged(expr: &mut Expr, guard: &Guard) -> String {
    format!(
        "{} = {} AND {} = {}",
        expr.name(OWNER),
        expr.value(s(guard.owner)),
        expr.name(MATCH_SK),
        expr.value(s(&guard.match_sk)),
    )
}

fn delete_guard(table: &str, id: Uuid, guard: &Guard) -> Result<TransactWriteItem, StoreError> {
    let mut expr = Expr::default();
    let condition = guard_unchanged(&mut expr, guard);
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(guard_key(id)))
        .condition_expression(condition)
        .set_expression_attribute_names(expr.names())
        .set_expression_attribute_values(expr.values())
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

fn repoint_guard(
    table: &str,
    id: Uuid,
    old: &Guard,
    new: &Guard,
) -> Result<TransactWriteItem, StoreError> {
    let mut expr = Expr::default();
    let condition = guard_unchanged(&mut expr, old);
    let update = format!(
        "SET {} = {}",
        expr.name(MATCH_SK),
        expr.value(s(&new.match_sk))
    );
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(guard_key(id)))
        .update_expression(update)
        .condition_expression(condition)
        .set_expression_attribute_names(expr.names())
        .set_expression_attribute_values(expr.values())
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A transaction cancelled because a condition failed or a concurrent transaction
/// touched the same items: the caller reads again and decides.
fn is_lost_race(err: &TransactWriteItemsError) -> bool {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = err else {
        return false;
    };
    cancelled.cancellation_reasons().iter().all(|reason| {
        matches!(
            reason.code(),
            None | Some("None" | "ConditionalCheckFailed" | "TransactionConflict")
        )
    })
}

/// Sorts an SDK error into "try again later" and "broken", saying what we were doing.
fn classify<E, R>(doing: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => matches!(
            err.code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "ThrottlingException"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "LimitExceededException"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    };
    let detail = format!("{doing}: {}", DisplayErrorContext(&err));
    if transient {
        StoreError::Unavailable(detail)
    } else {
        StoreError::Internal(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_read_backwards_are_newest_date_then_newest_creation() {
        let (low, high) = (Uuid::from_u128(1), Uuid::from_u128(u128::MAX));
        let mut keys = vec![
            sort_key("2026-11-01", 9_000, low),
            sort_key("2026-11-02", 5, low),
            sort_key("2026-11-01", 10_000, low),
            sort_key("2026-11-01", 10_000, high),
            sort_key("", 1, low),
        ];
        keys.sort();
        keys.reverse();
        assert_eq!(
            keys,
            [
                sort_key("2026-11-02", 5, low),
                sort_key("2026-11-01", 10_000, high),
                sort_key("2026-11-01", 10_000, low),
                sort_key("2026-11-01", 9_000, low),
                sort_key("", 1, low),
            ]
        );
    }

    #[test]
    fn numbers_cross_as_exact_decimal_text() {
        for text in [
            "9007199254740993",
            "-9223372036854775808",
            "18446744073709551615",
        ] {
            let json: Json = serde_json::from_str(text).unwrap();
            let attribute = to_attribute(&json);
            assert_eq!(attribute, AttributeValue::N(text.into()));
            assert_eq!(from_attribute(&attribute).unwrap().to_string(), text);
        }
        let nested = serde_json::json!({"names": ["Ann", ""], "flag": true, "none": null});
        assert_eq!(from_attribute(&to_attribute(&nested)).unwrap(), nested);
        assert!(from_attribute(&AttributeValue::N("not a number".into())).is_err());
    }

    #[test]
    fn expressions_name_every_attribute_through_a_placeholder() {
        let game = Catalog::builtin().game("hots").unwrap();
        let mut expr = Expr::default();
        let projection = expr.projection(game);
        for word in ["map", "time", "result", "date", "user_id"] {
            assert!(
                !projection.split(", ").any(|part| part == word),
                "{word} appears bare in {projection}"
            );
        }
        assert!(projection.split(", ").all(|part| part.starts_with("#n")));
        assert_eq!(
            expr.name("map"),
            expr.name("map"),
            "one placeholder per name"
        );
        let names = expr.names().unwrap();
        assert_eq!(names.len(), INTERNAL.len() + game.fields.len());
        assert!(Expr::default().names().is_none(), "no empty maps are sent");
    }

    #[test]
    fn catalogs_whose_fields_clash_with_item_attributes_are_refused() {
        let text = r#"{"games":[{"slug":"x","label":"X","released":"2020-01-01","fields":[
            {"name":"date","label":"Date","kind":"date"},
            {"name":"sk","label":"Sk","kind":"whole","min":0,"max":1}]}]}"#;
        let catalog: &'static Catalog = Box::leak(Box::new(Catalog::from_json(text).unwrap()));
        let refused = DynamoStore::for_local_endpoint("http://127.0.0.1:9", "t-", catalog);
        assert!(matches!(refused, Err(StoreError::Internal(_))));
    }

    /// A server that takes connections and never answers (a blackholed endpoint): the
    /// ping reports it down within its budget, before a readiness probe gives up, and a
    /// request gives up before `web` does (5 s).
    #[tokio::test]
    async fn a_silent_server_is_reported_unavailable_within_the_budgets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        let store = DynamoStore::for_local_endpoint(&endpoint, "t-", Catalog::builtin()).unwrap();
        let started = std::time::Instant::now();
        let outcome = store.ping().await;
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "{:?}",
            started.elapsed()
        );

        let started = std::time::Instant::now();
        let game = Catalog::builtin().game("apex").unwrap();
        let listed = store.list(game, Uuid::new_v4()).await;
        assert!(
            matches!(listed, Err(StoreError::Unavailable(_))),
            "{listed:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        held.abort();
    }

    #[tokio::test]
    async fn an_unreachable_server_is_reported_unavailable_quickly() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let store = DynamoStore::for_local_endpoint(&endpoint, "t-", Catalog::builtin()).unwrap();
        let started = std::time::Instant::now();
        let outcome = store.ping().await;
        assert!(
            matches!(outcome, Err(StoreError::Unavailable(_))),
            "{outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a ping never retries"
        );
        let game = Catalog::builtin().game("apex").unwrap();
        let listed = store.list(game, Uuid::new_v4()).await;
        assert!(
            matches!(listed, Err(StoreError::Unavailable(_))),
            "{listed:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }
}
