//! Shapes shared by several resources on the wire: links, timestamps.

use serde::Serialize;
use utoipa::ToSchema;

/// `{rel, href}`; hrefs are relative and start with `/rest/`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    pub rel: &'static str,
    pub href: String,
}

impl Link {
    pub fn this(href: String) -> Vec<Link> {
        vec![Link { rel: "self", href }]
    }
}

/// A stored time (Unix milliseconds) as `2018-06-27T11:26:07Z`.
pub fn timestamp(millis: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time from a request into Unix milliseconds.
pub fn parse_timestamp(field: &'static str, s: &str) -> Result<i64, crate::error::ApiError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            crate::error::ApiError::bad_request(
                field,
                "must be an RFC 3339 time like 2026-01-31T12:00:00Z",
            )
        })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| crate::error::ApiError::bad_request(field, "out of range"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_round_trip_to_the_second() {
        let ms = super::parse_timestamp("t", "2018-06-27T11:26:07Z").unwrap();
        assert_eq!(super::timestamp(ms), "2018-06-27T11:26:07Z");
        assert!(super::parse_timestamp("t", "yesterday").is_err());
    }
}
