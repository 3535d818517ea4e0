//! The OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! declarations. Routes are registered only through [`routes`], with
//! `utoipa_axum::routes!`, so a route cannot exist without its documentation.

use crate::error::ErrorBody;
use crate::routes;
use crate::AppState;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Locus", description = "The CleverMaps-compatible project, user and permission server."),
    security(("bearerAuth" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// Every route of the application, with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::routes())
        .merge(routes::oauth::routes())
        .merge(routes::accounts::routes())
        .merge(routes::access_tokens::routes())
        .merge(routes::password_reset::routes())
        .merge(routes::email_verification::routes())
        .merge(routes::organizations::routes())
        .merge(routes::projects::routes())
        .merge(routes::members::routes())
        .merge(routes::invitations::routes())
        .merge(routes::auditlog::routes())
        .merge(routes::metadata::routes())
        .merge(routes::studio::routes())
        .merge(routes::public_access::routes())
        .merge(routes::uploads::routes())
        .merge(routes::jobs::routes())
        .merge(routes::data::routes())
        .merge(routes::dwh::routes())
        .merge(routes::usage::routes())
}

/// Adds what every operation shares: the bearer scheme, the error body as the
/// `default` response, and the document's own route.
pub fn finish(mut doc: Document) -> Document {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearerAuth",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components
        .schemas
        .entry(ErrorBody::name().into_owned())
        .or_insert_with(ErrorBody::schema);
    // Job results are untyped in JobDto; the bulk point query's is documented here.
    use crate::jobs::request::{BulkPointQueryResult, PointResult};
    components
        .schemas
        .entry(BulkPointQueryResult::name().into_owned())
        .or_insert_with(BulkPointQueryResult::schema);
    components
        .schemas
        .entry(PointResult::name().into_owned())
        .or_insert_with(PointResult::schema);
    let error = ResponseBuilder::new()
        .description("An error, as {status, error, message, field?, permission?}")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
            .into_iter()
            .flatten()
        {
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
    let json = ResponseBuilder::new()
        .description("this document")
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(utoipa::openapi::ObjectBuilder::new())).build(),
        )
        .build();
    let op = utoipa::openapi::path::OperationBuilder::new()
        .summary(Some("The OpenAPI document of this server"))
        .tag("meta")
        .security(utoipa::openapi::security::SecurityRequirement::default())
        .response("200", json)
        .build();
    doc.paths
        .add_path_operation("/rest/openapi.json", vec![utoipa::openapi::HttpMethod::Get], op);
    doc
}
