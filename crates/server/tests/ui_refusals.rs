//! Refused forms of the operations and administration pages, in headless Chromium at
//! 1024 px: the problem shows under the input it concerns (not above the form), every value
//! typed stays in its input, nothing on the page moves, and nothing is stored. A refusal no
//! input carries (a conflict) still shows above the form.

use botmox_proto::auth::Role;
use botmox_testkit::browser::{
    Browser, attr, click, overflowing, resize, set_value, sign_in, text_of, wait_for_parts,
};
use botmox_testkit::{Backend, TestServer};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// Where each input and button of form `id` sits on the page (document coordinates).
async fn places(c: &Client, id: &str) -> Value {
    c.execute(
        "const form = document.getElementById(arguments[0]);
         return Array.from(form.querySelectorAll(
           'input:not([type=hidden]), select, textarea, button')).map((e) => {
             const r = e.getBoundingClientRect();
             return [e.name || e.textContent.trim(), Math.round(r.left + scrollX),
                     Math.round(r.top + scrollY), Math.round(r.width)];
         });",
        vec![json!(id)],
    )
    .await
    .unwrap()
}

/// One refusal: on `page`, form `form` gets `typed` (input name, value) and is sent with
/// `submit`; the service refuses input `field` with a problem holding `problem`.
struct Case {
    page: &'static str,
    form: &'static str,
    typed: &'static [(&'static str, &'static str)],
    submit: &'static str,
    field: &'static str,
    problem: &'static str,
}

const CASES: &[Case] = &[
    Case {
        page: "/admin/users",
        form: "create-token",
        typed: &[
            ("name", ""),
            ("role", "infra"),
            ("expires_on", "2999-01-31"),
        ],
        submit: "#create-token button",
        field: "name",
        problem: "1 to 100 characters",
    },
    Case {
        page: "/agents",
        form: "pairing-create",
        typed: &[("name", "rack-2"), ("expires_in_minutes", "ten")],
        submit: "#pairing-create button",
        field: "expires_in_minutes",
        problem: "whole number",
    },
    Case {
        page: "/licensing",
        form: "licence-create",
        typed: &[("type", "subscription"), ("max_leases", "3")],
        submit: "#licence-create button",
        field: "expires_at",
        problem: "required for a subscription licence",
    },
    Case {
        page: "/licensing",
        form: "entitlement-set",
        typed: &[("modules", ",,,")],
        submit: "#entitlement-set button",
        field: "modules",
        problem: "at least one module",
    },
    Case {
        page: "/vm-registry",
        form: "vm-register",
        typed: &[("vm_uuid", "not a uuid!"), ("vm_name", "win-7")],
        submit: "#vm-register button",
        field: "vm_uuid",
        problem: "",
    },
    Case {
        page: "/vm-jobs",
        form: "batch-form",
        typed: &[
            ("first_address", "10.0.0.300"),
            ("gateway", "10.0.0.1"),
            ("count", "3"),
            ("name_prefix", "farm-"),
        ],
        submit: "#batch-form button[type=submit]",
        field: "first_address",
        problem: "IPv4",
    },
    Case {
        page: "/vm-jobs",
        form: "delete-form",
        typed: &[("vmid", "one-oh-one")],
        submit: "#delete-form button[type=submit]",
        field: "vmid",
        problem: "whole number",
    },
    Case {
        page: "/vm-ops",
        form: "dispatch-form",
        typed: &[
            ("command_type", "proxmox.vm-status"),
            ("payload", "{\"vmid\": 1"),
        ],
        submit: "#dispatch-form button",
        field: "payload",
        problem: "JSON",
    },
    Case {
        page: "/playbooks",
        form: "playbook-form",
        typed: &[("name", ""), ("content", "- hosts: all\n")],
        submit: "#playbook-save",
        field: "name",
        problem: "non-empty",
    },
    Case {
        page: "/artifacts",
        form: "assign-form",
        typed: &[
            ("module", "runner"),
            ("channel", "beta"),
            ("platform", "linux"),
        ],
        submit: "#assign-form button",
        field: "release_id",
        problem: "release",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_forms_show_each_problem_beside_its_input_and_keep_what_was_typed() {
    let server = TestServer::start(Backend::Sqlite).await;
    let admin = server
        .user_session("acme", "admin@acme.example", Role::Admin)
        .await;
    let browser = Browser::start().await;
    let c = &browser.client;
    resize(c, 1024, 900).await;
    sign_in(c, &server.url, &admin.email, &admin.password).await;

    for case in CASES {
        c.goto(&format!("{}{}", server.url, case.page))
            .await
            .unwrap();
        let before = places(c, case.form).await;
        // The browser's own checks are off, to reach the server's.
        c.execute(
            "document.getElementById(arguments[0]).noValidate = true",
            vec![json!(case.form)],
        )
        .await
        .unwrap();
        for (name, value) in case.typed {
            set_value(c, &format!("#{} [name='{name}']", case.form), value).await;
        }
        click(c, case.submit).await;
        let marked = format!("#{} .field-error[data-field='{}']", case.form, case.field);
        wait_for_parts(c, &marked, &[case.problem]).await;

        let what = format!("{} #{}", case.page, case.form);
        let banners = c
            .find_all(Locator::Css(".alert.error"))
            .await
            .unwrap()
            .len();
        assert_eq!(banners, 0, "{what}: the problem is not repeated above");
        for (name, value) in case.typed {
            let css = format!("#{} [name='{name}']", case.form);
            let shown: Value = c
                .execute(
                    "return document.querySelector(arguments[0]).value",
                    vec![json!(css)],
                )
                .await
                .unwrap();
            assert_eq!(shown, json!(value), "{what}: {name} kept");
        }
        assert_eq!(places(c, case.form).await, before, "{what}: nothing moved");
        assert_eq!(overflowing(c).await, Vec::<String>::new(), "{what}");
    }

    // Nothing was stored by any of them.
    for (path, key) in [
        ("/api/v1/agents", "data"),
        ("/api/v1/vm", "data"),
        ("/api/v1/playbooks", "data"),
        ("/api/v1/vm-ops/commands", "data"),
        ("/api/v1/vm-jobs", "data"),
    ] {
        let (status, body) = server.get(path, &admin.access_token).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body[key], json!([]), "{path}");
    }
    let (_, tokens) = server.get("/api/v1/tokens", &admin.access_token).await;
    assert_eq!(tokens["data"], json!([]), "no token");

    // A conflict is not a field's problem: it shows above the form, the values still kept.
    c.goto(&format!("{}/admin/users", server.url))
        .await
        .unwrap();
    set_value(c, "#create-user [name=email]", &admin.email).await;
    set_value(c, "#create-user [name=password]", "a-long-password").await;
    click(c, "#create-user button").await;
    wait_for_parts(c, "#error", &["already exists"]).await;
    assert_eq!(
        attr(c, "#create-user [name=email]", "value").await,
        admin.email
    );
    assert!(
        c.find_all(Locator::Css("#create-user .field-error"))
            .await
            .unwrap()
            .is_empty()
    );

    // A table row's form marks its own row only.
    set_value(c, "#users tbody tr [name=password]", "short").await;
    c.execute(
        "document.querySelector('#users tbody tr [name=password]').form.noValidate = true",
        vec![],
    )
    .await
    .unwrap();
    c.execute(
        "document.querySelector('#users tbody tr [name=password]').form.requestSubmit()",
        vec![],
    )
    .await
    .unwrap();
    wait_for_parts(c, "#users .field-error[data-field=password]", &["10"]).await;
    assert_eq!(
        c.find_all(Locator::Css("#users .field-error"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(text_of(c, "#users tbody tr").await.contains(&admin.email));
    browser.close().await;
}
