//! Bots over the API: the lifecycle (transitions, ban, unban) with its log and archive,
//! references checked on delete, and audited reveal of a bot's credentials, on SQLite and
//! PostgreSQL.

use botmox_proto::auth::Role;
use botmox_testkit::{TestServer, both_backends};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

async fn transition(server: &TestServer, t: &str, bot: &str, status: &str) -> (StatusCode, Value) {
    server
        .post(
            &format!("/api/v1/bots/{bot}/lifecycle/transition"),
            t,
            json!({ "status": status }),
        )
        .await
}

fn ban_body() -> Value {
    json!({"ban_date": "05.03.2026", "ban_reason": "detected by warden", "ban_mechanism": "game_suspension"})
}

both_backends! {
    async fn the_search_finds_bots_by_their_character_server_and_account(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let bot = server.create("/api/v1/bots", t, json!({"name": "farm-1",
            "character": {"name": "Char01", "server": "Gehennas", "level": 60},
            "account": {"email": "acc010@mail.example", "password": "pw-Gehennas-0"},
            "notes": [{"text": "Moved to Firemaw"}]})).await;
        server.create("/api/v1/bots", t, json!({"name": "farm-2",
            "character": {"name": "Other", "server": "Firemaw"}})).await;
        let found = |q: &'static str| {
            let server = &server;
            async move {
                let (status, page) = server.get(&format!("/api/v1/bots?q={q}"), t).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                page["data"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(found("char01").await, [bot.as_str()], "a character's name, in any case");
        assert_eq!(found("Gehennas").await, [bot.as_str()], "a character's server");
        assert_eq!(found("acc010%40mail").await, [bot.as_str()], "an account's e-mail");
        assert_eq!(found("firemaw").await.len(), 2, "a text inside a list, and a nested one");
        assert_eq!(found("pw-Gehennas").await, Vec::<String>::new(), "never a credential, at any depth");
        assert_eq!(found("01").await, [bot.as_str()], "a text too short for the index");
        assert_eq!(found("%25").await, Vec::<String>::new(), "a wildcard is taken literally");
        assert_eq!(found("%22char").await, Vec::<String>::new(), "a quote is taken literally");

        // The index follows the record's changes, and holds one tenant's records only.
        let (status, body) = server.patch(&format!("/api/v1/bots/{bot}"), t,
            json!({"character": {"name": "Renamed", "server": "Gehennas", "level": 60}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(found("char01").await, Vec::<String>::new(), "the old name");
        assert_eq!(found("renamed").await, [bot.as_str()], "the new name");
        let other = server.user_session("other", "x@other.example", Role::User).await;
        let theirs = server.create("/api/v1/bots", &other.access_token,
            json!({"name": "theirs", "character": {"name": "Renamed"}})).await;
        assert_eq!(found("renamed").await, [bot.as_str()], "not another tenant's bot");
        let (status, _) = server.delete(&format!("/api/v1/bots/{bot}"), t).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found("renamed").await, Vec::<String>::new(), "a deleted bot");
        let (_, page) = server.get("/api/v1/bots?q=renamed", &other.access_token).await;
        assert_eq!(page["data"][0]["id"], theirs.as_str(), "{page}");
        assert_eq!(page["meta"]["total"], 1, "{page}");
    }

    async fn generators_propose_a_person_an_account_and_names_and_respect_the_locks(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let bot = server.create("/api/v1/bots", t, json!({"name": "farm-1"})).await;
        let generate = |what: &'static str, body: Value| {
            let (server, bot) = (&server, bot.clone());
            async move { server.post(&format!("/api/v1/bots/{bot}/generate/{what}"), t, body).await }
        };

        let (status, person) = generate("person", json!({"country": "DE"})).await;
        assert_eq!(status, StatusCode::OK, "{person}");
        let person = person["data"].clone();
        assert_eq!(person["country"], "DE");
        for key in ["first_name", "last_name", "city", "zip", "address"] {
            assert!(!person[key].as_str().unwrap().is_empty(), "{person}");
        }
        let (status, err) = generate("person", json!({"country": "XX"})).await;
        assert_eq!((status, err["error"]["details"]["fieldErrors"]["country"].is_array()), (StatusCode::BAD_REQUEST, true), "{err}");

        // No person yet: no e-mail to make.
        let (status, err) = generate("account", json!({"domain": "mail.example"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        let (status, err) = generate("account", json!({"domain": "mail.example", "password": {"length": 40}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert!(err["error"]["details"]["fieldErrors"]["password.length"].is_array(), "{err}");

        // Saved with its lock, the person is no longer generated; the account is.
        let (status, _) = server.patch(&format!("/api/v1/bots/{bot}"), t,
            json!({"person": person, "generation_locks/person_data": true})).await;
        assert_eq!(status, StatusCode::OK);
        let (status, err) = generate("person", json!({"country": "US"})).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("GENERATION_LOCKED")), "{err}");
        let (status, account) = generate("account", json!({"domain": "mail.example",
            "password": {"length": 24, "uppercase": false, "lowercase": true, "numbers": true, "symbols": false}})).await;
        assert_eq!(status, StatusCode::OK, "{account}");
        let email = account["data"]["email"].as_str().unwrap();
        assert!(email.ends_with("@mail.example"), "{email}");
        let password = account["data"]["password"].as_str().unwrap();
        assert_eq!(password.len(), 24);
        assert!(password.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{password}");

        // One lock leaves the other value to the generator; both locks refuse.
        server.patch(&format!("/api/v1/bots/{bot}"), t, json!({"generation_locks/account_password": true})).await;
        let (_, account) = generate("account", json!({"domain": "mail.example"})).await;
        assert!(account["data"]["email"].is_string() && account["data"]["password"].is_null(), "{account}");
        server.patch(&format!("/api/v1/bots/{bot}"), t, json!({"generation_locks/account_email": true})).await;
        let (status, _) = generate("account", json!({"domain": "mail.example"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        // Cleared, the lock lets the generator work again.
        server.patch(&format!("/api/v1/bots/{bot}"), t, json!({"generation_locks/person_data": false})).await;
        assert_eq!(generate("person", json!({"country": "FR"})).await.0, StatusCode::OK);

        // A week from the schedule generator, saved with its lock, and stored as given.
        let params = json!({"startTime": "10:00", "endTime": "14:00", "useSecondWindow": true,
            "startTime2": "18:00", "endTime2": "22:00", "targetActiveMinutes": 240,
            "minSessionMinutes": 45, "minBreakMinutes": 10, "randomOffsetMinutes": 0});
        let (status, week) = generate("schedule", params.clone()).await;
        assert_eq!(status, StatusCode::OK, "{week}");
        let days = week["data"]["days"].as_array().unwrap();
        assert_eq!(days.len(), 7);
        assert!(days.iter().all(|d| d["enabled"] == true && !d["sessions"].as_array().unwrap().is_empty()), "{week}");
        let (status, saved) = server.patch(&format!("/api/v1/bots/{bot}"), t,
            json!({"schedule": week["data"], "generation_locks/schedule": true})).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(saved["data"]["schedule"], week["data"]);
        let (status, err) = generate("schedule", params).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("GENERATION_LOCKED")));
        let (status, err) = generate("schedule", json!({"startTime": "20:00", "endTime": "10:00",
            "targetActiveMinutes": 240, "minSessionMinutes": 45, "minBreakMinutes": 10})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        // A stored schedule is checked: a session's times are HH:MM.
        let (status, err) = server.patch(&format!("/api/v1/bots/{bot}"), t,
            json!({"schedule": {"days": [{"enabled": true, "sessions": [{"start": "25:00", "end": "26:00"}]}]}})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

        let (status, names) = server.get("/api/v1/wow-names?count=5", t).await;
        assert_eq!(status, StatusCode::OK, "{names}");
        assert_eq!(names["data"]["names"].as_array().unwrap().len(), 5);
        assert_eq!(server.get("/api/v1/wow-names?count=0", t).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(server.get("/api/v1/wow-names?count=51", t).await.0, StatusCode::BAD_REQUEST);

        let other = server.user_session("other", "x@other.example", Role::User).await;
        let (status, _) = server.post(&format!("/api/v1/bots/{bot}/generate/person"), &other.access_token,
            json!({"country": "US"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's bot");
    }

    async fn a_bots_health_reads_its_resources_effective_states_and_last_seen(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let (day, minute) = (86_400_000i64, 60_000i64);
        let now = chrono::Utc::now().timestamp_millis();
        let bot = server.create("/api/v1/bots", t, json!({"name": "farm-1", "status": "farming", "last_seen": now})).await;
        let health = |id: String| { let server = &server; async move {
            let (status, body) = server.get(&format!("/api/v1/bots/{id}/health"), t).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["data"].clone()
        }};
        let h = health(bot.clone()).await;
        assert_eq!((h["level"].clone(), h["summary"].clone()), (json!("ok"), json!("All systems operational")), "{h}");

        // A stored status of `active` does not hide an expiry that has passed.
        server.create("/api/v1/resources/licenses", t, json!({"key": "K-1", "status": "active",
            "expires_at": now - day, "bot_ids": [bot]})).await;
        server.create("/api/v1/resources/proxies", t, json!({"ip": "10.0.0.9", "port": 3128, "status": "active",
            "expires_at": now + 2 * day, "bot_id": bot})).await;
        server.create("/api/v1/resources/subscriptions", t, json!({"type": "wow", "status": "cancelled",
            "expires_at": now - day, "bot_id": bot})).await;
        let h = health(bot.clone()).await;
        assert_eq!((h["level"].clone(), h["summary"].clone()), (json!("critical"), json!("1 critical issue")), "{h}");
        let codes: Vec<&str> = h["alerts"].as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["license_expired", "proxy_expiring"], "a cancelled subscription raises nothing");
        assert_eq!(h["alerts"][1]["severity"], "warning");
        assert_eq!(h["alerts"][1]["detail"], "10.0.0.9:3128 expires in 2 days.");

        let quiet = server.create("/api/v1/bots", t, json!({"name": "farm-2", "last_seen": now - 30 * minute})).await;
        let h = health(quiet.clone()).await;
        assert_eq!((h["summary"].clone(), h["alerts"][0]["detail"].clone()),
            (json!("1 warning"), json!("Last seen 30 minutes ago.")), "{h}");

        let other = server.user_session("other", "x@other.example", Role::User).await;
        let (status, _) = server.get(&format!("/api/v1/bots/{bot}/health"), &other.access_token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's bot");
    }

    async fn a_bot_moves_through_its_lifecycle_with_log_and_archive(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let bot = server.create("/api/v1/bots", t, json!({"name": "Thrall", "status": "prepare",
            "character": {"level": 12}, "farm": {"all_farmed_gold": 500}})).await;

        let (status, moved) = transition(&server, t, &bot, "leveling").await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!(moved["data"]["status"], "leveling");
        assert_eq!(transition(&server, t, &bot, "farming").await.0, StatusCode::OK);
        let (status, same) = transition(&server, t, &bot, "farming").await;
        assert_eq!(status, StatusCode::OK, "moving to the current status changes nothing");
        assert_eq!(same["data"]["lifecycle"]["stage_transitions"].as_array().unwrap().len(), 2);
        let (status, err) = transition(&server, t, &bot, "banned").await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("BAD_REQUEST")));

        let (_, transitions) = server.get(&format!("/api/v1/bots/{bot}/lifecycle/transitions"), t).await;
        let pairs: Vec<(String, String)> = transitions["data"].as_array().unwrap().iter()
            .map(|x| (x["from"].as_str().unwrap().into(), x["to"].as_str().unwrap().into())).collect();
        assert_eq!(pairs, [("prepare".into(), "leveling".into()), ("leveling".into(), "farming".into())]);

        let (status, banned) = server.post(&format!("/api/v1/bots/{bot}/lifecycle/ban"), t, ban_body()).await;
        assert_eq!(status, StatusCode::OK, "{banned}");
        assert_eq!(banned["data"]["status"], "banned");
        assert_eq!(banned["data"]["lifecycle"]["ban_details"]["ban_mechanism"], "game_suspension");
        let (_, is_banned) = server.get(&format!("/api/v1/bots/{bot}/lifecycle/is-banned"), t).await;
        assert_eq!(is_banned["data"], json!({"banned": true}));

        // The guard the reference lacked: out of `banned` only through unban.
        let (status, err) = transition(&server, t, &bot, "farming").await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("CONFLICT")));
        let (status, _) = server.post(&format!("/api/v1/bots/{bot}/lifecycle/ban"), t, ban_body()).await;
        assert_eq!(status, StatusCode::CONFLICT, "already banned");

        let (status, back) = server.post(&format!("/api/v1/bots/{bot}/lifecycle/unban"), t, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{back}");
        assert_eq!(back["data"]["status"], "farming", "restored to the status before the ban");
        assert!(back["data"]["lifecycle"]["ban_details"]["unbanned_at"].is_i64());
        let (status, _) = server.post(&format!("/api/v1/bots/{bot}/lifecycle/unban"), t, json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "not banned any more");

        let (_, log) = server.get(&format!("/api/v1/bots/{bot}/lifecycle/log"), t).await;
        let kinds: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["unban", "ban", "status_change", "status_change"], "newest first: {log}");
        assert_eq!(log["meta"]["total"], 4);
        assert_eq!(log["data"][1]["details"]["mechanism"], "game_suspension");
        assert_eq!(log["data"][3]["details"], json!({"from": "prepare", "to": "leveling"}));

        let (_, archive) = server.get(&format!("/api/v1/bots/{bot}/archive"), t).await;
        let entries = archive["data"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["reason"], "banned");
        assert_eq!(entries[0]["snapshot"]["final_level"], 12);
        assert_eq!(entries[0]["snapshot"]["total_farmed"], 500.0);

        // History outlives the bot; unknown bots are 404.
        assert_eq!(server.delete(&format!("/api/v1/bots/{bot}"), t).await.0, StatusCode::OK);
        assert_eq!(server.get(&format!("/api/v1/bots/{bot}/lifecycle/log"), t).await.1["meta"]["total"], 4);
        assert_eq!(server.get(&format!("/api/v1/bots/{bot}/archive"), t).await.0, StatusCode::OK);
        assert_eq!(server.get(&format!("/api/v1/bots/{bot}/lifecycle"), t).await.0, StatusCode::NOT_FOUND);
        assert_eq!(transition(&server, t, "nope", "farming").await.0, StatusCode::NOT_FOUND);
        assert_eq!(server.get("/api/v1/bots/nope/lifecycle/log", t).await.0, StatusCode::NOT_FOUND);
    }

    async fn a_bot_is_never_deleted_under_a_record_written_against_it_at_the_same_moment(backend) {
        // Each round: proxies created for a bot while the bot is deleted (without detach).
        // Whichever lands first wins; no stored proxy names a bot that is gone.
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        for round in 0..15 {
            let bot = server.create("/api/v1/bots", t, json!({"name": format!("b{round}")})).await;
            let creates = (0..4).map(|i| server.post("/api/v1/resources/proxies", t,
                json!({"ip": format!("10.0.{round}.{i}"), "port": 1080, "bot_id": bot})));
            let bot_path = format!("/api/v1/bots/{bot}");
            let (created, (deleted, _)) = tokio::join!(futures::future::join_all(creates), server.delete(&bot_path, t));
            assert!(created.iter().all(|(status, _)| [StatusCode::CREATED, StatusCode::BAD_REQUEST].contains(status)), "{created:?}");
            assert!([StatusCode::OK, StatusCode::CONFLICT].contains(&deleted), "{deleted}");
            let made = created.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
            let (_, proxies) = server.get(&format!("/api/v1/resources/proxies?bot_id={bot}"), t).await;
            assert_eq!(proxies["data"].as_array().unwrap().len(), made, "round {round}: every 201 is stored");
            let kept = server.get(&bot_path, t).await.0 == StatusCode::OK;
            assert_eq!(kept, made > 0, "round {round}: {made} proxies name the bot; delete answered {deleted}");
        }
    }

    async fn a_detaching_delete_and_patches_of_what_it_detaches_both_land(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        for round in 0..10 {
            let bot = server.create("/api/v1/bots", t, json!({"name": format!("b{round}")})).await;
            let proxy = server.create("/api/v1/resources/proxies", t,
                json!({"ip": format!("10.1.{round}.1"), "port": 1080, "bot_id": bot})).await;
            let path = format!("/api/v1/resources/proxies/{proxy}");
            let patches = (0..3).map(|i| server.patch(&path, t, json!({"port": 2000 + i})));
            let detach = format!("/api/v1/bots/{bot}?detach=true");
            let (patched, (deleted, err)) = tokio::join!(futures::future::join_all(patches), server.delete(&detach, t));
            assert_eq!(deleted, StatusCode::OK, "round {round}: {err}");
            assert!(patched.iter().all(|(status, _)| *status == StatusCode::OK), "round {round}: {patched:?}");
            let (_, p) = server.get(&path, t).await;
            assert_eq!(p["data"]["bot_id"], Value::Null, "round {round}: detached");
            assert!((2000..2003).contains(&p["data"]["port"].as_i64().unwrap()), "{p}");
        }
    }

    async fn deleting_a_referenced_bot_is_refused_or_detaches(backend) {
        let server = TestServer::start(backend).await;
        let s = server.user_session("acme", "op@example.com", Role::User).await;
        let t = &s.access_token;
        let bot = server.create("/api/v1/bots", t, json!({"name": "a"})).await;
        let other = server.create("/api/v1/bots", t, json!({"name": "b"})).await;
        let (status, err) = server.post("/api/v1/resources/proxies", t, json!({"ip": "10.0.0.1", "port": 1080, "bot_id": "ghost"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "no reference to a missing bot: {err}");
        let (status, _) = server.post("/api/v1/resources/licenses", t, json!({"key": "K", "bot_ids": [bot, "ghost"]})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let proxy = server.create("/api/v1/resources/proxies", t, json!({"ip": "10.0.0.1", "port": 1080, "bot_id": bot})).await;
        let licence = server.create("/api/v1/resources/licenses", t,
            json!({"key": "K", "bot_ids": [other, bot], "bot_names": ["b", "a"]})).await;
        let op = server.create("/api/v1/finance/operations", t, json!({"type": "expense", "category": "proxy",
            "amount": 3, "currency": "USD", "date": 1_700_000_000_000i64, "bot_id": bot})).await;

        let (status, err) = server.delete(&format!("/api/v1/bots/{bot}"), t).await;
        assert_eq!((status, err["error"]["code"].clone()), (StatusCode::CONFLICT, json!("IN_USE")), "{err}");
        let refs = &err["error"]["details"]["references"];
        assert_eq!(refs["proxies"]["ids"], json!([proxy]));
        assert_eq!(refs["licenses"]["ids"], json!([licence]));
        assert_eq!(refs["finance_operations"]["count"], 1);
        assert_eq!(server.get(&format!("/api/v1/bots/{bot}"), t).await.0, StatusCode::OK, "nothing deleted");

        // A proxy or licence attached to a bot is in use too.
        let (status, err) = server.delete(&format!("/api/v1/resources/proxies/{proxy}"), t).await;
        assert_eq!((status, err["error"]["details"]["attached_to"].clone()), (StatusCode::CONFLICT, json!(bot)));

        let (status, _) = server.delete(&format!("/api/v1/bots/{bot}?detach=true"), t).await;
        assert_eq!(status, StatusCode::OK);
        let (_, p) = server.get(&format!("/api/v1/resources/proxies/{proxy}"), t).await;
        assert_eq!(p["data"]["bot_id"], Value::Null);
        let (_, l) = server.get(&format!("/api/v1/resources/licenses/{licence}"), t).await;
        assert_eq!((l["data"]["bot_ids"].clone(), l["data"]["bot_names"].clone()), (json!([other]), json!(["b"])));
        let (_, o) = server.get(&format!("/api/v1/finance/operations/{op}"), t).await;
        assert_eq!(o["data"]["bot_id"], Value::Null);
        let (_, of_other) = server.get(&format!("/api/v1/resources/licenses?bot_id={other}"), t).await;
        assert_eq!(of_other["meta"]["total"], 1, "the licence's other bot is still found");

        assert_eq!(server.delete(&format!("/api/v1/resources/proxies/{proxy}"), t).await.0, StatusCode::OK);
        assert_eq!(server.delete(&format!("/api/v1/resources/licenses/{licence}?detach=true"), t).await.0, StatusCode::OK);
    }

    async fn credentials_are_sealed_and_revealed_only_to_owner_or_admin_with_audit(backend) {
        let server = TestServer::start(backend).await;
        let owner = server.user_session("acme", "owner@example.com", Role::User).await;
        let peer = server.user_session("acme", "peer@example.com", Role::User).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = &owner.access_token;
        let bot = server.create("/api/v1/bots", t, json!({"name": "a",
            "account": {"email": "a@mail.example", "password": "s3cret-pw"}})).await;

        let (_, read) = server.get(&format!("/api/v1/bots/{bot}"), t).await;
        assert_eq!(read["data"]["account"], json!({"email": "a@mail.example", "password": "********"}));
        let stored = botmox_server::db::entity::record::Entity::find().all(server.state().db.read()).await.unwrap();
        assert!(stored.iter().all(|r| !r.data.contains("s3cret-pw") && !r.search.contains("s3cret")));
        let (_, found) = server.get("/api/v1/bots?q=s3cret", t).await;
        assert_eq!(found["meta"]["total"], 0, "credentials are not searchable");

        // Sending the mask back keeps the credential.
        server.patch(&format!("/api/v1/bots/{bot}"), t, json!({"account": {"email": "b@mail.example", "password": "********"}})).await;
        let reveal = |token: String| {
            let server = &server;
            let path = format!("/api/v1/bots/{bot}/reveal");
            async move { server.post(&path, &token, json!({"field": "account/password"})).await }
        };
        let (status, revealed) = reveal(t.clone()).await;
        assert_eq!(status, StatusCode::OK, "{revealed}");
        assert_eq!(revealed["data"]["value"], "s3cret-pw");
        let (status, _) = reveal(peer.access_token.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "not the owner, not an admin");
        let (status, by_admin) = reveal(admin.access_token.clone()).await;
        assert_eq!((status, by_admin["data"]["value"].clone()), (StatusCode::OK, json!("s3cret-pw")));
        let (status, _) = server.post(&format!("/api/v1/bots/{bot}/reveal"), t, json!({"field": "account/email"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "only sealed fields are revealed");

        let (_, audit) = server.get("/api/v1/audit?action=secret.reveal&limit=50", &admin.access_token).await;
        let rows = audit["data"].as_array().unwrap();
        let results: Vec<(&str, &str)> = rows.iter()
            .map(|r| (r["actor_email"].as_str().unwrap(), r["result"].as_str().unwrap())).collect();
        for expected in [("owner@example.com", "ok"), ("peer@example.com", "denied"), ("admin@example.com", "ok")] {
            assert!(results.contains(&expected), "{expected:?} missing from {results:?}");
        }
        assert!(rows.iter().all(|r| r["target"] == format!("bots:{bot}/account/password") || r["target"] == format!("bots:{bot}/account/email")));
    }

    async fn racing_bot_writes_keep_the_counts_the_pages_show_exact(backend) {
        // Bots created, moved between projects and statuses, banned and deleted, all at
        // once (some writes racing on the same bot): the counts the Overview, the resource
        // tree, the Project page and the finance summary read must equal the bots as listed.
        let server = TestServer::start(backend).await;
        let admin = server.user_session("acme", "admin@example.com", Role::Admin).await;
        let t = admin.access_token.as_str();
        server.put("/api/v1/settings/projects", t, json!({"p1": {"name": "One"}, "p2": {"name": "Two"}})).await;
        let statuses = ["offline", "prepare", "leveling", "farming"];
        let server = &server;
        let created = futures::future::join_all((0..30).map(|i| {
            let body = json!({"name": format!("b{i}"), "project_id": format!("p{}", 1 + i % 2),
                "status": statuses[i % 4]});
            async move { server.create("/api/v1/bots", t, body).await }
        }))
        .await;
        let writes = created.iter().enumerate().flat_map(|(i, bot)| {
            let path = format!("/api/v1/bots/{bot}");
            let mut mine = Vec::new();
            match i {
                // Two racing moves of one bot: whichever lands last, it counts once.
                0..=9 => {
                    mine.push((path.clone(), json!({"status": "farming"})));
                    mine.push((path, json!({"status": "profession"})));
                }
                10..=14 => mine.push((path, json!({"project_id": "p2", "status": "leveling"}))),
                15..=19 => mine.push((path, Value::Null)),
                20..=23 => mine.push((format!("{path}/lifecycle/ban"), ban_body())),
                _ => mine.push((path, json!({"name": "renamed"}))),
            }
            mine
        });
        let answers = futures::future::join_all(writes.map(|(path, body)| async move {
            let (status, answer) = if body.is_null() {
                server.call(reqwest::Method::DELETE, &path, Some(t), None).await
            } else if path.ends_with("/ban") {
                server.post(&path, t, body).await
            } else {
                server.patch(&path, t, body).await
            };
            assert!(status.is_success() || status == StatusCode::PRECONDITION_FAILED || status == StatusCode::CONFLICT,
                "{path}: {status} {answer}");
        }))
        .await;
        assert_eq!(answers.len(), 40);

        let (_, listed) = server.get("/api/v1/bots?limit=100", t).await;
        let bots = listed["data"].as_array().unwrap();
        assert_eq!(bots.len(), 25);
        let mut expected: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for b in bots {
            let place = (b["project_id"].as_str().unwrap().to_owned(), b["status"].as_str().unwrap().to_owned());
            *expected.entry(place).or_default() += 1;
        }
        let (_, overview) = server.get("/api/v1/overview", t).await;
        let mut shown: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for p in overview["data"]["projects"].as_array().unwrap() {
            for s in p["by_status"].as_array().unwrap() {
                let place = (p["id"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned());
                shown.insert(place, s["count"].as_i64().unwrap());
            }
        }
        assert_eq!(shown, expected);
        assert_eq!(overview["data"]["bots_total"], 25);
        assert_eq!(expected.get(&("p2".into(), "banned".into())).copied().unwrap_or(0)
            + expected.get(&("p1".into(), "banned".into())).copied().unwrap_or(0), 4);
        // The finance summary's working bots are those not offline nor banned.
        let working: i64 = expected.iter()
            .filter(|((_, s), _)| !matches!(s.as_str(), "offline" | "banned"))
            .map(|(_, n)| n)
            .sum();
        let (_, summary) = server.get("/api/v1/finance/summary", t).await;
        assert_eq!(summary["data"]["totals"]["active_bots"], working, "{summary}");
    }
}
