//! Finance aggregates over the API, computed from the operations in SQL: per day, week and
//! month, per category and project, one currency at a time; and the Overview figures; on
//! SQLite and PostgreSQL.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

/// Epoch ms of a UTC date.
fn ms(y: i32, m: u32, d: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

fn day(y: i32, m: u32, d: u32) -> i64 {
    ms(y, m, d) - 12 * 3_600_000
}

/// The summary of January 2026.
async fn january(server: &TestServer, token: &str) -> Value {
    let url = format!(
        "/api/v1/finance/summary?from={}&to={}",
        day(2026, 1, 1),
        day(2026, 2, 1)
    );
    let (status, body) = server.get(&url, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

both_backends! {
    async fn gold_sold_and_its_average_price_follow_the_operations(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        server.put("/api/v1/settings/projects", t, json!({"tbc": {"name": "TBC"}, "mid": {"name": "Midnight"}})).await;
        let mut ids = Vec::new();
        for (kind, category, amount, gold, project) in [
            ("income", "sale", 40.0, Some(2000.0), "tbc"),
            ("income", "sale", 30.0, Some(1000.0), "tbc"),
            ("income", "sale", 12.0, None, "tbc"),
            ("income", "sale", 5.0, Some(500.0), "mid"),
            ("expense", "proxy", 8.0, None, "tbc"),
        ] {
            let mut body = json!({"type": kind, "category": category, "amount": amount, "currency": "USD",
                "date": ms(2026, 1, 5), "project_id": project});
            if let Some(g) = gold {
                body["gold_amount"] = json!(g);
                body["gold_price_at_time"] = json!(amount / g * 1000.0);
            }
            ids.push(server.create("/api/v1/finance/operations", t, body).await);
        }
        let data = january(&server, t).await;
        // Sold: 3,500 g for 75 USD, 21.428571 per 1000 g; TBC 3,000 g for 70, 23.333333.
        assert_eq!((&data["totals"]["gold_sold"], &data["totals"]["gold_price_per_1000"]), (&json!(3500.0), &json!(21.428571)), "{data}");
        let tbc = data["by_project"].as_array().unwrap().iter().find(|p| p["project_id"] == "tbc").unwrap().clone();
        assert_eq!((&tbc["gold_sold"], &tbc["gold_price_per_1000"], &tbc["income"]), (&json!(3000.0), &json!(23.333333), &json!(82.0)));
        // The period of the sales holds each project's gold and price; the others none.
        let periods = data["series"].as_array().unwrap();
        let sold: Vec<&Value> = periods.iter().filter(|b| !b["gold"].as_array().unwrap().is_empty()).collect();
        assert_eq!(sold.len(), 1, "{data}");
        assert_eq!(sold[0]["gold"], json!([
            {"project_id": "mid", "gold_sold": 500.0, "gold_price_per_1000": 10.0},
            {"project_id": "tbc", "gold_sold": 3000.0, "gold_price_per_1000": 23.333333}]));
        // A change of gold alone moves the figures; a deleted sale takes its gold away.
        let (status, _) = server.patch(&format!("/api/v1/finance/operations/{}", ids[1]), t, json!({"gold_amount": 2000.0})).await;
        assert!(status.is_success());
        let data = january(&server, t).await;
        assert_eq!(data["totals"]["gold_sold"], json!(4500.0));
        let (status, _) = server.delete(&format!("/api/v1/finance/operations/{}", ids[0]), t).await;
        assert!(status.is_success());
        let data = january(&server, t).await;
        let tbc = data["by_project"].as_array().unwrap().iter().find(|p| p["project_id"] == "tbc").unwrap().clone();
        assert_eq!((&tbc["gold_sold"], &tbc["gold_price_per_1000"]), (&json!(2000.0), &json!(15.0)));
        assert_eq!(data["totals"]["gold_sold"], json!(2500.0));
    }

    async fn aggregates_add_up_per_period_category_and_project(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        server.put("/api/v1/settings/projects", t, json!({"tbc": {"name": "TBC"}, "mid": {"name": "Midnight"}})).await;
        let a = server.create("/api/v1/bots", t, json!({"name": "a", "status": "farming"})).await;
        let b = server.create("/api/v1/bots", t, json!({"name": "b"})).await;
        let mut ids = vec![String::new(); 7];
        for (i, (kind, category, amount, currency, date, project, bot)) in [
            ("income", "sale", 100.0, "USD", ms(2026, 1, 5), "tbc", Some(&a)),
            ("income", "sale", 50.5, "USD", ms(2026, 1, 5), "mid", Some(&b)),
            ("expense", "proxy", 20.0, "USD", ms(2026, 1, 6), "tbc", Some(&a)),
            ("expense", "subscription_game", 15.0, "USD", ms(2026, 2, 1), "tbc", None),
            ("income", "sale", 30.0, "USD", ms(2026, 3, 31), "mid", Some(&a)),
            ("income", "sale", 9999.0, "gold", ms(2026, 1, 5), "tbc", Some(&a)),
            ("income", "sale", 7.0, "USD", ms(2025, 12, 31), "tbc", Some(&a)),
        ].into_iter().enumerate() {
            ids[i] = server.create("/api/v1/finance/operations", t, json!({"type": kind, "category": category, "amount": amount,
                "currency": currency, "date": date, "project_id": project, "bot_id": bot})).await;
        }
        let q = format!("from={}&to={}", day(2026, 1, 1), day(2026, 4, 1));
        let (status, month) = server.get(&format!("/api/v1/finance/summary?{q}&period=month"), t).await;
        assert_eq!(status, StatusCode::OK, "{month}");
        let m = &month["data"];
        assert_eq!(m["totals"], json!({"income": 180.5, "expense": 35.0, "profit": 145.5, "operations": 5,
            "gold_sold": 0.0, "gold_price_per_1000": null, "active_bots": 1}));
        let series: Vec<(String, f64, f64, i64)> = m["series"].as_array().unwrap().iter().map(|b| (
            b["period"].as_str().unwrap().to_owned(), b["income"].as_f64().unwrap(), b["expense"].as_f64().unwrap(),
            b["operations"].as_i64().unwrap())).collect();
        assert_eq!(series, [("2026-01-01".into(), 150.5, 20.0, 3), ("2026-02-01".into(), 0.0, 15.0, 1), ("2026-03-01".into(), 30.0, 0.0, 1)]);
        let categories: Vec<Value> = m["by_category"].as_array().unwrap().clone();
        assert!(categories.contains(&json!({"type": "income", "category": "sale", "total": 180.5})), "{categories:?}");
        assert!(categories.contains(&json!({"type": "expense", "category": "proxy", "total": 20.0})));
        assert_eq!(m["by_project"], json!([
            {"project_id": "mid", "income": 80.5, "expense": 0.0, "profit": 80.5, "gold_sold": 0.0, "gold_price_per_1000": null},
            {"project_id": "tbc", "income": 100.0, "expense": 35.0, "profit": 65.0, "gold_sold": 0.0, "gold_price_per_1000": null},
        ]));

        // The totals follow edits and deletes of operations.
        let (status, _) = server.patch(&format!("/api/v1/finance/operations/{}", ids[2]), t, json!({"amount": 25, "category": "other"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.delete(&format!("/api/v1/finance/operations/{}", ids[3]), t).await.0, StatusCode::OK);
        let (_, after) = server.get(&format!("/api/v1/finance/summary?{q}&period=month"), t).await;
        let months: Vec<f64> = after["data"]["series"].as_array().unwrap().iter().map(|b| b["expense"].as_f64().unwrap()).collect();
        assert_eq!(months, [25.0, 0.0, 0.0]);
        let categories = after["data"]["by_category"].as_array().unwrap();
        assert!(!categories.iter().any(|c| c["category"] == "proxy" || c["category"] == "subscription_game"), "{categories:?}");
        server.patch(&format!("/api/v1/finance/operations/{}", ids[2]), t, json!({"amount": 20, "category": "proxy"})).await;
        server.create("/api/v1/finance/operations", t, json!({"type": "expense", "category": "subscription_game", "amount": 15,
            "currency": "USD", "date": ms(2026, 2, 1), "project_id": "tbc"})).await;

        let (_, week) = server.get(&format!("/api/v1/finance/summary?from={}&to={}&period=week", day(2026, 1, 5), day(2026, 1, 19)), t).await;
        let weeks: Vec<(&str, f64)> = week["data"]["series"].as_array().unwrap().iter()
            .map(|b| (b["period"].as_str().unwrap(), b["profit"].as_f64().unwrap())).collect();
        assert_eq!(weeks, [("2026-01-05", 130.5), ("2026-01-12", 0.0)], "Monday-based weeks");

        let (_, gold) = server.get(&format!("/api/v1/finance/summary?{q}&currency=gold&project_id=tbc"), t).await;
        assert_eq!(gold["data"]["totals"]["income"], 9999.0);

        let (_, daily) = server.get(&format!("/api/v1/finance/daily-stats?{q}"), t).await;
        assert_eq!(daily["data"]["2026-01-05"], json!({"date": "2026-01-05", "total_expenses": 0.0, "total_revenue": 150.5, "net_profit": 150.5, "operations": 2}));
        assert_eq!(daily["data"].as_object().unwrap().len(), 4, "days with operations only");

        for bad in ["period=year", "from=10&to=5", "from=0&to=1900000000000&period=day", "from=x"] {
            let (status, _) = server.get(&format!("/api/v1/finance/summary?{bad}"), t).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let other = server.user_session("other", "x@other.example", Role::User).await;
        let (_, theirs) = server.get(&format!("/api/v1/finance/summary?{q}&period=month"), &other.access_token).await;
        assert_eq!(theirs["data"]["totals"]["operations"], 0, "per tenant");
    }

    async fn overview_counts_bots_resources_money_and_what_expires(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        server.put("/api/v1/settings", t, json!({"alerts": {"warning_days": 10},
            "projects": {"p1": {"name": "Alpha"}, "p2": {"name": "Beta"}}})).await;
        let mut p1 = Vec::new();
        for status in ["farming", "farming", "leveling"] {
            p1.push(server.create("/api/v1/bots", t, json!({"name": "x", "project_id": "p1", "status": status})).await);
        }
        server.post(&format!("/api/v1/bots/{}/lifecycle/ban", p1[2]), t,
            json!({"ban_date": "01.11.2026", "ban_reason": "r", "ban_mechanism": "other"})).await;
        server.create("/api/v1/bots", t, json!({"name": "y", "project_id": "p2", "status": "prepare"})).await;
        server.create("/api/v1/bots", t, json!({"name": "z"})).await;

        let now = chrono::Utc::now().timestamp_millis();
        // An hour short of n days: n started days left.
        let days = |n: i64| now + n * 86_400_000 - 3_600_000;
        server.create("/api/v1/resources/licenses", t, json!({"key": "A", "type": "pro", "status": "active", "expires_at": days(3), "bot_ids": [p1[0]]})).await;
        server.create("/api/v1/resources/licenses", t, json!({"key": "B", "status": "active", "expires_at": days(100)})).await;
        server.create("/api/v1/resources/licenses", t, json!({"key": "C", "status": "active", "expires_at": days(-2)})).await;
        server.create("/api/v1/resources/proxies", t, json!({"ip": "10.1.1.1", "port": 8000, "status": "active", "expires_at": days(5)})).await;
        server.create("/api/v1/resources/proxies", t, json!({"ip": "10.1.1.2", "port": 8000, "status": "banned", "expires_at": days(1)})).await;
        server.create("/api/v1/resources/subscriptions", t, json!({"type": "wow", "status": "active", "expires_at": days(20)})).await;
        server.create("/api/v1/workspace/notes", t, json!({"title": "pinned one", "is_pinned": true})).await;
        server.create("/api/v1/workspace/notes", t, json!({"title": "two"})).await;
        server.create("/api/v1/workspace/notes", t, json!({"title": "three"})).await;
        for (kind, category, amount, currency) in [("income", "sale", 100.0, "USD"), ("expense", "proxy", 40.0, "USD"), ("income", "sale", 5.0, "gold")] {
            server.create("/api/v1/finance/operations", t, json!({"type": kind, "category": category, "amount": amount,
                "currency": currency, "date": now - 3_600_000})).await;
        }

        let (status, o) = server.get("/api/v1/overview", t).await;
        assert_eq!(status, StatusCode::OK, "{o}");
        let o = &o["data"];
        assert_eq!(o["warning_days"], 10);
        assert_eq!(o["bots_total"], 5);
        assert_eq!(o["bots_by_status"], json!([{"status": "banned", "count": 1}, {"status": "farming", "count": 2},
            {"status": "offline", "count": 1}, {"status": "prepare", "count": 1}]));
        assert_eq!(o["projects"][0]["name"], "Alpha");
        assert_eq!(o["projects"][0]["total"], 3);
        assert_eq!(o["projects"][1]["total"], 1);
        assert_eq!(o["licenses"], json!({"total": 3, "active": 1, "expiring": 1, "expired": 1, "unassigned": 2}));
        assert_eq!(o["proxies"], json!({"total": 2, "active": 0, "expiring": 1, "expired": 0, "unassigned": 2}),
            "a banned proxy is neither active, expiring nor expired");
        assert_eq!(o["subscriptions"]["expiring"], 0, "20 days is beyond the 10-day warning");
        assert_eq!((o["finance"]["income"].clone(), o["finance"]["expense"].clone(), o["finance"]["profit"].clone()),
            (json!(100.0), json!(40.0), json!(60.0)), "USD only");
        assert_eq!((o["notes"]["pinned"].clone(), o["notes"]["regular"].clone()), (json!(1), json!(2)));
        assert_eq!(o["notes"]["recent"].as_array().unwrap().len(), 3);
        let expiring: Vec<(&str, i64)> = o["expiring"].as_array().unwrap().iter()
            .map(|e| (e["label"].as_str().unwrap(), e["days_left"].as_i64().unwrap())).collect();
        assert_eq!(expiring, [("License (pro)", 3), ("Proxy (10.1.1.1:8000)", 5)], "banned proxies never expire");
        assert_eq!(o["expiring"][0]["bot_id"], json!(p1[0]));
        assert_eq!(o["expiring"][0]["bot_name"], "x", "the bot by name, not only its id");

        // The lists agree with the Overview: each state it counts, the status filter finds,
        // and each record carries the same effective status and days left.
        for (kind, path) in [("licenses", "/api/v1/resources/licenses"), ("proxies", "/api/v1/resources/proxies"),
            ("subscriptions", "/api/v1/resources/subscriptions")] {
            for state in ["active", "expiring", "expired"] {
                let (_, list) = server.get(&format!("{path}?status={state}"), t).await;
                assert_eq!(list["meta"]["total"], o[kind][state], "{kind} {state}: {list}");
                for r in list["data"].as_array().unwrap() {
                    assert_eq!(r["effective_status"], state, "{r}");
                }
            }
        }
        let (_, listed) = server.get("/api/v1/resources/licenses?sort=key", t).await;
        let states: Vec<(Value, Value)> = listed["data"].as_array().unwrap().iter()
            .map(|l| (l["effective_status"].clone(), l["days_left"].clone())).collect();
        assert_eq!(states, [(json!("expiring"), json!(3)), (json!("active"), json!(100)), (json!("expired"), json!(-2))]);
        assert_eq!(listed["data"][2]["status"], "active", "the stored status is kept as set");
    }

    async fn amounts_are_money_and_categories_fit_their_type(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let op = |kind: &str, category: &str, amount: Value| json!({"type": kind, "category": category,
            "amount": amount, "currency": "USD", "date": ms(2026, 1, 5)});
        for (body, field) in [
            (op("income", "sale", json!(1.7e308)), "amount"),
            (op("income", "sale", json!(1e12 + 1.0)), "amount"),
            (op("income", "sale", json!("1e309")), "amount"),
            (op("income", "sale", json!(-50)), "amount"),
            (op("expense", "proxy", json!(-0.01)), "amount"),
            (op("expense", "sale", json!(10)), "category"),
            (op("income", "proxy", json!(10)), "category"),
            (op("income", "subscription_game", json!(10)), "category"),
            ({ let mut b = op("income", "sale", json!(1)); b["gold_amount"] = json!(1.7e308); b }, "gold_amount"),
        ] {
            let (status, err) = server.post("/api/v1/finance/operations", t, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
            assert!(err["error"]["details"]["fieldErrors"][field].is_array(), "{body}: {err}");
        }
        let (_, list) = server.get("/api/v1/finance/operations", t).await;
        assert_eq!(list["meta"]["total"], 0, "nothing refused was stored");

        // What fits is taken: the largest amount, `other` and the tenant's own categories either way.
        for body in [op("income", "sale", json!(1e12)), op("expense", "other", json!(0)),
            op("income", "other", json!("12.5")), op("expense", "hosting", json!(3))] {
            let (status, created) = server.post("/api/v1/finance/operations", t, body.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{body}: {created}");
        }
        // A patch cannot make a pair that does not fit either.
        let id = server.create("/api/v1/finance/operations", t, op("expense", "proxy", json!(5))).await;
        let (status, err) = server.patch(&format!("/api/v1/finance/operations/{id}"), t, json!({"type": "income"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err["error"]["details"]["fieldErrors"]["category"].is_array(), "{err}");
    }

    async fn totals_stay_finite_through_writes_and_deletes(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let op = |amount: f64| json!({"type": "income", "category": "sale", "amount": amount,
            "currency": "USD", "date": ms(2026, 1, 5)});
        let summary = || async {
            let (status, body) = server.get(&format!("/api/v1/finance/summary?from={}&to={}", day(2026, 1, 5), day(2026, 1, 6)), t).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["data"]["totals"].clone()
        };
        let (status, _) = server.post("/api/v1/finance/operations", t, op(1.7e308)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let big: Vec<String> = futures::future::join_all((0..2).map(|_| server.create("/api/v1/finance/operations", t, op(1e12)))).await;
        assert_eq!(summary().await["income"], 2e12);
        let kept = server.create("/api/v1/finance/operations", t, op(0.1)).await;
        server.patch(&format!("/api/v1/finance/operations/{kept}"), t, json!({"amount": 0.2})).await;
        for id in &big {
            assert_eq!(server.delete(&format!("/api/v1/finance/operations/{id}"), t).await.0, StatusCode::OK);
        }
        server.create("/api/v1/finance/operations", t, op(7.0)).await;
        let totals = summary().await;
        assert_eq!((totals["income"].clone(), totals["operations"].clone()), (json!(7.2), json!(2)), "{totals}");
        // Writers of the same day at the same moment: each one counts.
        let created = futures::future::join_all((0..16).map(|_| server.post("/api/v1/finance/operations", t, op(1.25)))).await;
        assert!(created.iter().all(|(status, _)| *status == StatusCode::CREATED), "{created:?}");
        let totals = summary().await;
        assert_eq!((totals["income"].clone(), totals["operations"].clone()), (json!(27.2), json!(18)), "{totals}");
        let stored = botmox_server::db::entity::finance_daily::Entity::find().all(server.state().db.read()).await.unwrap();
        assert!(stored.iter().all(|row| row.amount.is_finite()), "{stored:?}");
    }

    async fn the_totals_migration_repairs_poisoned_days(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let other = server.user_session("beta", "op@beta.example", Role::User).await;
        let op = |kind: &str, category: &str, amount: f64, date: i64| json!({"type": kind, "category": category,
            "amount": amount, "currency": "USD", "date": date});
        server.create("/api/v1/finance/operations", &s.access_token, op("income", "sale", 100.0, ms(2026, 1, 5))).await;
        server.create("/api/v1/finance/operations", &s.access_token, op("expense", "proxy", 30.0, ms(2026, 1, 5))).await;
        let legacy = server.create("/api/v1/finance/operations", &s.access_token, op("income", "sale", 1.0, ms(2026, 1, 6))).await;
        server.create("/api/v1/finance/operations", &other.access_token, op("income", "sale", 9.0, ms(2026, 1, 5))).await;

        // What the unbounded amounts left behind: a day at infinity, a stray day with no
        // operations, and an operation stored with an amount the API no longer takes.
        let infinity = match backend {
            botmox_testkit::Backend::Sqlite => "9e999",
            botmox_testkit::Backend::Postgres => "'Infinity'::float8",
        };
        server.execute(&format!("UPDATE finance_daily SET amount = {infinity} WHERE tenant_id = 'acme' AND type = 'income'")).await.unwrap();
        server.execute(&format!("INSERT INTO finance_daily (tenant_id, currency, day, project_id, category, type, amount, operations) \
            VALUES ('beta', 'USD', {}, '', 'other', 'income', 1e300, 3)", day(2026, 1, 7) / 86_400_000)).await.unwrap();
        server.execute(&format!("UPDATE records SET amount = 1.7e308 WHERE id = '{legacy}'")).await.unwrap();
        let range = format!("from={}&to={}", day(2026, 1, 1), day(2026, 2, 1));
        let (_, poisoned) = server.get(&format!("/api/v1/finance/summary?{range}"), &s.access_token).await;
        assert!(poisoned["data"]["totals"]["income"].is_null(), "staged: {poisoned}");

        // The migration runs again on a server started on this database.
        let changed = server.execute("DELETE FROM schema_migrations WHERE version = 'm20261202_000010_finance_totals'").await.unwrap();
        assert_eq!(changed, 1, "the migration was applied at start");
        let restarted = server.replica().await;
        let (_, repaired) = restarted.get(&format!("/api/v1/finance/summary?{range}"), &s.access_token).await;
        assert_eq!(repaired["data"]["totals"], json!({"income": 100.0, "expense": 30.0, "profit": 70.0, "operations": 2,
            "gold_sold": 0.0, "gold_price_per_1000": null, "active_bots": 0}),
            "the legacy amount is left out: {repaired}");
        let (_, theirs) = restarted.get(&format!("/api/v1/finance/summary?{range}"), &other.access_token).await;
        assert_eq!((theirs["data"]["totals"]["income"].clone(), theirs["data"]["totals"]["operations"].clone()), (json!(9.0), json!(1)));
        let stored = botmox_server::db::entity::finance_daily::Entity::find().all(restarted.state().db.read()).await.unwrap();
        assert!(stored.iter().all(|row| row.amount.is_finite() && row.amount.abs() < 1e12), "{stored:?}");
        // Deleting the legacy operation leaves the totals alone (it never counted).
        assert_eq!(restarted.delete(&format!("/api/v1/finance/operations/{legacy}"), &s.access_token).await.0, StatusCode::OK);
        let (_, after) = restarted.get(&format!("/api/v1/finance/summary?{range}"), &s.access_token).await;
        assert_eq!(after["data"]["totals"]["income"], 100.0);
        restarted.stop().await;
    }
}
