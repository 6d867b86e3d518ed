//! The error answers operations share, documented in one place: each is a component
//! response with the error envelope, and every operation refers to those that can happen
//! to it, decided from what the document already says of the operation:
//!
//! | status | when |
//! |---|---|
//! | 400 `BAD_REQUEST` | it takes a JSON body, path or query parameters |
//! | 401 `UNAUTHORIZED` | it needs a token (`security`) |
//! | 403 `FORBIDDEN` | its security requirement names a role (`security(("bearer" = ["admin"]))`) |
//! | 404 `NOT_FOUND` | it has a path parameter |
//! | 413 `PAYLOAD_TOO_LARGE`, 415 `UNSUPPORTED_MEDIA_TYPE` | it takes a JSON body |
//! | 429 `RATE_LIMITED` | always: every `/api` request is rate limited |
//!
//! An operation's own annotation may document any of them with its own description; an
//! error answer it documents without a body gets the error envelope.

use utoipa::Modify;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// The media type of every JSON answer.
const JSON: &str = "application/json";

/// One shared error answer.
struct Shared {
    status: &'static str,
    /// Name under `components/responses`.
    name: &'static str,
    description: &'static str,
}

const BAD_REQUEST: Shared = Shared {
    status: "400",
    name: "BadRequest",
    description: "`BAD_REQUEST`: malformed JSON, a value out of its rules, a bad path or query \
                  value; `details.fieldErrors` names the fields",
};
const UNAUTHORIZED: Shared = Shared {
    status: "401",
    name: "Unauthorized",
    description: "`UNAUTHORIZED`: no token, or an invalid, expired or revoked one",
};
const FORBIDDEN: Shared = Shared {
    status: "403",
    name: "Forbidden",
    description: "`FORBIDDEN`: the caller's role does not allow it",
};
const NOT_FOUND: Shared = Shared {
    status: "404",
    name: "NotFound",
    description: "`NOT_FOUND`: nothing with that id in the caller's tenant",
};
const PAYLOAD_TOO_LARGE: Shared = Shared {
    status: "413",
    name: "PayloadTooLarge",
    description: "`PAYLOAD_TOO_LARGE`: the body is larger than `body_limit`",
};
const UNSUPPORTED_MEDIA_TYPE: Shared = Shared {
    status: "415",
    name: "UnsupportedMediaType",
    description: "`UNSUPPORTED_MEDIA_TYPE`: the body is not sent as `application/json`",
};
const RATE_LIMITED: Shared = Shared {
    status: "429",
    name: "RateLimited",
    description: "`RATE_LIMITED`: a rate limit was exceeded; retry after `Retry-After` seconds",
};

const SHARED: [&Shared; 7] = [
    &BAD_REQUEST,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &NOT_FOUND,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &RATE_LIMITED,
];

/// An answer with the error envelope.
pub fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
            .build(),
    )
}

fn shared_response(shared: &Shared) -> Response {
    let response = error_response(shared.description);
    if shared.status == RATE_LIMITED.status {
        let seconds = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1));
        response
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(seconds)
                    .description(Some("Seconds to wait"))
                    .build(),
            )
            .build()
    } else {
        response.build()
    }
}

/// What the document says of an operation that decides its shared errors.
struct Facts {
    secured: bool,
    role: bool,
    json_body: bool,
    parameters: bool,
    path_parameters: bool,
}

impl Facts {
    fn of(operation: &Operation) -> Self {
        // A security requirement's schemes and scopes are private fields: read its JSON.
        let requirements = serde_json::to_value(&operation.security).unwrap_or_default();
        let requirements = requirements
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let schemes = || requirements.iter().filter_map(|r| r.as_object()).flatten();
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let located = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
        Self {
            secured: schemes().next().is_some(),
            role: schemes().any(|(_, scopes)| scopes.as_array().is_some_and(|s| !s.is_empty())),
            json_body: operation
                .request_body
                .as_ref()
                .is_some_and(|b| b.content.contains_key(JSON)),
            parameters: located(ParameterIn::Path) || located(ParameterIn::Query),
            path_parameters: located(ParameterIn::Path),
        }
    }

    fn shared(&self) -> impl Iterator<Item = &'static Shared> {
        [
            (self.json_body || self.parameters, &BAD_REQUEST),
            (self.secured, &UNAUTHORIZED),
            (self.role, &FORBIDDEN),
            (self.path_parameters, &NOT_FOUND),
            (self.json_body, &PAYLOAD_TOO_LARGE),
            (self.json_body, &UNSUPPORTED_MEDIA_TYPE),
            (true, &RATE_LIMITED),
        ]
        .into_iter()
        .filter_map(|(applies, shared)| applies.then_some(shared))
    }
}

/// Adds the shared error answers to every operation (see the module's table).
pub struct SharedErrors;

impl Modify for SharedErrors {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for shared in SHARED {
            components
                .responses
                .insert(shared.name.to_owned(), RefOr::T(shared_response(shared)));
        }
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared(operation);
            }
        }
    }
}

fn add_shared(operation: &mut Operation) {
    let facts = Facts::of(operation);
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !(status.starts_with('4') || status.starts_with('5')) || !response.content.is_empty() {
            continue;
        }
        let description = match SHARED.iter().find(|s| s.status == status) {
            _ if !response.description.is_empty() => &response.description,
            Some(shared) => shared.description,
            None => "See `error.code`",
        };
        *response = error_response(description).build();
    }
    for shared in facts.shared() {
        responses
            .entry(shared.status.to_owned())
            .or_insert_with(|| {
                RefOr::Ref(Ref::new(format!("#/components/responses/{}", shared.name)))
            });
    }
}
