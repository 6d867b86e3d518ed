//! The provisioning pages in real headless Chromium: the profile editor sets options from
//! every section, previews the answer file they make, saves them (the API then shows them),
//! keeps the write-only password when it is left empty, and refuses a bad name with the
//! form kept; the playbooks page checks a playbook before saving it and deletes it; the VM
//! generator offers the saved profiles and playbooks as lists; another tenant's profile is
//! a 404.

use botmox_proto::auth::Role;
use botmox_server::db::TenantId;
use botmox_testkit::browser::{
    Browser, attr, click, fill, select, set_value, sign_in, text_of, wait_for, wait_for_parts,
};
use botmox_testkit::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The stored config of a profile, password included (which no view shows).
async fn stored_config(server: &TestServer, tenant: &str, user: &str, id: &str) -> Value {
    let row = botmox_server::provisioning::store::profiles::get(
        server.state().db.read(),
        &TenantId::trusted(tenant),
        user,
        id,
    )
    .await
    .unwrap()
    .expect("the profile row");
    serde_json::from_str(&row.config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_preview_and_save_a_profile_and_a_playbook() {
    let server = TestServer::start(Backend::Sqlite).await;
    let session = server
        .user_session("acme", "ops@example.com", Role::User)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server.url, &session.email, &session.password).await;

    c.goto(&format!("{}/profiles", server.url)).await.unwrap();
    click(c, "#profile-new").await;
    wait_for(c, "h1", "New profile").await;
    fill(c, "#profile-form input[name=name]", "Farm EU").await;
    click(c, "#profile-form input[name=is_default]").await;
    select(c, "#profile-form select[name='user.nameMode']", "custom").await;
    fill(c, "#profile-form input[name='user.customName']", "Farmer").await;
    fill(c, "#profile-form input[name='user.password']", "Secr3t!").await;
    select(
        c,
        "#profile-form select[name='computerName.mode']",
        "custom",
    )
    .await;
    fill(
        c,
        "#profile-form input[name='computerName.customName']",
        "FARM-EU-1",
    )
    .await;
    set_value(
        c,
        "#profile-form input[name='locale.timeZone']",
        "W. Europe Standard Time",
    )
    .await;
    set_value(
        c,
        "#profile-form textarea[name='locale.keyboardLayouts']",
        "0409:00000409\n0407:00000407",
    )
    .await;
    set_value(
        c,
        "#profile-form textarea[name='softwareRemoval.fixedPackages']",
        "Microsoft.BingNews\nMicrosoft.ZuneMusic",
    )
    .await;
    click(
        c,
        "#profile-form input[name='windowsSettings.enableRemoteDesktop']",
    )
    .await;
    select(
        c,
        "#profile-form select[name='visualEffects.mode']",
        "custom",
    )
    .await;
    select(
        c,
        "#profile-form select[name='visualEffects.effects.cursorShadow']",
        "on",
    )
    .await;
    select(
        c,
        "#profile-form select[name='desktopIcons.mode']",
        "custom",
    )
    .await;
    select(
        c,
        "#profile-form select[name='desktopIcons.icons.thisPC']",
        "on",
    )
    .await;
    set_value(
        c,
        "#profile-form input[name='customScript.delaySeconds']",
        "45",
    )
    .await;

    // The preview shows what the options make, without saving.
    click(c, "#profile-preview").await;
    wait_for(c, "#preview-computer", "FARM-EU-1").await;
    assert_eq!(text_of(c, "#preview-user").await, "Farmer");
    let xml = text_of(c, "#preview pre[data-file='autounattend.xml']").await;
    assert!(
        xml.contains("<ComputerName>FARM-EU-1</ComputerName>"),
        "{xml}"
    );
    assert!(xml.contains("W. Europe Standard Time"), "{xml}");
    assert!(xml.contains("0409:00000409;0407:00000407"), "{xml}");
    let script = text_of(c, "#preview pre[data-file='setup.ps1']").await;
    assert!(script.contains("Microsoft.ZuneMusic"), "{script}");
    assert!(
        script.contains("fDenyTSConnections"),
        "remote desktop on: {script}"
    );
    let (_, listed) = server
        .get("/api/v1/unattend-profiles", &session.access_token)
        .await;
    assert_eq!(listed["data"], json!([]), "a preview saves nothing");
    // The form came back as it was sent.
    assert_eq!(
        attr(
            c,
            "#profile-form input[name='computerName.customName']",
            "value"
        )
        .await,
        "FARM-EU-1"
    );

    click(c, "#profile-save").await;
    wait_for(c, "#notice", "Profile saved.").await;
    let (_, listed) = server
        .get("/api/v1/unattend-profiles", &session.access_token)
        .await;
    let profile = &listed["data"][0];
    assert_eq!(profile["name"], "Farm EU");
    assert_eq!(profile["is_default"], true);
    assert_eq!(profile["passwordSet"], true);
    let config = &profile["config"];
    assert!(config["user"].get("password").is_none(), "write-only");
    assert_eq!(config["user"]["customName"], "Farmer");
    assert_eq!(config["computerName"]["customName"], "FARM-EU-1");
    assert_eq!(config["locale"]["keyboardLayouts"][1]["layout"], "00000407");
    assert_eq!(config["windowsSettings"]["enableRemoteDesktop"], true);
    assert_eq!(config["windowsSettings"]["disableDefender"], true);
    assert_eq!(config["visualEffects"]["effects"]["cursorShadow"], true);
    assert_eq!(config["desktopIcons"]["icons"]["thisPC"], true);
    assert_eq!(config["customScript"]["delaySeconds"], 45);
    let id = profile["id"].as_str().unwrap().to_owned();
    assert_eq!(
        stored_config(&server, "acme", &session.user_id, &id).await["user"]["password"],
        "Secr3t!"
    );

    // Editing again: the password field starts empty, and saving it empty keeps it.
    assert_eq!(
        attr(c, "#profile-form input[name='user.password']", "value").await,
        ""
    );
    click(
        c,
        "#profile-form input[name='windowsSettings.disableDefender']",
    )
    .await;
    // The page still shows the first save's notice: take it away, so the wait below is for
    // the answer to this save.
    c.execute("document.getElementById('notice').remove()", vec![])
        .await
        .unwrap();
    click(c, "#profile-save").await;
    wait_for(c, "#notice", "Profile saved.").await;
    let stored = stored_config(&server, "acme", &session.user_id, &id).await;
    assert_eq!(stored["user"]["password"], "Secr3t!", "kept");
    assert_eq!(stored["windowsSettings"]["disableDefender"], false);

    // A bad name is refused with the reason; the form keeps what was typed.
    set_value(
        c,
        "#profile-form input[name='computerName.customName']",
        "not a name!",
    )
    .await;
    click(c, "#profile-save").await;
    wait_for_parts(
        c,
        "#profile-form .field-error[data-field='computerName.customName']",
        &[""],
    )
    .await;
    assert_eq!(
        attr(
            c,
            "#profile-form input[name='computerName.customName']",
            "value"
        )
        .await,
        "not a name!"
    );
    assert_eq!(
        stored_config(&server, "acme", &session.user_id, &id).await["computerName"]["customName"],
        "FARM-EU-1",
        "nothing half-written"
    );

    // Playbooks: checked before saving, unknown roles only warn.
    c.goto(&format!("{}/playbooks", server.url)).await.unwrap();
    fill(c, "#playbook-form input[name=name]", "Base").await;
    set_value(c, "#playbook-form textarea[name=content]", "name: [").await;
    click(c, "#playbook-validate").await;
    wait_for_parts(c, "#playbook-check .errors", &["YAML parse error"]).await;
    assert_eq!(attr(c, "#playbook-check", "data-valid").await, "false");
    click(c, "#playbook-save").await;
    wait_for_parts(c, "p.alert.error", &["YAML"]).await;
    let (_, listed) = server.get("/api/v1/playbooks", &session.access_token).await;
    assert_eq!(
        listed["data"],
        json!([]),
        "an invalid playbook is not saved"
    );
    set_value(
        c,
        "#playbook-form textarea[name=content]",
        "name: Base\nroles:\n  - role: base-system\n  - role: my-own-role\n",
    )
    .await;
    click(c, "#playbook-validate").await;
    wait_for_parts(c, "#playbook-check .warnings", &["my-own-role"]).await;
    assert_eq!(attr(c, "#playbook-check", "data-valid").await, "true");
    click(c, "#playbook-save").await;
    wait_for(c, "#notice", "Playbook saved.").await;
    let (_, listed) = server.get("/api/v1/playbooks", &session.access_token).await;
    assert_eq!(listed["data"][0]["name"], "Base");
    assert!(
        listed["data"][0]["content"]
            .as_str()
            .unwrap()
            .contains("my-own-role")
    );
    c.goto(&format!("{}/playbooks", server.url)).await.unwrap();
    fill(c, "#playbook-form input[name=name]", "Spare").await;
    click(c, "#playbook-save").await;
    wait_for(c, "#notice", "Playbook saved.").await;

    // The generator offers them as lists.
    c.goto(&format!("{}/vm-jobs", server.url)).await.unwrap();
    let profiles = text_of(c, "#batch-form select[name=profile_id]").await;
    assert!(profiles.contains("Farm EU"), "{profiles}");
    let playbooks = text_of(c, "#batch-form select[name=playbook_id]").await;
    for name in ["No playbook", "Base", "Spare"] {
        assert!(playbooks.contains(name), "{name} in {playbooks}");
    }

    // Delete a playbook from its list (confirming the prompt).
    c.goto(&format!("{}/playbooks", server.url)).await.unwrap();
    c.execute("window.confirm = () => true; return true;", vec![])
        .await
        .unwrap();
    click(c, "#playbooks tbody tr:last-child button").await;
    wait_for(c, "#notice", "Playbook deleted.").await;
    let (_, listed) = server.get("/api/v1/playbooks", &session.access_token).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    browser.close().await;

    // Another tenant's profile is not found, through the page as through the API.
    let other = server
        .user_session("globex", "eve@globex.example", Role::Admin)
        .await;
    let (cookie, _) = server.ui_session(&other.email, &other.password).await;
    let res = server
        .http
        .get(format!("{}/profiles/{id}", server.url))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(
            &format!("/api/v1/unattend-profiles/{id}"),
            &other.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
