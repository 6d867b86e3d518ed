//! `seed`: fill a tenant with benchmark data straight into the database (bulk inserts of
//! rows built by the server's own projection code, then the bot counts and the finance daily
//! totals rebuilt from them, so lists and aggregates see exactly what the API would have
//! written), far faster than 300,000 POSTs.

use std::time::Instant;

use anyhow::Context;
use botmox_server::db::{Db, TenantId};
use botmox_server::records::documents::store::{self, NewRecord};
use botmox_server::records::documents::{counts, totals};
use botmox_server::records::kinds::{BOT_STATUSES, Kind};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Database URL, as for `botmox serve` (sqlite:... or postgres://...).
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value = "default")]
    tenant: String,
    #[arg(long, default_value_t = 100_000)]
    bots: usize,
    #[arg(long, default_value_t = 200_000)]
    operations: usize,
    /// Projects `p0`..`pN-1` are defined in settings and spread over the records.
    #[arg(long, default_value_t = 4)]
    projects: usize,
    /// Operations are spread over this many days before now.
    #[arg(long, default_value_t = 730)]
    days: i64,
}

const BATCH: usize = 1_000;
const DAY_MS: i64 = 86_400_000;
const CATEGORIES: [&str; 5] = [
    "sale",
    "proxy",
    "subscription_game",
    "subscription_bot",
    "other",
];

fn record<'a>(
    tenant: &'a TenantId,
    kind: Kind,
    id: &'a str,
    doc: Value,
    now: i64,
) -> NewRecord<'a> {
    let map: Map<String, Value> = match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    NewRecord {
        tenant_id: tenant,
        kind,
        id,
        projection: kind.project(&map),
        data: Value::Object(map).to_string(),
        now_ms: now,
        owner_id: None,
    }
}

async fn insert_all(
    db: &Db,
    tenant: &TenantId,
    kind: Kind,
    docs: Vec<(String, Value)>,
    now: i64,
) -> anyhow::Result<()> {
    for chunk in docs.chunks(BATCH) {
        let rows = chunk
            .iter()
            .map(|(id, doc)| record(tenant, kind, id, doc.clone(), now))
            .collect();
        db.write(async |txn| store::insert_many(txn, rows).await)
            .await?;
    }
    Ok(())
}

/// The database at `url`, migrated to this build's schema.
pub async fn open(url: &str) -> anyhow::Result<Db> {
    Db::open(url, 4).await.context("cannot open the database")
}

pub async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = open(&args.database_url).await?;
    let mut rng = StdRng::seed_from_u64(7);
    let now = chrono::Utc::now().timestamp_millis();
    let projects: Map<String, Value> = (0..args.projects)
        .map(|i| (format!("p{i}"), json!({"name": format!("Project {i}")})))
        .collect();
    let tenant = TenantId::trusted(args.tenant.clone());
    let tree = json!({ "projects": projects }).to_string();
    let fresh = db
        .write(async |txn| botmox_server::settings::store::save(txn, &tenant, tree, 0, now).await)
        .await?;
    if !fresh {
        anyhow::bail!(
            "tenant '{}' already has data; seed a fresh database",
            args.tenant
        );
    }

    let bots: Vec<(String, Value)> = (0..args.bots)
        .map(|i| {
            let doc = json!({
                "name": format!("bot-{i:06}"),
                "status": BOT_STATUSES[i % BOT_STATUSES.len()],
                "project_id": format!("p{}", i % args.projects),
                "character": {"name": format!("Char{i}"), "level": 1 + (i % 70), "faction": "horde"},
            });
            (format!("bench-bot-{i}"), doc)
        })
        .collect();
    insert_all(&db, &tenant, Kind::Bot, bots, now).await?;
    db.write(async |txn| counts::rebuild(txn, &tenant).await)
        .await?;
    eprintln!(
        "seed: {} bots in {:.1}s",
        args.bots,
        started.elapsed().as_secs_f64()
    );

    let ops: Vec<(String, Value)> = (0..args.operations)
        .map(|i| {
            let income = i % 3 != 0;
            let doc = json!({
                "type": if income { "income" } else { "expense" },
                "category": if income { "sale" } else { CATEGORIES[1 + i % 4] },
                "amount": (rng.gen_range(100..50_000) as f64) / 100.0,
                "currency": if i % 10 == 0 { "gold" } else { "USD" },
                "date": now - rng.gen_range(0..args.days * DAY_MS),
                "project_id": format!("p{}", i % args.projects),
                "bot_id": format!("bench-bot-{}", rng.gen_range(0..args.bots.max(1))),
            });
            (format!("bench-op-{i}"), doc)
        })
        .collect();
    insert_all(&db, &tenant, Kind::FinanceOperation, ops, now).await?;
    db.write(async |txn| totals::rebuild(txn, &tenant).await)
        .await?;
    db.after_bulk_load().await?;
    eprintln!(
        "seed: {} bots and {} operations in tenant '{}' in {:.1}s",
        args.bots,
        args.operations,
        args.tenant,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
